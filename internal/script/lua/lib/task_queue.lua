-- Write helpers of the task_* scripts, expanded where a script includes "task_queue".
-- @include task
local SPAN = 2199023255552 -- 2^41: room for the enqueue sequence within one priority

-- new_meta builds the record of a task queued at now and due by deadline
-- (ms), the only place one is built (task_enqueue, task_schedule): pending,
-- no attempt, no worker, not canceled. max, prio, timeout, retention and
-- keep are stored as given (plain integers, as text or numbers).
local function new_meta(max, prio, deadline, timeout, retention, keep, now)
  return {'p', '0', max, prio, fmt(deadline), timeout, retention, keep, '-', '0', fmt(now), '0', '0'}
end

local function put_meta(id, m, ...)
  redis.call('HSET', DATA, 'm:' .. id, table.concat(m, ' '), ...)
end

-- wake_worker hands one idle worker a wake-up token; stale registrations
-- popped on the way are dropped.
local function wake_worker(now)
  while true do
    local w = redis.call('ZPOPMIN', IDLE)
    if #w == 0 then return end
    if tonumber(w[2]) > now then
      redis.call('LPUSH', WAKE, '1')
      return
    end
  end
end

local function make_ready(id, m, now)
  local seq = redis.call('HINCRBY', DATA, '#seq', '1') % SPAN
  redis.call('ZADD', READY, fmt((2047 - num(m, F_PRIO)) * SPAN + seq), id)
  wake_worker(now)
end

-- The checks of the writes below, for the scripts to call before their
-- first write (see want).

-- want_index checks the index m's status puts it in (see unlink).
local function want_index(m)
  local s = m[F_STATUS]
  if s == 'p' then
    want(READY, 'zset')
    want(DELAYED, 'zset')
  elseif s == 'r' then
    want(RUNNING, 'zset')
    want(OWNED, 'zset')
  elseif s == 'f' then
    want(DEAD, 'zset')
  end
end

-- want_ready checks what make_ready writes.
local function want_ready()
  want(READY, 'zset')
  want(IDLE, 'zset')
  want(WAKE, 'list')
  check_seq()
end

-- want_delayed checks what a delayed task's ZADD and wake_worker write.
local function want_delayed()
  want(DELAYED, 'zset')
  want(IDLE, 'zset')
  want(WAKE, 'list')
end

-- want_final checks what finalize writes for status (m's index aside).
local function want_final(status)
  want(EXPIRY, 'zset')
  want(WAITERS, 'zset')
  if status == 'f' then want(DEAD, 'zset') end
end

-- want_drop checks what drop writes for the record m (nil: none).
local function want_drop(m)
  if m then want_index(m) end
  want(EXPIRY, 'zset')
  want(WAITERS, 'zset')
end

-- waiters_of lists the callers waiting on id (a read, remembered until
-- take_waiters takes them).
local waiter_lists = {}
local function waiters_of(id)
  local ws = waiter_lists[id]
  if not ws then
    ws = read('ZRANGEBYLEX', WAITERS, '[' .. id .. '\0', '(' .. id .. '\1')
    waiter_lists[id] = ws
  end
  return ws
end

-- take_waiters unregisters every caller waiting on id and returns how many there were.
local function take_waiters(id)
  local ws = waiters_of(id)
  waiter_lists[id] = nil
  for i = 1, #ws, 500 do
    redis.call('ZREM', WAITERS, unpack(ws, i, math.min(i + 499, #ws)))
  end
  return #ws
end

local function add_waiter(id, token)
  if token ~= '' then redis.call('ZADD', WAITERS, '0', id .. '\0' .. token) end
end

-- unlink takes id out of the index its status puts it in (not the expiry set).
local function unlink(id, m)
  local s = m[F_STATUS]
  if s == 'p' then
    redis.call('ZREM', READY, id)
    redis.call('ZREM', DELAYED, id)
  elseif s == 'r' then
    redis.call('ZREM', RUNNING, id)
    redis.call('ZREM', OWNED, m[F_WORKER] .. '\0' .. id)
  elseif s == 'f' then
    redis.call('ZREM', DEAD, id)
  end
end

-- drop deletes the record of id and everything that points at it.
local function drop(id)
  local m = get_meta(id)
  if m then unlink(id, m) end
  redis.call('ZREM', EXPIRY, id)
  redis.call('HDEL', DATA, 'm:' .. id, 'p:' .. id, 'r:' .. id, 'e:' .. id, 'g:' .. id, 't:' .. id, 'o:' .. id)
  take_waiters(id)
end

-- drop_expired deletes the record m of id when its retention ended by now,
-- as a read finds it (task_read, task_show): it reports whether it did
-- (the reader then answers as for no record) and the expiry it read.
local function drop_expired(id, m, now)
  local exp = read('ZSCORE', EXPIRY, id)
  if not (exp and tonumber(exp) <= now) then return false, exp end
  want_drop(m)
  drop(id)
  return true, exp
end

-- purge_due returns up to budget records whose retention ended, checked
-- for purge (it only reads).
local function purge_due(now, budget)
  local due = read('ZRANGEBYSCORE', EXPIRY, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, id in ipairs(due) do want_drop(get_meta(id)) end
  return due
end

-- purge deletes the records purge_due returned.
local function purge(due)
  for _, id in ipairs(due) do drop(id) end
end

-- finalize ends a task with status s, f or c, writing the extra hash fields
-- given with the record. The record then lives for its retention (keep for
-- failures), and never less than until its deadline. The callers waiting
-- now are counted ('o:' field): a read with once deletes the record only
-- when it is the last of them, so every caller of a joined task gets its
-- outcome.
local function finalize(id, m, status, now, ...)
  local readers = #waiters_of(id)
  if readers > 1 then
    redis.call('HSET', DATA, 'o:' .. id, readers)
  end
  unlink(id, m)
  m[F_STATUS], m[F_WORKER], m[F_FINISHED] = status, '-', fmt(now)
  local keep = num(m, F_RETENTION)
  if status == 'f' then
    keep = num(m, F_KEEP)
    redis.call('ZADD', DEAD, fmt(now), id)
  end
  local left = num(m, F_DEADLINE) - now
  if left > keep then keep = left end
  redis.call('ZADD', EXPIRY, fmt(now + keep), id)
  put_meta(id, m, ...)
end
