-- pool_malloc: hand out n members (all or none), highest priority first, then least recently freed.
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
-- ARGV[1] mode: x exclusive, s shared
-- ARGV[2] count n, at least 1
-- ARGV[3] lease ttl in ms, 0 for a permanent lease
-- ARGV[4] holder token (also the waiter's id)
-- ARGV[5] session id or -
-- ARGV[6] soft-binding name or empty
-- ARGV[7] binding ttl in ms, 0 for never
-- ARGV[8] timer budget: due timers handled first
-- ARGV[9] wait flags: 1 register as a waiter when empty, 2 this caller was waiting
-- ARGV[10] session timeout in ms (with a session id): the session is dead that long after now unless its heartbeat moves it on
-- ARGV[11] a specific member to take, or empty for the best free one
-- Returns {got, hint, reclaimed, expired, recovered, unbound, member1, fence1, deadline1, value1, ...}: got members, or 0 with hint = ms until the next timer (-1 none); the four counts say what the due timers and expired free members handled on the way did (for the GC metric).
-- Errors: INVALID, NOT_MEMBER, NOT_FREE, CORRUPT
-- @include pool
-- @include pool_write
-- @include fence
local mode, n, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local token, session, bname, bttl = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local budget, flags = tonumber(ARGV[8]), tonumber(ARGV[9])
local sttl, want = tonumber(ARGV[10]), ARGV[11]
if (mode ~= 'x' and mode ~= 's') or not n or n < 1 or not ttl or ttl < 0 or not bttl or bttl < 0 or not budget or not flags
  or not sttl or sttl < 0 or (session ~= '-' and sttl < 1) or (want ~= '' and (n ~= 1 or bname ~= '')) then
  return redis.error_reply('INVALID malformed malloc arguments')
end
local now = now_ms()
-- Hostile state stops the call before its first write (Redis does not roll
-- back): the keys every path writes are checked here, those of the other
-- paths when they are taken, the timers' records in fire_timers.
local fence_cur = read_counter(FENCE)
read_counter(ALLOCS)
want_type(HOLDERS, 'hash')
want_type(VALUES, 'hash')
if flags > 0 then want_type(WAITING, 'zset') end
if session ~= '-' then want_type(SESIDX, 'zset') end
if bname ~= '' then want_type(BINDIDX, 'zset') end
local bound -- the member bname is bound to, while the binding lasts
if bname ~= '' then
  local b = checked('HGET', BIND, bname)
  if b then
    local bexp, bm = binding_of(bname, b)
    if bexp == 0 or bexp > now then bound = bm end
  end
end
local pending, due = due_timers(now, budget)
if flags >= 2 then
  check_pool() -- a waiter's retry: off the hot path
  redis.call('ZREM', WAITING, token)
  flags = flags - 2
end
local done, clean = fire_due(now, budget, pending, due)
-- With every due timer handled, no free member is past its expiry: skip
-- the per-member check.
local function expired(m)
  return not clean and member_expired(m, now)
end

local picked = {}
if want ~= '' then
  if checked('ZSCORE', FREE, want) and not expired(want) then
    if mode == 'x' then redis.call('ZREM', FREE, want) end
    picked[1] = want
  elseif state(want) then
    return redis.error_reply('NOT_FREE ' .. want)
  else
    return redis.error_reply('NOT_MEMBER ' .. want)
  end
end
-- The bound member comes first when it is free; in shared mode it is
-- handed out without rotating it.
local scores = {} -- free score of each member taken out of the free set
if bound then
  local sc = checked('ZSCORE', FREE, bound)
  if sc and not expired(bound) then
    if mode == 'x' then redis.call('ZREM', FREE, bound) end
    picked[1], scores[bound] = bound, sc
  end
end

-- rotate moves m behind every member of its priority band (shared mode).
-- Time alone cannot order rotations within one millisecond, so the score
-- steps past the band's last one; when a band runs out of room (after some
-- 2^41 rotations) it is renumbered from 0.
-- Its band comes from its score, so no priority is read after a write.
local function rotate(m, score)
  local base = math.floor(tonumber(score) / SPAN) * SPAN
  local t = now - EPOCH
  local last = redis.call('ZREVRANGEBYSCORE', FREE, fmt(base + SPAN - 1), fmt(base), 'WITHSCORES', 'LIMIT', 0, 1)
  if last[2] and tonumber(last[2]) - base >= t then t = tonumber(last[2]) - base + 1 end
  if t >= SPAN then
    local band = redis.call('ZRANGEBYSCORE', FREE, fmt(base), fmt(base + SPAN - 1))
    for i, b in ipairs(band) do redis.call('ZADD', FREE, fmt(base + i - 1), b) end
    t = #band
  end
  redis.call('ZADD', FREE, fmt(base + t), m)
