-- health_strike: count a failed probe of a member, or clear its count after a good one.
-- KEYS[1] strikes: member -> failed probes in a row
-- ARGV[1] member
-- ARGV[2] op: fail or clear
-- Returns the member's strikes afterwards.
-- Errors: INVALID
if ARGV[2] == 'fail' then return redis.call('HINCRBY', KEYS[1], ARGV[1], 1) end
if ARGV[2] == 'clear' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 0
end
return redis.error_reply('INVALID unknown strike op')
