-- health_leave: remove a worker session (it closed, or a reaper found it dead).
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- KEYS[2] worker metadata: session id -> JSON
-- ARGV[1] session id
-- Returns 1 when the session was registered, else 0.
-- Errors: CORRUPT
-- @include common
local WORKERS, META = KEYS[1], KEYS[2]
local id = ARGV[1]
want_type(META, 'hash')
local n = checked('ZREM', WORKERS, id)
redis.call('HDEL', META, id)
return n
