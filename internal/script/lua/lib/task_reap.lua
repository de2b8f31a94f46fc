-- Housekeeping of task_claim, expanded where a script includes "task_reap".
-- Each step has a read half (…_due), which reads and checks what the write
-- half will touch, so that a claim runs every read half before its first write.
-- @include task_queue

-- promote_due returns up to budget delayed tasks that are due, checked.
local function promote_due(now, budget)
  local due = read('ZRANGEBYSCORE', DELAYED, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, id in ipairs(due) do get_meta(id) end
  if #due > 0 then want_ready() end
  return due
end

-- promote moves the tasks promote_due returned to the ready set.
local function promote(now, due)
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

-- reap_due returns up to budget tasks whose lease lapsed, up to budget
-- workers whose heartbeat deadline passed and the owned-index entries of
-- each, checked.
local function reap_due(now, budget)
  local lapsed = read('ZRANGEBYSCORE', RUNNING, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  for _, id in ipairs(lapsed) do get_meta(id) end
  local gone = read('ZRANGEBYSCORE', WORKERS, '-inf', fmt(now), 'LIMIT', '0', fmt(budget))
  local owned = {}
  for i, w in ipairs(gone) do
    owned[i] = read('ZRANGEBYLEX', OWNED, '[' .. w .. '\0', '(' .. w .. '\1')
    for _, o in ipairs(owned[i]) do get_meta(string.sub(o, #w + 2)) end
  end
  if #lapsed > 0 or #gone > 0 then
    want(OWNED, 'zset')
    want_final('f')
    want_ready()
  end
  return {lapsed = lapsed, gone = gone, owned = owned}
end

-- reap hands back the tasks reap_due returned.
local function reap(now, due, ended)
  for _, id in ipairs(due.lapsed) do
    local m = get_meta(id)
    if m and m[F_STATUS] == 'r' then
      lapse(id, m, now, ended)
    else
      redis.call('ZREM', RUNNING, id) -- a stale entry
    end
  end
  for i, w in ipairs(due.gone) do
    for _, o in ipairs(due.owned[i]) do
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
