-- pool_refresh: extend a lease its holder still has.
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
-- ARGV[2] holder token
-- ARGV[3] new lease ttl in ms from now, 0 for a permanent lease
-- Returns the new deadline in ms (0 when permanent).
-- Errors: NOT_HELD, INVALID, CORRUPT
-- @include pool
-- @include pool_write
local m, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not ttl or ttl < 0 or token == '' then return redis.error_reply('INVALID malformed refresh arguments') end
local rec = checked('HGET', HOLDERS, m)
if not rec then return redis.error_reply('NOT_HELD the lease ended') end
local l = parse_lease(m, rec)
if l.token ~= token then return redis.error_reply('NOT_HELD another holder has it') end
local now = now_ms()
want_type(TIMERS, 'zset')
if l.deadline > 0 and l.deadline <= now then
  -- Lapsed but not yet reclaimed: it is not ours any more. Releasing
  -- touches every key and reads m's records: checked first.
  check_pool()
  check_member(m)
  release(m, l, now)
  return redis.error_reply('NOT_HELD the lease lapsed')
end
l.deadline = 0
if ttl > 0 then
  l.deadline = now + ttl
  redis.call('ZADD', TIMERS, fmt(l.deadline), 'l:' .. m)
else
  redis.call('ZREM', TIMERS, 'l:' .. m)
end
redis.call('HSET', HOLDERS, m, lease_record(l.token, l.fence, l.deadline, l.session, l.mark, l.expired))
return l.deadline
