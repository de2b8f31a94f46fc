-- lock_update: set the ttl of a lock the owner holds; the value and hold count stay.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] owner
-- ARGV[2] ttl in milliseconds, or 0 for no expiry
-- Returns 1 when the ttl was set.
-- Errors: INVALID, NOT_HELD
if not string.match(ARGV[2], '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOT_HELD the lock is not held by this owner')
end
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
