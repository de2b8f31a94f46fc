-- health_strike: count a failed probe of a member, or clear its count after a good one.
-- KEYS[1] strikes: member -> failed probes in a row
-- ARGV[1] member
-- ARGV[2] op: fail or clear
-- Returns the member's strikes afterwards.
-- Errors: INVALID
local STRIKES = KEYS[1]
local member, op = ARGV[1], ARGV[2]
if op == 'fail' then return redis.call('HINCRBY', STRIKES, member, 1) end
if op == 'clear' then
  redis.call('HDEL', STRIKES, member)
  return 0
end
return redis.error_reply('INVALID unknown strike op')
