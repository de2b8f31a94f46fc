-- lock_rlock: take the lock if it is free, or add one hold when the same owner holds it; either way set its ttl.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock (absent means one hold)
-- ARGV[1] owner
-- ARGV[2] ttl in milliseconds, or 0 for a lock without expiry
-- Returns the number of holds after this call (1 when newly taken), or 0 when another owner holds the lock.
-- Errors: INVALID, CORRUPT
-- @include lock_holds
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local owner, ttl = ARGV[1], ARGV[2]
if not string.match(ttl, '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
local cur = checked('GET', LOCK)
if cur and cur ~= owner then
  return 0
end
local holds = hold_count(HOLD_COUNT)
if not cur then
  if ttl == '0' then
    redis.call('SET', LOCK, owner)
  else
    redis.call('SET', LOCK, owner, 'PX', ttl)
  end
  redis.call('DEL', HOLD_COUNT)
  return 1
end
local n = holds + 1
local count = string.format('%d', n)
if ttl == '0' then
  redis.call('PERSIST', LOCK)
  redis.call('SET', HOLD_COUNT, count)
else
  redis.call('PEXPIRE', LOCK, ttl)
  redis.call('SET', HOLD_COUNT, count, 'PX', ttl)
end
return n
