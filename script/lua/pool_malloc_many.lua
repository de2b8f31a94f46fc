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
-- ARGV[1] timer budget: due timers handled first
-- ARGV[2] holder token of one malloc
-- ARGV[3] its lease ttl in ms, 0 for a permanent lease
-- ARGV... repeats the entries above
-- Returns {reclaimed, expired, recovered, unbound, then member, fence, deadline, value per malloc in order}, member false when none was free; the four counts say what the due timers and expired free members handled on the way did (for the GC metric).
-- Errors: INVALID
-- @include pool
-- @include pool_write
local budget = tonumber(ARGV[1])
if not budget or #ARGV < 3 or (#ARGV - 1) % 2 ~= 0 then
  return redis.error_reply('INVALID malformed malloc arguments')
end
for i = 2, #ARGV, 2 do
  local ttl = tonumber(ARGV[i + 1])
  if ARGV[i] == '' or not ttl or ttl < 0 then return redis.error_reply('INVALID malformed malloc arguments') end
end
local now = now_ms()
local done, clean = fire_timers(now, budget)
local out = {0, 0, 0, 0}
for i = 2, #ARGV, 2 do
  local token, ttl = ARGV[i], tonumber(ARGV[i + 1])
  local m
  while true do
    local r = redis.call('ZPOPMIN', FREE)
    m = r[1]
    if not m or clean or not member_expired(m, now) then break end
    forget(m)
    done[2] = done[2] + 1
  end
  if not m then
    out[#out + 1] = false
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = false
  else
    local fence = redis.call('INCR', FENCE)
    local deadline = 0
    if ttl > 0 then
      deadline = now + ttl
      redis.call('ZADD', TIMERS, fmt(deadline), 'l:' .. m)
    end
    redis.call('HSET', HOLDERS, m, token .. ' ' .. fmt(fence) .. ' ' .. fmt(deadline) .. ' - 0 0')
    out[#out + 1] = m
    out[#out + 1] = fence
    out[#out + 1] = deadline
    out[#out + 1] = redis.call('HGET', VALUES, m)
  end
end
out[1], out[2], out[3], out[4] = done[1], done[2], done[3], done[4]
return out
