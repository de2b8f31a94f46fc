-- lock_pool_shrink: remove members from a lock pool's member set; unknown members are ignored.
-- KEYS[1] member set of the pool
-- ARGV[1] member
-- ARGV... repeats the entries above
-- Returns the number of members removed.
-- Errors: CORRUPT
-- @include common
local removed = 0
for i = 1, #ARGV, 1000 do
  removed = removed + checked('SREM', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return removed
