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
-- Returns the waiters left.
-- @include pool
-- @include pool_write
local w = redis.call('DECR', WAITING)
if w <= 0 then
  redis.call('DEL', WAITING)
  return 0
end
return w
