-- lock_release: end a lease: delete the lock if it still holds the lease's token.
-- KEYS[1] lock key
-- ARGV[1] lease token
-- Returns 1 when the lock was deleted, 0 when it no longer held the token.
-- Errors: CORRUPT
-- @include common
if checked('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
