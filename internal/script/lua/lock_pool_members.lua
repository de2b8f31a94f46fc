-- lock_pool_members: list a lock pool's members, in no particular order.
-- KEYS[1] member set of the pool
-- Returns an array of members.
-- Read-only.
return redis.call('SMEMBERS', KEYS[1])
