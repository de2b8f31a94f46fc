-- lock_force_unlock: delete a lock whoever holds it, with all its holds.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- Returns 1 when a lock was deleted, 0 when there was none.
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return existed