end

local function take_one()
  while true do
    local m
    local r
    if mode == 'x' then
      r = checked('ZPOPMIN', FREE)
    else
      r = checked('ZRANGE', FREE, 0, 0, 'WITHSCORES')
    end
    m = r[1]
    if not m then return nil end
    scores[m] = r[2]
    if not expired(m) then
      if mode == 's' then rotate(m, r[2]) end
      return m
    end
    forget(m)
    done[2] = done[2] + 1
  end
end

if want ~= '' then
  -- taken above
elseif mode == 'x' and n - #picked > 1 and checked('ZCARD', FREE) < n - #picked then
  -- The bound member goes back where it was.
  if #picked > 0 then redis.call('ZADD', FREE, scores[picked[1]], picked[1]) end
  picked = {}
elseif mode == 's' and n > 1 and checked('ZCARD', FREE) < n then
  -- Shared members stay free (a bound one included): n distinct ones are
  -- needed, all or none.
  picked = {}
else
  -- In shared mode members rotate rather than leave, so one may come round
  -- again (the bound one first of all): it is skipped, for n distinct ones.
  -- Exclusive members leave as they are taken and cannot repeat.
  local seen, tries, limit = nil, 0, 0
  if mode == 's' then
    seen, limit = {}, checked('ZCARD', FREE)
    for _, m in ipairs(picked) do seen[m] = true end
  end
  while #picked < n do
    local m = take_one()
    if not m then break end
    if not seen then
      picked[#picked + 1] = m
    else
      tries = tries + 1
      if not seen[m] then
        seen[m] = true
        picked[#picked + 1] = m
      end
      if tries > limit then break end
    end
  end
  if mode == 'x' and #picked < n then
    -- Expired members were hiding among the free ones: give back what we
    -- took, each where it was.
    for _, m in ipairs(picked) do redis.call('ZADD', FREE, scores[m], m) end
    picked = {}
  elseif #picked < n then
    picked = {} -- shared: all or none as well
  end
end

if #picked == 0 then
  if flags == 1 then
    redis.call('ZADD', WAITING, fmt(now), token)
  end
  local nxt = redis.call('ZRANGE', TIMERS, 0, 0, 'WITHSCORES')
  local hint = -1
  if nxt[2] then hint = math.max(0, tonumber(nxt[2]) - now) end
  return {0, hint, done[1], done[2], done[3], done[4]}
end

if session ~= '-' and mode == 'x' then
  -- This call is a sign of life: the session is alive until now + its timeout.
  redis.call('ZADD', TIMERS, fmt(now + sttl), 's:' .. session)
end
local out = {#picked, 0, done[1], done[2], done[3], done[4]}
-- Every lease counts, shared ones too: one INCRBY for the run.
redis.call('INCRBY', ALLOCS, #picked)
local first = 0
if mode == 'x' then first = next_fences(FENCE, #picked, fence_cur) end
for i, m in ipairs(picked) do
  local fence, deadline = 0, 0
  if mode == 'x' then
    fence = first + i - 1
    if ttl > 0 then
      deadline = now + ttl
      redis.call('ZADD', TIMERS, fmt(deadline), 'l:' .. m)
    end
    redis.call('HSET', HOLDERS, m, lease_record(token, fmt(fence), deadline, session, 0, '0'))
    if session ~= '-' then redis.call('ZADD', SESIDX, 0, session .. '\0' .. m) end
  end
  out[#out + 1] = m
  out[#out + 1] = fence
  out[#out + 1] = deadline
  out[#out + 1] = redis.call('HGET', VALUES, m)
end

if bname ~= '' then
  local m = picked[1]
  local old = redis.call('HGET', BIND, bname)
  if old then
    local _, om = binding_of(bname, old)
    if om ~= m then redis.call('ZREM', BINDIDX, om .. '\0' .. bname) end
  end
  local bexp = 0
  if bttl > 0 then bexp = now + bttl end
  redis.call('HSET', BIND, bname, fmt(bexp) .. ' ' .. m)
  redis.call('ZADD', BINDIDX, 0, m .. '\0' .. bname)
  if bexp > 0 then
    redis.call('ZADD', TIMERS, fmt(bexp), 'b:' .. bname)
  else
    redis.call('ZREM', TIMERS, 'b:' .. bname)
  end
end
return out
