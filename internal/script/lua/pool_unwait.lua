-- pool_unwait: a waiting malloc gave up; take it off the waiter count.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] unhealthy
-- KEYS[4] timers
-- KEYS[5] priorities
-- KEYS[6] values
-- KEYS[7] fence counter
-- KEYS[8] bindings
-- KEYS[9] binding index
-- KEYS[10] wake-up list
-- KEYS[11] waiter count
-- KEYS[12] session index
-- ARGV[1] the waiter's holder token
-- Returns the number of waiters left.
-- Errors: CORRUPT
-- @include pool
-- @include pool_write
checked('ZREM', WAITING, ARGV[1])
return redis.call('ZCARD', WAITING)
