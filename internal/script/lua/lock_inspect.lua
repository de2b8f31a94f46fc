-- lock_inspect: read a lock's remaining ttl, hold count and value in one step.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- Returns {-2} when there is no lock, else {ttl in milliseconds (-1: no expiry), holds, value}.
-- Errors: CORRUPT
-- Read-only.
-- @include lock_holds
local LOCK, HOLD_COUNT = KEYS[1], KEYS[2]
local pttl = redis.call('PTTL', LOCK)
if pttl == -2 then
  return {-2}
end
local v = checked('GET', LOCK)
return {pttl, hold_count(HOLD_COUNT), v}
