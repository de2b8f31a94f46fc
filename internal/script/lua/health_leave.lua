-- health_leave: remove a worker session (it closed, or a reaper found it dead).
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- KEYS[2] worker metadata: session id -> JSON
-- ARGV[1] session id
-- Returns 1 when the session was registered, else 0.
local n = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return n
