-- lock_force_set: write the lock value and ttl whoever holds it (the reference's unconditional update).
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] value
-- ARGV[2] ttl in milliseconds, or 0 for no expiry
-- Returns 1.
-- Errors: INVALID, CORRUPT
-- @include common
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local value, ttl = ARGV[1], ARGV[2]
if not string.match(ttl, '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
-- SET would replace a key of another type: what is there is not a lock.
want_type(LOCK, 'string')
want_type(HOLD_COUNT, 'string')
if ttl == '0' then
  redis.call('SET', LOCK, value)
else
  redis.call('SET', LOCK, value, 'PX', ttl)
end
redis.call('DEL', HOLD_COUNT)
return 1
