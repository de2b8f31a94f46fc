-- task_enqueue: queue a task, or join the pending or running task with the same id (a pending one past its deadline is replaced).
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
-- ARGV[1] task id
-- ARGV[2] encoded params
-- ARGV[3] priority from -2048 to 2047
-- ARGV[4] delay in ms before the task is due, 0 for now
-- ARGV[5] timeout in ms counted from when the task is due, at least 1
-- ARGV[6] max attempts, at least 1
-- ARGV[7] retention of a finished record in ms, at least 1
-- ARGV[8] retention of a failed record in ms, at least 1
-- ARGV[9] trace context or empty
-- ARGV[10] waiter token to register, or empty
-- ARGV[11] 1 to queue only while a worker is live (policy Auto), else 0
-- ARGV[12] housekeeping budget: expired records deleted first
-- ARGV[13] the caller's shape fingerprint, or empty for no check
-- Returns {outcome, meta, server time in ms}: outcome 1 queued, 2 joined the pending or running task with that id, 0 not queued (no live worker).
-- Errors: INVALID, SHAPE, CORRUPT
-- @include task
-- @include task_queue
-- @include task_shape
local id, params, prio, delay, timeout = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local max, retention, keep, trace = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local token, auto, budget = ARGV[10], ARGV[11], tonumber(ARGV[12])
-- Integers stored as given must be plain: the meta record splits on spaces.
for i = 3, 8 do
  if not string.match(ARGV[i], '^-?%d+$') then return redis.error_reply('INVALID malformed enqueue arguments') end
end
if id == '' or not prio or prio < -2048 or prio > 2047 or not delay or delay < 0 or not timeout
  or timeout < 1 or not max or max < 1 or not retention or retention < 1 or not keep or keep < 1
  or (auto ~= '0' and auto ~= '1') or not budget or budget < 0 then
  return redis.error_reply('INVALID malformed enqueue arguments')
end
local shape = ARGV[13]
local f = read('HMGET', DATA, 'm:' .. id, '#shape', '#seq')
if shape ~= '' and f[2] and f[2] ~= shape then
  return redis.error_reply('SHAPE queue records another params or result shape (' .. f[2] .. ')')
end
local rec = f[1]
local old = meta_of(id, rec)
local now = now_ms()
-- A pending task past its deadline will never run (a claim would end it as
-- timed out): it is replaced, not joined. Its callers time out by their
-- own clocks.
if old and not final(old[F_STATUS]) and not (old[F_STATUS] == 'p' and num(old, F_DEADLINE) <= now) then
  -- The only write: refused before it changes anything.
  if token ~= '' then checked('ZADD', WAITERS, '0', id .. '\0' .. token) end
  return {2, rec, now}
end
if auto == '1' and read('ZCOUNT', WORKERS, '(' .. fmt(now), '+inf') == 0 then
  return {0, '', now}
end
-- Expired records are deleted by claims; enqueues help now and then, for
-- queues nobody claims from.
local due = {}
if now % 8 == 0 then due = purge_due(now, budget) end
if rec then want_drop(old) end
if delay > 0 then want_delayed() else check_seq(f[3]); want_ready() end
if token ~= '' then want(WAITERS, 'zset') end

local due_at = now + delay
-- An unfinished record lives until its deadline plus its retention.
local expires = fmt(due_at + timeout + retention)
if rec or #due > 0 then
  purge(due)
  if rec then drop(id) end
  redis.call('ZADD', EXPIRY, expires, id)
else
  checked('ZADD', EXPIRY, expires, id) -- the first write: refused before it changes anything
end
record_shape(shape, f[2])
local m = new_meta(ARGV[6], ARGV[3], due_at + timeout, ARGV[5], ARGV[7], ARGV[8], now)
if trace ~= '' then
  put_meta(id, m, 'p:' .. id, params, 't:' .. id, trace)
else
  put_meta(id, m, 'p:' .. id, params)
end
if delay > 0 then
  redis.call('ZADD', DELAYED, fmt(due_at), id)
  wake_worker(now) -- an idle worker then sleeps until this task is due
else
  make_ready(id, m, now)
end
add_waiter(id, token)
return {1, table.concat(m, ' '), now}
