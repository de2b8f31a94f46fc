-- health_register: add a worker session to its group, unless a live session already has that id.
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- KEYS[2] worker metadata: session id -> JSON
-- ARGV[1] session id
-- ARGV[2] timeout in ms, at least 1
-- ARGV[3] metadata JSON
-- Returns the heartbeat deadline in ms.
-- Errors: SESSION_EXISTS, INVALID, CORRUPT
-- @include common
local WORKERS, META = KEYS[1], KEYS[2]
local id, ttl, metadata = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if id == '' or not ttl or ttl < 1 then return redis.error_reply('INVALID malformed register arguments') end
local now = now_ms()
local cur = checked('ZSCORE', WORKERS, id)
want_type(META, 'hash')
if cur and tonumber(cur) > now then return redis.error_reply('SESSION_EXISTS ' .. id) end
local deadline = now + ttl
redis.call('ZADD', WORKERS, fmt(deadline), id)
redis.call('HSET', META, id, metadata)
return deadline
