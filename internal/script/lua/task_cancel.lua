-- task_cancel: cancel a task: at once while it is pending, by request to its worker while it runs.
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
-- ARGV[2] mode: cancel, or withdraw (cancel only a pending task and leave a running one alone)
-- Returns the status the task had (p, r, s, f or c), or false when there is no record.
-- Errors: INVALID, CORRUPT
-- @include task
-- @include task_queue
-- @include task_notify
local id, mode = ARGV[1], ARGV[2]
if mode ~= 'cancel' and mode ~= 'withdraw' then
  return redis.error_reply('INVALID malformed cancel arguments')
end
local m = get_meta(id)
if not m then return false end
local was = m[F_STATUS]
if was == 'p' then
  want_index(m)
  want_final('c')
  want_notify(id)
  finalize(id, m, 'c', now_ms(), 'e:' .. id, 'canceled\ncanceled before it ran')
  notify(id)
elseif was == 'r' and mode == 'cancel' and m[F_CANCEL] == '0' then
  m[F_CANCEL] = '1'
  put_meta(id, m)
end
return was
