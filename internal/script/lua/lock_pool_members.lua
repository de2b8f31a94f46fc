-- lock_pool_members: list a lock pool's members, in no particular order.
-- KEYS[1] member set of the pool
-- Returns an array of members.
-- Errors: CORRUPT
-- Read-only.
-- @include common
return checked('SMEMBERS', KEYS[1])
