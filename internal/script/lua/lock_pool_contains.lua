-- lock_pool_contains: tell whether a member belongs to a lock pool.
-- KEYS[1] member set of the pool
-- ARGV[1] member
-- Returns 1 for a member, 0 otherwise.
-- Errors: CORRUPT
-- Read-only.
-- @include common
return checked('SISMEMBER', KEYS[1], ARGV[1])
