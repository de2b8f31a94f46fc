-- lock_compare_set: write a number when the key is absent or the caller's number compares as asked with the stored one.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] operator: gt, lt, ge, le, eq or ne (the caller's number is the left operand)
-- ARGV[2] the caller's number
-- ARGV[3] epsilon for ge, le, eq and ne
-- ARGV[4] value to store
-- ARGV[5] expiry: ttl in milliseconds, 0 for none (an existing ttl is removed), or keep
-- Returns 1 when the value was written, 0 when the comparison failed and nothing changed.
-- Errors: INVALID, NOT_NUMBER, CORRUPT

-- @include lock_compare
-- @include common
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local value, expiry = ARGV[4], ARGV[5]
if expiry ~= 'keep' and not string.match(expiry, '^%d+$') then
  return redis.error_reply('INVALID expiry must be milliseconds or keep')
end
local stored = checked('GET', LOCK)
want_type(HOLD_COUNT, 'string')
if stored then
  local cur = decimal(stored)
  if cur == nil then
    return redis.error_reply('NOT_NUMBER the stored value is not a number')
  end
  if not holds(op, v, cur, eps) then
    return 0
  end
end
if expiry == 'keep' then
  redis.call('SET', LOCK, value, 'KEEPTTL')
elseif expiry == '0' then
  redis.call('SET', LOCK, value)
else
  redis.call('SET', LOCK, value, 'PX', expiry)
end
redis.call('DEL', HOLD_COUNT)
return 1
