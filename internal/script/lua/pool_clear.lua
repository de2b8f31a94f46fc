-- pool_clear: remove every member, lease, binding and member timer; the fencing and allocation counters and worker-session deadlines stay.
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
-- Returns the number of members removed.
-- Errors: CORRUPT
-- @include pool
-- @include pool_write
check_pool()
local n = redis.call('ZCARD', FREE) + redis.call('HLEN', HOLDERS) + redis.call('HLEN', UNHEALTHY)
-- Worker sessions' deadlines ("s:" timers) stay: they belong to sessions,
-- not members, and a session whose timer is missing counts as declared
-- dead, so its next heartbeat would end it everywhere.
-- Timers have different scores, so ZRANGEBYLEX cannot pick them; Clear
-- costs O(n) anyway.
local keep, cursor = {}, '0'
repeat
  local r = redis.call('ZSCAN', TIMERS, cursor, 'MATCH', 's:*', 'COUNT', 1000)
  cursor = r[1]
  for i = 1, #r[2], 2 do
    keep[#keep + 1] = r[2][i + 1]
    keep[#keep + 1] = r[2][i]
  end
until cursor == '0'

redis.call('DEL', FREE, HOLDERS, UNHEALTHY, TIMERS, PRIO, VALUES, BIND, BINDIDX, SESIDX)
if #keep > 0 then call_chunked('ZADD', TIMERS, keep) end
return n
