-- pool_shrink: remove members; a removed held member's lease ends with it, and unknown members are ignored.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] unhealthy
-- KEYS[4] timers
-- KEYS[5] priorities
-- KEYS[6] values
-- KEYS[7] fence counter
-- KEYS[8] bindings
-- KEYS[9] binding index
-- KEYS[10] wake-up list
-- KEYS[11] waiter count
-- KEYS[12] session index
-- KEYS[13] allocation counter
-- ARGV[1] member
-- ARGV... repeats the entries above
-- Returns the number of members removed.
-- Errors: CORRUPT
-- @include pool
-- @include pool_write
check_pool()
local removed = 0
for _, m in ipairs(ARGV) do
  if state(m) then
    forget(m)
    removed = removed + 1
  end
end
return removed
