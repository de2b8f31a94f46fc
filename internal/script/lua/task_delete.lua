-- task_delete: delete a task that no worker holds (pending, delayed, finished or dead), waking its waiters.
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
-- Returns the status the task had (p, r, s, f or c), or false when there is no record; a running task (r) is left as it is.
-- Errors: CORRUPT
-- @include task
-- @include task_queue
-- @include task_notify
local id = ARGV[1]
local m = get_meta(id)
if not m then return false end
local was = m[F_STATUS]
if was == 'r' then return was end
-- Reads and checks first: drop's indexes, then the waiters notify wakes
-- (they then read no record: ErrNotFound).
want_drop(m)
want_notify(id)
notify(id)
drop(id)
return was
