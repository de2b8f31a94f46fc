-- Write helpers of the task_* scripts, expanded where a script includes "task_queue".
-- @include task
local SPAN = 2199023255552 -- 2^41: room for the enqueue sequence within one priority

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

-- take_waiters unregisters every caller waiting on id and returns how many there were.
local function take_waiters(id)
  local ws = redis.call('ZRANGEBYLEX', WAITERS, '[' .. id .. '\0', '(' .. id .. '\1')
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

-- purge deletes up to budget records whose retention ended.
local function purge(now, budget)
  local due = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, id in ipairs(due) do drop(id) end
end

-- finalize ends a task with status s, f or c, writing the extra hash fields
-- given with the record. The record then lives for its retention (keep for
-- failures), and never less than until its deadline. The callers waiting
-- now are counted ('o:' field): a read with once deletes the record only
-- when it is the last of them, so every caller of a joined task gets its
-- outcome.
local function finalize(id, m, status, now, ...)
  local readers = redis.call('ZLEXCOUNT', WAITERS, '[' .. id .. '\0', '(' .. id .. '\1')
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
