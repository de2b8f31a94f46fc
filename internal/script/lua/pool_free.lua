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
-- KEYS[13] allocation counter
-- ARGV[1] member
-- ARGV[2] holder token, empty to free whoever holds it, or "=" and a fence to free the lease only while it has that fence (administrators)
-- ARGV... repeats the entries above
-- Returns one code per member: 1 released, 0 not held (by that token), -1 not a member.
-- Errors: INVALID, CORRUPT
-- @include pool
-- @include pool_write
local now = now_ms()
if #ARGV % 2 ~= 0 then return redis.error_reply('INVALID malformed free arguments') end
local n = #ARGV / 2
if n < 1 then return {} end
local members = {}
for i = 1, n do members[i] = ARGV[2 * i - 1] end
-- Everything is read and checked before the first write: the records and
-- priorities of the members, the timers, and the keys the plain releases
-- write; a release with more to do (a session, a quarantine, an expired
-- member) touches every key, which check_pool checks.
local recs = call_chunked('HMGET', HOLDERS, members)
local leases = {}
for i = 1, n do
  if recs[i] then leases[i] = parse_lease(members[i], recs[i]) end
end
local prios = call_chunked('HMGET', PRIO, members)
local prio = {}
for i = 1, n do
  if prios[i] then prio[members[i]] = prio_of(members[i]) end
end
local clean = checked('ZCOUNT', TIMERS, '-inf', fmt(now)) == 0 -- no member is past its expiry
local waiting = has_waiters()
for i = 1, n do
  local l = leases[i]
  if l and (l.session ~= '-' or l.mark ~= 0 or l.expired == '1' or not clean) then check_pool() end
end
local out = {}
-- Plain releases (no session, mark or expiry) are written together at the
-- end, one command per structure, so a batch costs little more than one
-- free; the others go through release.
local plain, released = {}, {}
for i = 1, n do
  local m, token = members[i], ARGV[2 * i]
  local code = 0
  if released[m] then
    -- Released earlier in this run: not held any more, and not a member
    -- either when it left the pool.
    if released[m] == 'removed' then code = -1 end
  elseif recs[i] then
    local l = leases[i]
    if token == '' or l.token == token or (string.sub(token, 1, 1) == '=' and l.fence == string.sub(token, 2)) then
      code = 1
      if l.session == '-' and l.mark == 0 and l.expired ~= '1' and (clean or not member_expired(m, now)) then
        plain[#plain + 1] = m
        released[m] = 'freed'
      else
        released[m] = release(m, l, now)
      end
    end
  elseif not state(m) then
    code = -1
  end
  out[i] = code
end
if #plain > 0 then
  -- The free set first: the first write is also its type check.
  local free = {}
  for _, m in ipairs(plain) do
    free[#free + 1] = free_score(prio[m] or 0, now)
    free[#free + 1] = m
  end
  call_chunked('ZADD', FREE, free)
  call_chunked('HDEL', HOLDERS, plain)
  local timers = {}
  for j, m in ipairs(plain) do timers[j] = 'l:' .. m end
  call_chunked('ZREM', TIMERS, timers)
  wake(now, #plain, waiting)
end
return out
