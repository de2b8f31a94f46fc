-- health_strike: count a failed probe of a member, or clear its count after a good one.
-- KEYS[1] strikes: member -> failed probes in a row
-- ARGV[1] member
-- ARGV[2] op: fail or clear
-- Returns the member's strikes afterwards.
-- Errors: INVALID, CORRUPT
-- @include common
local STRIKES = KEYS[1]
local member, op = ARGV[1], ARGV[2]
if op == 'fail' then
  local v = checked('HGET', STRIKES, member)
  if v and not is_int(v) then corrupt(STRIKES, 'field ' .. member .. ' holds no count') end
  return redis.call('HINCRBY', STRIKES, member, 1)
end
if op == 'clear' then
  checked('HDEL', STRIKES, member)
  return 0
end
return redis.error_reply('INVALID unknown strike op')
