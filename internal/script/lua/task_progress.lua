-- task_progress: record the progress of a running task and wake the callers waiting on it.
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
-- KEYS[12] the task's notify list
-- ARGV[1] task id
-- ARGV[2] worker id
-- ARGV[3] the claim the worker runs it under: "attempt:claimed at" (see claim_of)
-- ARGV[4] current progress, a number
-- ARGV[5] total, a number
-- Returns {code, seq}: code 1 still held, 2 held and cancellation requested; seq numbers the update.
-- Errors: NOT_HELD, INVALID, CORRUPT
-- @include task
-- @include task_queue
-- @include task_notify
local id, worker, claim, cur, total = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if not tonumber(cur) or not tonumber(total) or string.find(cur, ' ') or string.find(total, ' ') then
  return redis.error_reply('INVALID malformed progress arguments')
end
local f = read('HMGET', DATA, 'm:' .. id, 'g:' .. id)
local m = meta_of(id, f[1])
if not m or m[F_STATUS] ~= 'r' or m[F_WORKER] ~= worker or claim_of(m) ~= claim then
  return redis.error_reply('NOT_HELD the task is no longer claimed by this worker')
end
local seq = progress_seq(id, f[2]) + 1
want_notify(id)
redis.call('HSET', DATA, 'g:' .. id, fmt(seq) .. ' ' .. cur .. ' ' .. total .. ' ' .. fmt(now_ms()))
notify(id)
if m[F_CANCEL] == '1' then return {2, seq} end
return {1, seq}
