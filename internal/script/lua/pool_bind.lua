-- pool_bind: bind a soft-binding name to a member, or remove the binding.
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
-- ARGV[1] op: set or del
-- ARGV[2] binding name
-- ARGV[3] member (set only)
-- ARGV[4] binding ttl in ms, 0 for never (set only)
-- Returns 1 when a binding was written or removed, 0 when there was none to remove.
-- Errors: NOT_MEMBER, INVALID, CORRUPT
-- @include pool
-- @include pool_write
local op, name = ARGV[1], ARGV[2]
if name == '' or (op ~= 'set' and op ~= 'del') then return redis.error_reply('INVALID malformed bind arguments') end
check_pool()
local old = redis.call('HGET', BIND, name)
if old then binding_of(name, old) end
if op == 'del' then
  if redis.call('HEXISTS', BIND, name) == 0 then return 0 end
  unbind(name)
  return 1
end
local m, ttl = ARGV[3], tonumber(ARGV[4])
if not ttl or ttl < 0 then return redis.error_reply('INVALID malformed bind arguments') end
if not state(m) then return redis.error_reply('NOT_MEMBER ' .. m) end
unbind(name)
local now = now_ms()
local exp = 0
if ttl > 0 then
  exp = now + ttl
  redis.call('ZADD', TIMERS, fmt(exp), 'b:' .. name)
end
redis.call('HSET', BIND, name, fmt(exp) .. ' ' .. m)
redis.call('ZADD', BINDIDX, 0, m .. '\0' .. name)
return 1
