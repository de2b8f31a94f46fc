-- health_list: read every worker session of a group with its deadline and metadata.
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- KEYS[2] worker metadata: session id -> JSON
-- Returns {now ms, {id, deadline, ...}, {id, metadata, ...}}.
-- Read-only.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[2])}
