-- pool_free: end leases; each member returns to the free set (or to quarantine, or leaves an expired member).
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
-- ARGV[1] member
-- ARGV[2] holder token, or empty to free whoever holds it (administrators)
-- ARGV... repeats the entries above
-- Returns one code per member: 1 released, 0 not held (by that token), -1 not a member.
-- @include pool
-- @include pool_write
local now = now_ms()
local out = {}
for i = 1, #ARGV, 2 do
  local m, token = ARGV[i], ARGV[i + 1]
  local rec = redis.call('HGET', HOLDERS, m)
  local code = 0
  if rec then
    local l = parse_lease(rec)
    if token == '' or l.token == token then
      release(m, l, now)
      code = 1
    end
  elseif not state(m) then
    code = -1
  end
  out[#out + 1] = code
end
return out
