-- lock_fence_raise: raise a fencing counter to at least a floor, so every later lease of the lock numbers above it.
-- KEYS[1] fencing counter of the lock
-- ARGV[1] floor
-- Returns the counter after the call.
-- Errors: INVALID
if not string.match(ARGV[1], '^%d+$') then
  return redis.error_reply('INVALID floor must be a whole number')
end
local cur = redis.call('GET', KEYS[1])
if cur and not string.match(cur, '^%d+$') then
  return redis.error_reply('INVALID the fencing counter is not a whole number')
end
-- Compare as numbers of equal digit count: string order then equals numeric order, without floats.
local a, b = cur or '0', ARGV[1]
if #a < #b or (#a == #b and a < b) then
  redis.call('SET', KEYS[1], b)
  return tonumber(b)
end
return tonumber(a)
