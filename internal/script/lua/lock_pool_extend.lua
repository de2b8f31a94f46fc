-- lock_pool_extend: add members to a lock pool's member set.
-- KEYS[1] member set of the pool
-- ARGV[1] member
-- ARGV... repeats the entries above
-- Returns the number of members that were not in the set before.
-- Errors: CORRUPT
-- @include common
local added = 0
for i = 1, #ARGV, 1000 do
  added = added + checked('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return added
