-- lock_compare_delete: delete the key when it is absent or the caller's number compares as asked with the stored one.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] operator: gt, lt, ge, le, eq or ne (the caller's number is the left operand)
-- ARGV[2] the caller's number
-- ARGV[3] epsilon for ge, le, eq and ne
-- Returns 1 when the key is gone (deleted now, or absent already), 0 when the comparison failed and nothing changed.
-- Errors: INVALID, NOT_NUMBER, CORRUPT

-- @include lock_compare
-- @include common
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
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
  redis.call('DEL', LOCK, HOLD_COUNT)
end
return 1
