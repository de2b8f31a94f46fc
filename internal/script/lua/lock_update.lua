-- lock_update: set the ttl of a lock the owner holds; the value and hold count stay.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] owner
-- ARGV[2] ttl in milliseconds, or 0 for no expiry
-- Returns 1 when the ttl was set.
-- Errors: INVALID, NOT_HELD, CORRUPT
-- @include common
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local owner, ttl = ARGV[1], ARGV[2]
if not string.match(ttl, '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
if checked('GET', LOCK) ~= owner then
  return redis.error_reply('NOT_HELD the lock is not held by this owner')
end
want_type(HOLD_COUNT, 'string')
if ttl == '0' then
  redis.call('PERSIST', LOCK)
  redis.call('PERSIST', HOLD_COUNT)
else
  redis.call('PEXPIRE', LOCK, ttl)
  redis.call('PEXPIRE', HOLD_COUNT, ttl)
end
return 1
