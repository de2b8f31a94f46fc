-- pool_malloc_fast: pool_malloc_many's common case at a fraction of its cost: with no timer due, serve several exclusive mallocs, one member each while members last; otherwise write nothing and decline, for pool_malloc_many to run.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] timers
-- KEYS[4] values
-- KEYS[5] fence counter
-- KEYS[6] allocation counter
-- ARGV[1] timer budget (pool_malloc_many's; unused here, where no timer is due)
-- ARGV[2] holder token of one malloc
-- ARGV[3] its lease ttl in ms, 0 for a permanent lease
-- ARGV... repeats the entries above
-- Returns pool_malloc_many's reply (the four counts 0), or 0 when it declined: a timer is due, or the batch is too big for one command.
-- Errors: INVALID, CORRUPT
-- @include pool_record
-- @include fence
-- Why it is cheap (each of these cost pool_malloc_many more than Redis's own
-- work for a malloc): six keys rather than the thirteen (each key costs a
-- call about a tenth of a one-line script), no timer-firing code (its helper
-- closures are built on every call, used or not), one TIME for the clock
-- and the fence, every key's type checked by the read or the first write
-- that touches it instead of a TYPE, and integers formatted with %d rather
-- than %.0f. Key roles and records as in lib/pool.lua.
local FREE, HOLDERS, TIMERS, VALUES, FENCE, ALLOCS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sfmt = string.format
local budget = tonumber(ARGV[1])
if not budget or #ARGV < 3 or (#ARGV - 1) % 2 ~= 0 then
  return redis.error_reply('INVALID malformed malloc arguments')
end
local n = (#ARGV - 1) / 2
for i = 2, #ARGV, 2 do
  local ttl = tonumber(ARGV[i + 1])
  if ARGV[i] == '' or not ttl or ttl < 0 then return redis.error_reply('INVALID malformed malloc arguments') end
end
if n > 2000 then return 0 end -- unpack fails near 8000 values
-- now_ms and next_fences' clock from one TIME: whole ms rounded down, and µs.
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(clock / 1000)
-- Due timers (maybe a free member past its expiry) are pool_malloc_many's.
if checked('ZCOUNT', TIMERS, '-inf', sfmt('%d', now)) > 0 then return 0 end
-- Checked before the first write: the counters, the values (read here,
-- since a read after a write could fail half-way), the free set by the read
-- that picks, the holders by the first write itself.
-- One MGET reads both counters; it answers nil for an absent key and for
-- one of another type alike, so read_counter tells those apart then.
local counters = redis.call('MGET', FENCE, ALLOCS)
local fence_cur, allocs = counters[1], counters[2]
if fence_cur and is_int(fence_cur) then fence_cur = tonumber(fence_cur) else fence_cur = read_counter(FENCE) end
if not (allocs and is_int(allocs)) then read_counter(ALLOCS) end
local picked = checked('ZRANGE', FREE, 0, n - 1)
local out = {0, 0, 0, 0}
local k = #picked
if k > 0 then
  local values = checked('HMGET', VALUES, unpack(picked))
  -- next_fences' numbers, its counter stored after the first write below.
  local first = first_fence(fence_cur, clock)
  local holders, timers = {}, {}
  for i = 1, k do
    local m, ttl = picked[i], tonumber(ARGV[2 * i + 1])
    local fence, deadline = first + i - 1, 0
    if ttl > 0 then
      deadline = now + ttl
      timers[#timers + 1] = sfmt('%d', deadline)
      timers[#timers + 1] = 'l:' .. m
    end
    holders[2 * i - 1] = m
    holders[2 * i] = lease_record(ARGV[2 * i], sfmt('%d', fence), deadline, '-', 0, '0')
    out[#out + 1] = m
    out[#out + 1] = fence
    out[#out + 1] = deadline
    out[#out + 1] = values[i]
  end
  checked('HSET', HOLDERS, unpack(holders)) -- the first write: refused whole on a wrong type
  redis.call('ZREM', FREE, unpack(picked))
  if #timers > 0 then redis.call('ZADD', TIMERS, unpack(timers)) end
  redis.call('SET', FENCE, sfmt('%d', first + k - 1)) -- as next_fences stores it
  redis.call('INCRBY', ALLOCS, k)
end
for _ = k + 1, n do
  out[#out + 1] = false
  out[#out + 1] = 0
  out[#out + 1] = 0
  out[#out + 1] = false
end
return out
