-- lock_unlock: drop one hold of a lock the owner holds; the last hold deletes the lock.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock (absent means one hold)
-- ARGV[1] owner
-- Returns the number of holds left, 0 when the lock was deleted.
-- Errors: NOT_HELD, CORRUPT
-- @include lock_holds
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local owner = ARGV[1]
if checked('GET', LOCK) ~= owner then
  return redis.error_reply('NOT_HELD the lock is not held by this owner')
end
local n = hold_count(HOLD_COUNT)
if n > 1 then
  -- DECR keeps the ttl, which matches the lock's.
  local left = redis.call('DECR', HOLD_COUNT)
  if left <= 1 then
    redis.call('DEL', HOLD_COUNT)
  end
  return left
end
redis.call('DEL', LOCK, HOLD_COUNT)
return 0
