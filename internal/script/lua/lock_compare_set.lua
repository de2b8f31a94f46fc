-- lock_compare_set: write a number when the key is absent or the caller's number compares as asked with the stored one.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] operator: gt, lt, ge, le, eq or ne (the caller's number is the left operand)
-- ARGV[2] the caller's number
-- ARGV[3] epsilon for ge, le, eq and ne
-- ARGV[4] value to store
-- ARGV[5] expiry: ttl in milliseconds, 0 for none (an existing ttl is removed), or keep
-- Returns 1 when the value was written, 0 when the comparison failed and nothing changed.
-- Errors: INVALID, NOT_NUMBER

-- @include lock_compare
if ARGV[5] ~= 'keep' and not string.match(ARGV[5], '^%d+$') then
  return redis.error_reply('INVALID expiry must be milliseconds or keep')
end
local stored = redis.call('GET', KEYS[1])
if stored then
  local cur = decimal(stored)
  if cur == nil then
    return redis.error_reply('NOT_NUMBER the stored value is not a number')
  end
  if not holds(op, v, cur, eps) then
    return 0
  end
end
if ARGV[5] == 'keep' then
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
redis.call('DEL', KEYS[2])
return 1
