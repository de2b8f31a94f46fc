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
-- Errors: INVALID, SHAPE
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
local bad_shape = check_shape(ARGV[13])
if bad_shape then return bad_shape end
local now = now_ms()
-- Expired records are deleted by claims; enqueues help now and then, for
-- queues nobody claims from.
if now % 8 == 0 then purge(now, budget) end

local rec = redis.call('HGET', DATA, 'm:' .. id)
local old = rec and parse_meta(rec)
-- A pending task past its deadline will never run (a claim would end it as
-- timed out): it is replaced, not joined. Its callers time out by their
-- own clocks.
if old and not final(old[F_STATUS]) and not (old[F_STATUS] == 'p' and num(old, F_DEADLINE) <= now) then
  add_waiter(id, token)
  return {2, rec, now}
end
if auto == '1' and redis.call('ZCOUNT', WORKERS, '(' .. fmt(now), '+inf') == 0 then
  return {0, '', now}
end
if rec then drop(id) end
record_shape(ARGV[13])

local due = now + delay
local m = {'p', '0', ARGV[6], ARGV[3], fmt(due + timeout), ARGV[5], ARGV[7], ARGV[8], '-', '0', fmt(now), '0', '0'}
if trace ~= '' then
  put_meta(id, m, 'p:' .. id, params, 't:' .. id, trace)
else
  put_meta(id, m, 'p:' .. id, params)
end
-- An unfinished record lives until its deadline plus its retention.
redis.call('ZADD', EXPIRY, fmt(due + timeout + retention), id)
if delay > 0 then
  redis.call('ZADD', DELAYED, fmt(due), id)
  wake_worker(now) -- an idle worker then sleeps until this task is due
else
  make_ready(id, m, now)
end
add_waiter(id, token)
return {1, table.concat(m, ' '), now}
