-- pool_session_beat: a worker session's heartbeat reaches this pool: its leases live on.
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
-- ARGV[1] session id
-- ARGV[2] session timeout in ms, at least 1
-- Returns 1 when the session is alive here, 0 when the pool already declared it dead (its leases were reclaimed).
-- Errors: INVALID, CORRUPT
-- @include pool
local s, ttl = ARGV[1], tonumber(ARGV[2])
if s == '' or not ttl or ttl < 1 then return redis.error_reply('INVALID malformed beat arguments') end
if not checked('ZSCORE', TIMERS, 's:' .. s) then return 0 end
redis.call('ZADD', TIMERS, fmt(now_ms() + ttl), 's:' .. s)
return 1
