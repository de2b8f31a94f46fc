-- pool_extend: add members, or update priority, expiry and value of existing ones; held members stay held.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] unhealthy
-- KEYS[4] timers
-- KEYS[5] priorities
-- KEYS[6] values
-- KEYS[7] fence counter
-- KEYS[8] bindings
-- KEYS[9] binding index
-- KEYS[10] wake-up list
-- KEYS[11] waiter count
-- KEYS[12] session index
-- KEYS[13] allocation counter
-- ARGV[1] mode: add (new members join the free set) or existing (every member must exist)
-- ARGV[2] member
-- ARGV[3] priority from -2048 to 2047, or empty to keep (new members get 0)
-- ARGV[4] expiry ttl in ms, 0 for none, or empty to keep
-- ARGV[5] 1 when a value follows, else 0
-- ARGV[6] encoded value
-- ARGV... repeats the entries above
-- Returns the number of members added.
-- Errors: INVALID, NOT_MEMBER, CORRUPT
-- @include pool
-- @include pool_write
-- @include pool_members
local add = ARGV[1] == 'add'
if (not add and ARGV[1] ~= 'existing') or not check_members(2) then
  return redis.error_reply('INVALID malformed member arguments')
end
check_state(2)
if not add then
  for i = 2, #ARGV, 5 do
    if not state(ARGV[i]) then return redis.error_reply('NOT_MEMBER ' .. ARGV[i]) end
  end
end
local now = now_ms()
local added = 0
for i = 2, #ARGV, 5 do
  added = added + apply_member(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], now, add)
end
return added
