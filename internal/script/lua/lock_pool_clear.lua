-- lock_pool_clear: delete a lock pool's member set; member locks are left alone.
-- KEYS[1] member set of the pool
-- Returns the number of members the pool had.
-- Errors: CORRUPT
-- @include common
local n = checked('SCARD', KEYS[1])
redis.call('DEL', KEYS[1])
return n
