-- pool_malloc_many: serve several independent exclusive mallocs in one run, one member each while members last.
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
-- ARGV[1] timer budget: due timers handled first
-- ARGV[2] holder token of one malloc
-- ARGV[3] its lease ttl in ms, 0 for a permanent lease
-- ARGV... repeats the entries above
-- Returns {reclaimed, expired, recovered, unbound, then member, fence, deadline, value per malloc in order}, member false when none was free; the four counts say what the due timers and expired free members handled on the way did (for the GC metric).
-- Errors: INVALID, CORRUPT
-- @include pool
-- @include pool_write
-- @include fence
local budget = tonumber(ARGV[1])
if not budget or #ARGV < 3 or (#ARGV - 1) % 2 ~= 0 then
  return redis.error_reply('INVALID malformed malloc arguments')
end
for i = 2, #ARGV, 2 do
  local ttl = tonumber(ARGV[i + 1])
  if ARGV[i] == '' or not ttl or ttl < 0 then return redis.error_reply('INVALID malformed malloc arguments') end
end
local now = now_ms()
-- Checked before the first write: what every malloc writes here, and in
-- fire_timers whatever due timers touch.
local fence_cur = read_counter(FENCE)
read_counter(ALLOCS)
want_type(HOLDERS, 'hash')
want_type(VALUES, 'hash')
local done, clean = fire_timers(now, budget)
local n = (#ARGV - 1) / 2
-- One ZPOPMIN for the whole batch. A popped member past its expiry (only
-- possible while due timers wait) leaves the pool and another is popped.
local picked = {}
while #picked < n do
  local want = n - #picked
  local r = checked('ZPOPMIN', FREE, want)
  for j = 1, #r, 2 do
    local m = r[j]
    if clean or not member_expired(m, now) then
      picked[#picked + 1] = m
    else
      forget(m)
      done[2] = done[2] + 1
    end
  end
  if #r < 2 * want then break end
end
local out = {done[1], done[2], done[3], done[4]}
local k = #picked
if k > 0 then
  -- The batch's writes go out as one command per structure, so the run's
  -- cost hardly grows with its size: the fences of one next_fences, in order.
  local first = next_fences(FENCE, k, fence_cur) - 1
  redis.call('INCRBY', ALLOCS, k)
  local values = call_chunked('HMGET', VALUES, picked)
  local timers, holders = {}, {}
  for i = 1, k do
    local m, token, ttl = picked[i], ARGV[2 * i], tonumber(ARGV[2 * i + 1])
    local fence, deadline = first + i, 0
    if ttl > 0 then
      deadline = now + ttl
      timers[#timers + 1] = fmt(deadline)
      timers[#timers + 1] = 'l:' .. m
    end
    holders[#holders + 1] = m
    holders[#holders + 1] = lease_record(token, fmt(fence), deadline, '-', 0, '0')
    out[#out + 1] = m
    out[#out + 1] = fence
    out[#out + 1] = deadline
    out[#out + 1] = values[i]
  end
  if #timers > 0 then call_chunked('ZADD', TIMERS, timers) end
  call_chunked('HSET', HOLDERS, holders)
end
for _ = k + 1, n do
  out[#out + 1] = false
  out[#out + 1] = 0
  out[#out + 1] = 0
  out[#out + 1] = false
end
return out
