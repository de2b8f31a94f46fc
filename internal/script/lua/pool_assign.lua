-- pool_assign: replace the whole membership; members kept keep their state, removed held members lose their lease.
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
-- ARGV[1] member
-- ARGV[2] priority from -2048 to 2047, or empty to keep (new members get 0)
-- ARGV[3] expiry ttl in ms, 0 for none, or empty to keep
-- ARGV[4] 1 when a value follows, else 0
-- ARGV[5] encoded value
-- ARGV... repeats the entries above
-- Returns {added, removed}.
-- Errors: INVALID, CORRUPT
-- @include pool
-- @include pool_write
-- @include pool_members
if not check_members(1) then return redis.error_reply('INVALID malformed member arguments') end
check_state(1)
local keep = {}
for i = 1, #ARGV, 5 do keep[ARGV[i]] = true end
local removed = 0
local function drop_missing(list)
  for _, m in ipairs(list) do
    if not keep[m] then
      forget(m)
      removed = removed + 1
    end
  end
end
drop_missing(redis.call('ZRANGE', FREE, 0, -1))
drop_missing(redis.call('HKEYS', HOLDERS))
drop_missing(redis.call('HKEYS', UNHEALTHY))
local now = now_ms()
local added = 0
for i = 1, #ARGV, 5 do
  added = added + apply_member(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], now, true)
end
return {added, removed}
