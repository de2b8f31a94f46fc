-- task_show: read one task's record for operators, params included.
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
-- Returns {meta, progress, error, params, due time in ms of a delayed task or empty, server time in ms}, or false when there is no record (a record whose retention ended is deleted, as task_read does).
-- Errors: CORRUPT
-- @include task
-- @include task_queue
local id = ARGV[1]
local f = read('HMGET', DATA, 'm:' .. id, 'g:' .. id, 'e:' .. id, 'p:' .. id)
if not f[1] then return false end
local m = meta_of(id, f[1])
progress_seq(id, f[2])
local now = now_ms()
if drop_expired(id, m, now) then return false end
local due = ''
if m[F_STATUS] == 'p' then due = read('ZSCORE', DELAYED, id) or '' end
return {f[1], f[2] or '', f[3] or '', f[4] or '', due, now}
