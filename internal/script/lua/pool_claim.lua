-- pool_claim: claim the right to refresh a pool from its source for one interval, across all processes.
-- KEYS[1] claim key in the pool's namespace
-- ARGV[1] claimant token
-- ARGV[2] interval in ms, at least 1
-- Returns 1 when claimed, 0 when another claim is still running.
-- Errors: INVALID, CORRUPT
-- @include common
local CLAIM = KEYS[1]
local token, interval = ARGV[1], ARGV[2]
local ttl = tonumber(interval)
if not ttl or ttl < 1 then return redis.error_reply('INVALID interval must be at least 1 ms') end
want_type(CLAIM, 'string')
if redis.call('SET', CLAIM, token, 'NX', 'PX', interval) then return 1 end
return 0
