-- task_claim: hand up to n due tasks to a worker under a lease, after housekeeping.
-- KEYS[1] ready set
-- KEYS[2] delayed set
-- KEYS[3] running set
-- KEYS[4] dead-letter set
-- KEYS[5] expiry set
-- KEYS[6] task data
-- KEYS[7] waiters
-- KEYS[8] owned index
-- KEYS[9] workers
-- KEYS[10] idle workers
-- KEYS[11] wake-up list
-- ARGV[1] worker id
-- ARGV[2] count n, at least 1
-- ARGV[3] lease ttl in ms, at least 1
-- ARGV[4] housekeeping budget: expired records, due delayed tasks and lapsed leases handled first
-- ARGV[5] fetcher token to register as idle when fewer than n tasks are due, or empty
-- ARGV[6] idle registration ttl in ms
-- ARGV[7] 1 when the fetcher registered as idle at its last claim, else 0
-- ARGV[8] the worker's shape fingerprint, or empty for no check
-- Returns {got, hint, ended, [id, attempt, max, ms to deadline, priority, trace, params, claimed at (ms)] x got, [id, waiters] x ended}; hint = -2 when the fetcher did not register as idle, else ms until the next delayed task or lease end (-1 none); ended lists tasks housekeeping ended.
-- Errors: INVALID, SHAPE, CORRUPT
-- @include task
-- @include task_queue
-- @include task_shape
-- @include task_reap
local function take_ids(take)
  local ids = {}
  for i, e in ipairs(take) do ids[i] = e[1] end
  return ids
end
local worker, n, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local budget, token, idle_ttl, was_idle = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
if worker == '' or not n or n < 1 or not lease or lease < 1 or not budget or budget < 0 or not idle_ttl or idle_ttl < 1
  or (was_idle ~= '0' and was_idle ~= '1') then
  return redis.error_reply('INVALID malformed claim arguments')
end
local shape = ARGV[8]
local f = read('HMGET', DATA, '#shape', '#seq', '#paused')
if shape ~= '' and f[1] and f[1] ~= shape then
  return redis.error_reply('SHAPE queue records another params or result shape (' .. f[1] .. ')')
end
-- A paused queue (task_pause) hands out nothing; housekeeping goes on.
if f[3] and f[3] ~= '1' then corrupt(DATA, 'field #paused holds no flag') end
local paused = f[3] == '1'
check_seq(f[2])
local now = now_ms()
-- Reads first: housekeeping's and the head of the ready set, checked
-- (Redis does not roll back a script that fails half-way).
local purged = purge_due(now, budget)
local promoted = promote_due(now, budget)
local reaped = reap_due(now, budget)
local quiet = #purged == 0 and #promoted == 0 and #reaped.lapsed == 0 and #reaped.gone == 0
local head = read('ZRANGE', READY, '0', fmt(n - 1))
local fields = {}
for _, id in ipairs(head) do
  local r = redis.call('HMGET', DATA, 'm:' .. id, 't:' .. id, 'p:' .. id)
  local m = meta_of(id, r[1])
  if m and m[F_STATUS] == 'p' and num(m, F_DEADLINE) <= now then want_final('f') end
  fields[id] = r
end
want(RUNNING, 'zset')
want(OWNED, 'zset')
if was_idle == '1' then
  checked('ZREM', IDLE, token) -- the first write: refused before it changes anything
  typed[IDLE] = true
elseif token ~= '' then
  want(IDLE, 'zset')
end

record_shape(shape, f[1])
purge(purged)
promote(now, promoted)
local ended = {}
reap(now, reaped, ended)

-- has_type reports whether key has type t (or is absent), checking once: past the head, the
-- claim stops at hostile state instead of failing after its writes.
local function has_type(key, t)
  if typed[key] then return true end
  local have = redis.call('TYPE', key).ok
  if have ~= t and have ~= 'none' then return false end
  typed[key] = true
  return true
end

local out = {0, -2, 0}
local got, tries = 0, 0
local lease_end = fmt(now + lease)
local first = true
while got < n and tries <= budget and not paused do
  local ids
  if first and quiet then
    ids = head
  else
    ids = redis.call('ZRANGE', READY, '0', fmt(n - got - 1))
  end
  if #ids == 0 then break end
  -- Take the ids up to the first hostile record (left where it is).
  local take, stop = {}, false
  for _, id in ipairs(ids) do
    local r = fields[id] or redis.call('HMGET', DATA, 'm:' .. id, 't:' .. id, 'p:' .. id)
    local m = r[1] and parse_meta(r[1])
    if r[1] and not m then stop = true break end
    if m and m[F_STATUS] == 'p' and num(m, F_DEADLINE) <= now
      and not (has_type(EXPIRY, 'zset') and has_type(WAITERS, 'zset') and has_type(DEAD, 'zset')) then
      stop = true
      break
    end
    take[#take + 1] = {id, m, r}
  end
  if #take > 0 then redis.call('ZREM', READY, unpack(take_ids(take))) end
  for _, e in ipairs(take) do
    local id, m, r = e[1], e[2], e[3]
    if m and m[F_STATUS] == 'p' then
      if num(m, F_DEADLINE) <= now then
        tries = tries + 1
        finalize(id, m, 'f', now, 'e:' .. id, 'timeout\ndeadline passed before a worker took the task')
        ended[#ended + 1] = id
        ended[#ended + 1] = take_waiters(id)
      else
        local attempt = num(m, F_ATTEMPT) + 1
        m[F_STATUS], m[F_ATTEMPT], m[F_WORKER], m[F_STARTED] = 'r', fmt(attempt), worker, fmt(now)
        put_meta(id, m)
        redis.call('ZADD', RUNNING, lease_end, id)
        redis.call('ZADD', OWNED, '0', worker .. '\0' .. id)
        got = got + 1
        local k = #out
        out[k + 1], out[k + 2], out[k + 3], out[k + 4] = id, attempt, num(m, F_MAX), num(m, F_DEADLINE) - now
        out[k + 5], out[k + 6], out[k + 7], out[k + 8] = num(m, F_PRIO), r[2] or '', r[3] or '', now
      end
    else
      tries = tries + 1
    end
  end
  if stop or (first and quiet and #head < n) then break end
  first = false
end
out[1] = got
for i = 1, #ended do out[#out + 1] = ended[i] end
out[3] = #ended / 2

-- Fewer than n: the queue is empty (or housekeeping ran out of budget), so
-- the fetcher registers as idle now instead of asking again.
if got < n and token ~= '' then
  redis.call('ZADD', IDLE, fmt(now + idle_ttl), token)
  local hint = -1
  if tries > budget then hint = 0 end
  local d = redis.call('ZRANGE', DELAYED, '0', '0', 'WITHSCORES')
  if d[2] then hint = tonumber(d[2]) - now end
  local r = redis.call('ZRANGE', RUNNING, '0', '0', 'WITHSCORES')
  if r[2] and (hint < 0 or tonumber(r[2]) - now < hint) then hint = tonumber(r[2]) - now end
  if hint ~= -1 and hint < 0 then hint = 0 end
  out[2] = hint
else
  out[2] = -2
end
return out
