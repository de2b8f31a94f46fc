-- lock_acquire: take the lock for a new lease if it is free, numbering the lease from the lock's fencing counter.
-- KEYS[1] lock key
-- KEYS[2] fencing counter of the lock (never expires; one per lock, not per lease)
-- ARGV[1] lease token
-- ARGV[2] ttl in milliseconds
-- Returns {1, fencing token} when acquired, else {0, the holder's remaining ttl in milliseconds (-1: no expiry)}.
-- Errors: INVALID, CORRUPT
-- @include fence
if not string.match(ARGV[2], '^[1-9]%d*$') then
  return redis.error_reply('INVALID ttl must be a positive number of milliseconds')
end
-- A counter that is no integer would fail after the lock was taken: it is
-- refused first. A lock key of another type only makes SET NX refuse (NX
-- asks whether the key exists, on Redis and miniredis alike), so its type
-- is checked there, before a held lock is reported: the success path pays
-- no TYPE.
local counter = read_counter(KEYS[2])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, next_fences(KEYS[2], 1, counter)}
end
want_type(KEYS[1], 'string')
return {0, redis.call('PTTL', KEYS[1])}
