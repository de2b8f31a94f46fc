-- lock_force_unlock: delete a lock whoever holds it, with all its holds.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- Returns 1 when a lock was deleted, 0 when there was none.
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local existed = redis.call('EXISTS', LOCK)
redis.call('DEL', LOCK, HOLD_COUNT)
return existed
