-- task_requeue: move failed tasks from the dead-letter set back to the queue, with fresh attempts and deadline.
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
-- Returns the number of tasks queued again; ids not in the dead-letter set are skipped.
-- Errors: CORRUPT
-- @include task
-- @include task_queue
local now = now_ms()
local done = 0
for _, id in ipairs(ARGV) do
  local m = get_meta(id)
  if m and m[F_STATUS] == 'f' then
    want_index(m)
    want(EXPIRY, 'zset')
    want_ready()
  end
end
for _, id in ipairs(ARGV) do
  local m = get_meta(id)
  if m and m[F_STATUS] == 'f' then
    unlink(id, m)
    redis.call('HDEL', DATA, 'e:' .. id, 'g:' .. id, 'r:' .. id)
    local deadline = now + num(m, F_TIMEOUT)
    m[F_STATUS], m[F_ATTEMPT], m[F_CANCEL], m[F_STARTED], m[F_FINISHED] = 'p', '0', '0', '0', '0'
    m[F_DEADLINE] = fmt(deadline)
    put_meta(id, m)
    redis.call('ZADD', EXPIRY, fmt(deadline + num(m, F_RETENTION)), id)
    make_ready(id, m, now)
    done = done + 1
  end
end
return done
