-- health_list: read every worker session of a group with its deadline and metadata.
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- KEYS[2] worker metadata: session id -> JSON
-- Returns {now ms, {id, deadline, ...}, {id, metadata, ...}}.
-- Errors: CORRUPT
-- Read-only.
-- @include common
local WORKERS, META = KEYS[1], KEYS[2]
local now = now_ms()
return {now, checked('ZRANGE', WORKERS, 0, -1, 'WITHSCORES'), checked('HGETALL', META)}
