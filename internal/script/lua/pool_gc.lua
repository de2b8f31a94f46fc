-- pool_gc: handle due timers: reclaim lapsed leases, remove expired members, end quarantines, drop expired bindings.
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
-- KEYS[13] allocation counter
-- ARGV[1] budget: how many due timers to handle, at least 1
-- Returns {leases reclaimed, members expired, members recovered, bindings expired, due timers left}.
-- Errors: INVALID, CORRUPT
-- @include pool
-- @include pool_write
local budget = tonumber(ARGV[1])
if not budget or budget < 1 then return redis.error_reply('INVALID budget must be at least 1') end
local now = now_ms()
check_pool()
local c = fire_timers(now, budget)
c[5] = redis.call('ZCOUNT', TIMERS, '-inf', fmt(now))
return c
