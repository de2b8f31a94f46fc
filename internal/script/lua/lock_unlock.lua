-- lock_unlock: drop one hold of a lock the owner holds; the last hold deletes the lock.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock (absent means one hold)
-- ARGV[1] owner
-- Returns the number of holds left, 0 when the lock was deleted.
-- Errors: NOT_HELD
-- @include lock_holds
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOT_HELD the lock is not held by this owner')
end
local n = hold_count(redis.call('GET', KEYS[2]))
if n > 1 then
  -- DECR keeps the ttl, which matches the lock's.
  local left = redis.call('DECR', KEYS[2])
  if left <= 1 then
    redis.call('DEL', KEYS[2])
  end
  return left
end
redis.call('DEL', KEYS[1], KEYS[2])
return 0
