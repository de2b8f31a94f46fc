-- task_finish: record what became of a claimed task and wake the callers waiting on it.
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
-- KEYS[13] the queue's counters: hash s succeeded, f failed for good, r attempts failed and retried, ms run time (claim to finish) of those attempts; canceled and released ones are not counted
-- ARGV[1] task id
-- ARGV[2] worker id
-- ARGV[3] the claim the worker ran it under: "attempt:claimed at" (see claim_of)
-- ARGV[4] outcome: ok, err (retried while attempts and time remain), fatal (never retried), release (queued again, attempt not counted)
-- ARGV[5] the encoded result (ok) or "kind\nmessage" (err, fatal)
-- ARGV[6] backoff in ms before the next attempt (err only)
-- Returns the task's new status: s succeeded, p queued again, f failed, c canceled. At or after the task's deadline every outcome is recorded as failed with kind timeout.
-- Errors: NOT_HELD, INVALID, CORRUPT
-- @include task
-- @include task_queue
-- @include task_notify
local COUNTS = KEYS[13]
local id, worker, claim, outcome, payload, backoff = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local attempt = string.match(claim, '^(%d+):%d+$')
if not attempt or not backoff or backoff < 0 or (outcome ~= 'ok' and outcome ~= 'err' and outcome ~= 'fatal' and outcome ~= 'release') then
  return redis.error_reply('INVALID malformed finish arguments')
end
local f = read('HMGET', DATA, 'm:' .. id, '#seq')
local m = meta_of(id, f[1])
if not m or m[F_STATUS] ~= 'r' or m[F_WORKER] ~= worker or claim_of(m) ~= claim then
  return redis.error_reply('NOT_HELD the task is no longer claimed by this worker')
end
local now = now_ms()

-- Which outcome is recorded, decided before the first write so that what
-- it writes is checked first.
local status
if num(m, F_DEADLINE) <= now then
  -- The outcome is final at the deadline: callers waiting were told the
  -- task timed out, so whatever arrives later is recorded as that.
  if string.sub(payload, 1, 8) ~= 'timeout\n' or outcome ~= 'fatal' then
    payload = 'timeout\nthe handler returned after the deadline'
  end
  status = 'f'
elseif outcome == 'ok' then
  status = 's'
elseif m[F_CANCEL] == '1' then
  if outcome == 'release' then payload = 'canceled\ncanceled while its worker shut down' end
  status = 'c'
elseif outcome == 'release' then
  status = 'release'
elseif outcome == 'fatal' or tonumber(attempt) >= num(m, F_MAX) or now + backoff >= num(m, F_DEADLINE) then
  status = 'f'
elseif backoff > 0 then
  status = 'delay'
else
  status = 'retry'
end
want_index(m)
if status == 'release' or status == 'retry' then
  check_seq(f[2])
  want_ready()
elseif status == 'delay' then
  want_delayed()
else
  want_notify(id) -- first: its read of the waiters checks their key
  want_final(status)
end
-- The counters, checked with the rest; one write below.
local cfield = ({s = 's', f = 'f', retry = 'r', delay = 'r'})[status]
local counted
if cfield then
  local c = checked('HMGET', COUNTS, cfield, 'ms')
  for i, fld in ipairs({cfield, 'ms'}) do
    if c[i] and not is_int(c[i]) then corrupt(COUNTS, 'field ' .. fld .. ' holds no counter') end
  end
  counted = {cfield, fmt((tonumber(c[1]) or 0) + 1), 'ms', fmt((tonumber(c[2]) or 0) + math.max(0, now - num(m, F_STARTED)))}
end
if counted then redis.call('HSET', COUNTS, unpack(counted)) end

if status == 'release' then
  unlink(id, m)
  m[F_STATUS], m[F_WORKER], m[F_ATTEMPT] = 'p', '-', fmt(tonumber(attempt) - 1)
  put_meta(id, m)
  make_ready(id, m, now)
  return 'p'
elseif status == 'retry' or status == 'delay' then
  unlink(id, m)
  m[F_STATUS], m[F_WORKER] = 'p', '-'
  put_meta(id, m, 'e:' .. id, payload)
  if status == 'delay' then
    redis.call('ZADD', DELAYED, fmt(now + backoff), id)
    wake_worker(now) -- an idle worker then sleeps until the retry is due
  else
    make_ready(id, m, now)
  end
  return 'p'
elseif status == 's' then
  -- An earlier attempt's error goes with the success.
  if attempt ~= '1' then redis.call('HDEL', DATA, 'e:' .. id) end
  finalize(id, m, 's', now, 'r:' .. id, payload)
else
  finalize(id, m, status, now, 'e:' .. id, payload)
end
notify(id, status, m[F_ATTEMPT], payload)
return status
