-- pool_mark: take a member out of rotation until a time (unhealthy) or put it back (healthy).
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] unhealthy
-- KEYS[4] timers
-- KEYS[5] priorities
-- KEYS[6] values
-- KEYS[7] fence counter
-- KEYS[8] bindings
-- KEYS[9] binding index
-- KEYS[10] wake-up list
-- KEYS[11] waiter count
-- KEYS[12] session index
-- KEYS[13] allocation counter
-- ARGV[1] member
-- ARGV[2] holder token, or empty for an administrator
-- ARGV[3] op: u unhealthy, h healthy
-- ARGV[4] quarantine duration in ms (unhealthy only), at least 1
-- Returns the member's state afterwards: free, held, unhealthy.
-- Errors: NOT_HELD, NOT_MEMBER, INVALID, CORRUPT
-- @include pool
-- @include pool_write
local m, token, op, d = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if (op ~= 'u' and op ~= 'h') or not d or (op == 'u' and d < 1) then
  return redis.error_reply('INVALID malformed mark arguments')
end
local now = now_ms()
check_pool()
check_member(m)
local st = state(m)
if not st then return redis.error_reply('NOT_MEMBER not in the pool') end
if st == 'held' then
  local l = parse_lease(m, redis.call('HGET', HOLDERS, m))
  if token ~= '' and l.token ~= token then return redis.error_reply('NOT_HELD another holder has it') end
  -- A held member is quarantined when its lease ends, not under its holder.
  if op == 'u' then l.mark = d else l.mark = 0 end
  redis.call('HSET', HOLDERS, m, lease_record(l.token, l.fence, l.deadline, l.session, l.mark, l.expired))
  return 'held'
end
if token ~= '' then return redis.error_reply('NOT_HELD the lease ended') end
if op == 'u' then
  redis.call('ZREM', FREE, m)
  quarantine(m, now + d)
  return 'unhealthy'
end
if st == 'unhealthy' then
  redis.call('HDEL', UNHEALTHY, m)
  redis.call('ZREM', TIMERS, 'u:' .. m)
  push_free(m, now)
end
return 'free'
