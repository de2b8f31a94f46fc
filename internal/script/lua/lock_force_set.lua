-- lock_force_set: write the lock value and ttl whoever holds it (the reference's unconditional update).
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] value
-- ARGV[2] ttl in milliseconds, or 0 for no expiry
-- Returns 1.
-- Errors: INVALID
if not string.match(ARGV[2], '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('DEL', KEYS[2])
return 1
