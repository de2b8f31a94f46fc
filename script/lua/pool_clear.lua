-- pool_clear: remove every member, lease, binding and timer; the fencing counter stays so fences keep rising.
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
-- Returns the number of members removed.
-- @include pool
-- @include pool_write
local n = redis.call('ZCARD', FREE) + redis.call('HLEN', HOLDERS) + redis.call('HLEN', UNHEALTHY)
redis.call('DEL', FREE, HOLDERS, UNHEALTHY, TIMERS, PRIO, VALUES, BIND, BINDIDX)
return n
