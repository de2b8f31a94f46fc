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
-- KEYS[13] allocation counter
-- ARGV[1] op: len, load, state, keys, binding, bindings or stats
-- ARGV[2] argument: the member (state, bindings), binding name (binding) or most due timers to list (stats, 1 to 10000); ignored otherwise
-- Returns len: {free, held, unhealthy}; load: {free, held, unhealthy, waiting mallocs}; state: free, held, unhealthy or nil; keys: {free list, held list, unhealthy list}; binding: the bound member or nil; bindings: the names bound to the member; stats: {now ms, fence (the counter's text, whatever it holds), free, held, unhealthy, waiting mallocs, session leases, bindings, due timers, leases granted (the allocation counter's text, whatever it holds), keys of the wrong type (key, its type)..., then (entry, ms) of the oldest due timers up to the limit}, a key of the wrong type counting 0, at a cost independent of the pool's size.
-- Errors: INVALID, CORRUPT
-- Read-only.
-- @include pool
local op, arg = ARGV[1], ARGV[2]
if op == 'len' then
  return {checked('ZCARD', FREE), checked('HLEN', HOLDERS), checked('HLEN', UNHEALTHY)}
elseif op == 'load' then
  return {checked('ZCARD', FREE), checked('HLEN', HOLDERS), checked('HLEN', UNHEALTHY), checked('ZCARD', WAITING)}
elseif op == 'state' then
  return state(arg)
elseif op == 'keys' then
  return {checked('ZRANGE', FREE, 0, -1), checked('HKEYS', HOLDERS), checked('HKEYS', UNHEALTHY)}
elseif op == 'binding' then
  local b = checked('HGET', BIND, arg)
  if not b then return false end
  local exp, m = binding_of(arg, b)
  if exp ~= 0 and exp <= now_ms() then return false end
  return m
elseif op == 'bindings' then
  local now = now_ms()
  local out = {}
  for _, e in ipairs(checked('ZRANGEBYLEX', BINDIDX, '[' .. arg .. '\0', '[' .. arg .. '\1')) do
    local name = string.sub(e, #arg + 2)
    local b = checked('HGET', BIND, name)
    if b then
      local exp = binding_of(name, b)
      if exp == 0 or exp > now then out[#out + 1] = name end
    end
  end
  return out
elseif op == 'stats' then
  local limit = tonumber(arg)
  if not limit or limit < 1 or limit > 10000 or limit ~= math.floor(limit) then
    return redis.error_reply('INVALID stats limit must be an integer from 1 to 10000')
  end
  -- Hostile state is reported, not raised: stats feed dashboards.
  local wrong = {}
  local function count(cmd, key, ...) return tolerant_read(wrong, cmd, key, ...) end
  local now = now_ms()
  local out = {
    now, count('GET', FENCE) or '0',
    count('ZCARD', FREE), count('HLEN', HOLDERS), count('HLEN', UNHEALTHY),
    count('ZCARD', WAITING), count('ZCARD', SESIDX), count('HLEN', BIND),
    count('ZCOUNT', TIMERS, '-inf', fmt(now)),
    count('GET', ALLOCS) or '0',
  }
  out[11] = wrong
  if out[9] > 0 then
    for _, v in ipairs(redis.call('ZRANGEBYSCORE', TIMERS, '-inf', fmt(now), 'WITHSCORES', 'LIMIT', 0, limit)) do
      out[#out + 1] = v
    end
  end
  return out
end
return redis.error_reply('INVALID unknown inspect op')
