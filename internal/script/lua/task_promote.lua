-- task_promote: make delayed tasks and tasks waiting for a retry due now.
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
-- ARGV... repeats the entries above
-- Returns the number of tasks moved to the ready set; ids of tasks that are not delayed are skipped.
-- Errors: CORRUPT
-- @include task
-- @include task_queue
local now = now_ms()
local move = {}
for _, id in ipairs(ARGV) do
  local m = get_meta(id)
  if m and m[F_STATUS] == 'p' and read('ZSCORE', DELAYED, id) then
    move[#move + 1] = {id, m}
  end
end
if #move > 0 then want_ready() end
-- An id given twice is in move twice; its second ZREM finds it gone.
local moved = 0
for _, e in ipairs(move) do
  local id, m = e[1], e[2]
  if redis.call('ZREM', DELAYED, id) == 1 then
    make_ready(id, m, now)
    moved = moved + 1
  end
end
return moved
