-- health_reap: remove worker sessions whose heartbeat deadline passed more than a grace period ago.
-- KEYS[1] workers: session id -> heartbeat deadline (ms)
-- KEYS[2] worker metadata: session id -> JSON
-- ARGV[1] grace in ms, at least 0
-- ARGV[2] budget: at most this many sessions, at least 1
-- Returns {id1, metadata1, deadline1, ...} of the sessions removed.
-- Errors: INVALID, CORRUPT
-- @include common
local WORKERS, META = KEYS[1], KEYS[2]
local grace, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
if not grace or grace < 0 or not budget or budget < 1 then return redis.error_reply('INVALID malformed reap arguments') end
local now = now_ms()
want_type(META, 'hash')
local dead = checked('ZRANGEBYSCORE', WORKERS, '-inf', fmt(now - grace), 'WITHSCORES', 'LIMIT', 0, budget)
local out = {}
for i = 1, #dead, 2 do
  local id = dead[i]
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', META, id) or ''
  out[#out + 1] = dead[i + 1]
  redis.call('ZREM', WORKERS, id)
  redis.call('HDEL', META, id)
end
return out
