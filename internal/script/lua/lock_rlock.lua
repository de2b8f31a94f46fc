-- lock_rlock: take the lock if it is free, or add one hold when the same owner holds it; either way set its ttl.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock (absent means one hold)
-- ARGV[1] owner
-- ARGV[2] ttl in milliseconds, or 0 for a lock without expiry
-- Returns the number of holds after this call (1 when newly taken), or 0 when another owner holds the lock.
-- Errors: INVALID
-- @include lock_holds
if not string.match(ARGV[2], '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
if not cur then
  if ARGV[2] == '0' then
    redis.call('SET', KEYS[1], ARGV[1])
  else
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  end
  redis.call('DEL', KEYS[2])
  return 1
end
local n = hold_count(redis.call('GET', KEYS[2])) + 1
local count = string.format('%d', n)
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
  redis.call('SET', KEYS[2], count)
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], count, 'PX', ARGV[2])
end
return n
