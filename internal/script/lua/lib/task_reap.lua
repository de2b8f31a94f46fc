-- Housekeeping of task_claim, expanded where a script includes "task_reap".
-- @include task_queue

-- promote moves up to budget delayed tasks that are due to the ready set.
local function promote(now, budget)
  local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, id in ipairs(due) do
    redis.call('ZREM', DELAYED, id)
    local m = get_meta(id)
    if m and m[F_STATUS] == 'p' then make_ready(id, m, now) end
  end
end

-- lapse handles a running task whose worker is gone (lease lapsed or
-- heartbeat missed): back to the queue while attempts remain, else failed.
-- A task that ends is appended to ended with its waiter count.
local function lapse(id, m, now, ended)
  if m[F_CANCEL] == '1' then
    finalize(id, m, 'c', now, 'e:' .. id, 'canceled\ncanceled while its worker was lost')
  elseif num(m, F_DEADLINE) <= now then
    finalize(id, m, 'f', now, 'e:' .. id, 'timeout\ndeadline passed while its worker was lost')
  elseif num(m, F_ATTEMPT) >= num(m, F_MAX) then
    finalize(id, m, 'f', now, 'e:' .. id, 'lost\nworker lost on attempt ' .. m[F_ATTEMPT] .. ' of ' .. m[F_MAX])
  else
    unlink(id, m)
    m[F_STATUS], m[F_WORKER] = 'p', '-'
    put_meta(id, m)
    make_ready(id, m, now)
    return
  end
  ended[#ended + 1] = id
  ended[#ended + 1] = take_waiters(id)
end

-- reap hands back up to budget tasks whose lease lapsed, then the tasks of
-- up to budget workers whose heartbeat deadline passed.
local function reap(now, budget, ended)
  local lapsed = redis.call('ZRANGEBYSCORE', RUNNING, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, id in ipairs(lapsed) do
    local m = get_meta(id)
    if m and m[F_STATUS] == 'r' then
      lapse(id, m, now, ended)
    else
      redis.call('ZREM', RUNNING, id) -- a stale entry
    end
  end
  local gone = redis.call('ZRANGEBYSCORE', WORKERS, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, w in ipairs(gone) do
    local owned = redis.call('ZRANGEBYLEX', OWNED, '[' .. w .. '\0', '(' .. w .. '\1')
    for _, o in ipairs(owned) do
      local id = string.sub(o, #w + 2)
      local m = get_meta(id)
      if m and m[F_STATUS] == 'r' and m[F_WORKER] == w then
        lapse(id, m, now, ended)
      else
        redis.call('ZREM', OWNED, o) -- a stale entry
      end
    end
    redis.call('ZREM', WORKERS, w)
  end
end
