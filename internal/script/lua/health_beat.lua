-- health_beat: a worker session's heartbeat: push its deadline on.
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- ARGV[1] session id
-- ARGV[2] timeout in ms, at least 1
-- Returns the new heartbeat deadline in ms.
-- Errors: NOT_REGISTERED, INVALID, CORRUPT
-- @include common
local WORKERS = KEYS[1]
local id, ttl = ARGV[1], tonumber(ARGV[2])
if id == '' or not ttl or ttl < 1 then return redis.error_reply('INVALID malformed beat arguments') end
local now = now_ms()
local cur = checked('ZSCORE', WORKERS, id)
-- A session seen dead (or reaped) stays dead: what it held was reclaimed.
if not cur or tonumber(cur) <= now then return redis.error_reply('NOT_REGISTERED ' .. id) end
local deadline = now + ttl
redis.call('ZADD', WORKERS, fmt(deadline), id)
return deadline
