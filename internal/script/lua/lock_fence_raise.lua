-- lock_fence_raise: raise a fencing counter to at least a floor, so every later lease of the lock numbers above it.
-- KEYS[1] fencing counter of the lock
-- ARGV[1] floor
-- Returns the counter after the call.
-- Errors: INVALID, CORRUPT
-- @include common
local FENCE = KEYS[1]
local floor = ARGV[1]
if not string.match(floor, '^%d+$') then
  return redis.error_reply('INVALID floor must be a whole number')
end
local cur = checked('GET', FENCE)
if cur and not string.match(cur, '^%d+$') then corrupt(FENCE, 'holds no whole number') end
-- Compare as numbers of equal digit count: string order then equals numeric order, without floats.
local a, b = cur or '0', floor
if #a < #b or (#a == #b and a < b) then
  redis.call('SET', FENCE, b)
  return tonumber(b)
end
return tonumber(a)
