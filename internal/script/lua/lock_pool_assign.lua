-- lock_pool_assign: replace a lock pool's member set with exactly the given members.
-- KEYS[1] member set of the pool
-- ARGV[1] member
-- ARGV... repeats the entries above
-- Returns the number of members after the call.
-- Errors: CORRUPT
-- @include common
want_type(KEYS[1], 'set')
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 1000 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return redis.call('SCARD', KEYS[1])
