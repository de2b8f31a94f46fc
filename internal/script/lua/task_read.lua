-- task_read: read a task's state, progress, error and result; optionally register to be woken or consume it.
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
-- ARGV[2] waiter token to register while the task runs (and its progress is at most ARGV[4]), or empty
-- ARGV[3] 1 to delete a finished record once read (once; by the last of the callers waiting when it finished), else 0
-- ARGV[4] the progress sequence the waiter has seen, or -1 to wait for the end only
-- ARGV[5] 1 to return the result, else 0
-- Returns {meta, progress, error, has result, result, server time in ms} with empty strings for missing parts, or false when there is no record.
-- Errors: INVALID, CORRUPT
-- @include task
-- @include task_queue
-- ONCE_GRACE bounds how long a record consumed by one of several joined
-- callers waits for the others (their wake-up tokens last 10 s).
local ONCE_GRACE = 60000
local id, token, once, seen, want = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if (once ~= '0' and once ~= '1') or not seen or (want ~= '0' and want ~= '1') then
  return redis.error_reply('INVALID malformed read arguments')
end
local f = read('HMGET', DATA, 'm:' .. id, 'g:' .. id, 'e:' .. id, 'o:' .. id, want == '1' and ('r:' .. id) or 'o:' .. id)
if not f[1] then return false end
local m = meta_of(id, f[1])
local seq = progress_seq(id, f[2])
if f[4] and not is_int(f[4]) then corrupt(DATA, 'field o:' .. id .. ' holds no count') end
local now = now_ms()
local gone, exp = drop_expired(id, m, now)
if gone then return false end
local progress = f[2] or ''
local out = {f[1], progress, f[3] or '', 0, '', now}
if final(m[F_STATUS]) then
  if m[F_STATUS] == 's' and want == '1' and f[5] then out[4], out[5] = 1, f[5] end
  if once == '1' then
    -- Callers still to read this outcome keep the record for themselves.
    local left = (tonumber(f[4]) or 0) - 1
    if left <= 0 then want_drop(m) end
    redis.call('HINCRBY', DATA, 'o:' .. id, -1)
    if left > 0 then
      if not exp or tonumber(exp) > now + ONCE_GRACE then
        redis.call('ZADD', EXPIRY, fmt(now + ONCE_GRACE), id)
      end
    else
      drop(id)
    end
  end
  return out
end
if token ~= '' and (seen < 0 or seq <= seen) then
  -- The only write: refused before it changes anything.
  checked('ZADD', WAITERS, '0', id .. '\0' .. token)
end
return out
