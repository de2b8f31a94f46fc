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
-- Errors: INVALID
-- @include task
-- @include task_queue
-- ONCE_GRACE bounds how long a record consumed by one of several joined
-- callers waits for the others (their wake-up tokens last 10 s).
local ONCE_GRACE = 60000
local id, token, once, seen, want = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if (once ~= '0' and once ~= '1') or not seen or (want ~= '0' and want ~= '1') then
  return redis.error_reply('INVALID malformed read arguments')
end
local f
if want == '1' then
  f = redis.call('HMGET', DATA, 'm:' .. id, 'g:' .. id, 'e:' .. id, 'r:' .. id)
else
  f = redis.call('HMGET', DATA, 'm:' .. id, 'g:' .. id, 'e:' .. id)
end
if not f[1] then return false end
local m = parse_meta(f[1])
local now = now_ms()
local exp = redis.call('ZSCORE', EXPIRY, id)
if not m or (exp and tonumber(exp) <= now) then
  drop(id)
  return false
end
local progress = f[2] or ''
local out = {f[1], progress, f[3] or '', 0, '', now}
if final(m[F_STATUS]) then
  if m[F_STATUS] == 's' and f[4] then out[4], out[5] = 1, f[4] end
  if once == '1' then
    -- Callers still to read this outcome keep the record for themselves.
    local left = redis.call('HINCRBY', DATA, 'o:' .. id, -1)
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
if token ~= '' then
  local seq = -1
  if progress ~= '' then seq = tonumber(string.match(progress, '^(%d+)')) end
  if seen < 0 or seq <= seen then add_waiter(id, token) end
end
return out
