-- lock_lock: take the lock if it is free; an existing lock is neither overwritten nor refreshed.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] owner
-- ARGV[2] ttl in milliseconds, or 0 for a lock without expiry
-- Returns 1 when this call created the lock, 0 when the key already existed.
-- Errors: INVALID, CORRUPT
-- @include common
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local owner, ttl = ARGV[1], ARGV[2]
if not string.match(ttl, '^%d+$') then
  return redis.error_reply('INVALID ttl must be a whole number of milliseconds')
end
-- A lock key of another type would read as held for ever.
want_type(LOCK, 'string')
want_type(HOLD_COUNT, 'string')
local created
if ttl == '0' then
  created = redis.call('SET', LOCK, owner, 'NX')
else
  created = redis.call('SET', LOCK, owner, 'NX', 'PX', ttl)
end
if not created then
  return 0
end
-- A fresh lock has one hold; a count left by an earlier holder must not leak into it.
redis.call('DEL', HOLD_COUNT)
return 1
