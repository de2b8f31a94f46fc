-- pool_inspect: answer one read-only question about the pool, consistently across its structures.
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
-- ARGV[1] op: len, load, state, keys, binding, bindings or stats
-- ARGV[2] argument: the member (state, bindings), binding name (binding) or most due timers to list (stats, 1 to 10000); ignored otherwise
-- Returns len: {free, held, unhealthy}; load: {free, held, unhealthy, waiting mallocs}; state: free, held, unhealthy or nil; keys: {free list, held list, unhealthy list}; binding: the bound member or nil; bindings: the names bound to the member; stats: {now ms, fence, free, held, unhealthy, waiting mallocs, session leases, bindings, due timers, then (entry, ms) of the oldest due timers up to the limit}, at a cost independent of the pool's size.
-- Errors: INVALID
-- Read-only.
-- @include pool
local op, arg = ARGV[1], ARGV[2]
if op == 'len' then
  return {redis.call('ZCARD', FREE), redis.call('HLEN', HOLDERS), redis.call('HLEN', UNHEALTHY)}
elseif op == 'load' then
  return {redis.call('ZCARD', FREE), redis.call('HLEN', HOLDERS), redis.call('HLEN', UNHEALTHY), redis.call('ZCARD', WAITING)}
elseif op == 'state' then
  return state(arg)
elseif op == 'keys' then
  return {redis.call('ZRANGE', FREE, 0, -1), redis.call('HKEYS', HOLDERS), redis.call('HKEYS', UNHEALTHY)}
elseif op == 'binding' then
  local b = redis.call('HGET', BIND, arg)
  if not b then return false end
  local exp, m = string.match(b, '^(%S+) (.*)$')
  exp = tonumber(exp)
  if exp ~= 0 and exp <= now_ms() then return false end
  return m
elseif op == 'bindings' then
  local now = now_ms()
  local out = {}
  for _, e in ipairs(redis.call('ZRANGEBYLEX', BINDIDX, '[' .. arg .. '\0', '[' .. arg .. '\1')) do
    local name = string.sub(e, #arg + 2)
    local b = redis.call('HGET', BIND, name)
    if b then
      local exp = tonumber(string.match(b, '^(%S+) '))
      if exp == 0 or exp > now then out[#out + 1] = name end
    end
  end
  return out
elseif op == 'stats' then
  local limit = tonumber(arg)
  if not limit or limit < 1 or limit > 10000 or limit ~= math.floor(limit) then
    return redis.error_reply('INVALID stats limit must be an integer from 1 to 10000')
  end
  local now = now_ms()
  local out = {
    now, redis.call('GET', FENCE) or '0',
    redis.call('ZCARD', FREE), redis.call('HLEN', HOLDERS), redis.call('HLEN', UNHEALTHY),
    redis.call('ZCARD', WAITING), redis.call('ZCARD', SESIDX), redis.call('HLEN', BIND),
    redis.call('ZCOUNT', TIMERS, '-inf', fmt(now)),
  }
  for _, v in ipairs(redis.call('ZRANGEBYSCORE', TIMERS, '-inf', fmt(now), 'WITHSCORES', 'LIMIT', 0, limit)) do
    out[#out + 1] = v
  end
  return out
end
return redis.error_reply('INVALID unknown inspect op')
