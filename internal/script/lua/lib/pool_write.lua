-- Mutating helpers of the pool_* scripts, expanded where a script includes "pool_write".
-- @include pool

-- wake tells one waiting malloc that a member may be free.
-- Waiters re-register on every wait, so one silent for a minute is gone
-- (its process died) and is dropped rather than owed wake-ups.
local WAITER_STALE = 60000

-- freed members may be free now (default 1): one wake-up each, up to one
-- per waiter, counting the wake-ups already queued. waiting is what
-- has_waiters answered before the script's first write, or nil.
local function wake(now, freed, waiting)
  if waiting == nil then waiting = redis.call('EXISTS', WAITING) == 1 end
  if not waiting then return end
  redis.call('ZREMRANGEBYSCORE', WAITING, '-inf', fmt(now - WAITER_STALE))
  local w = redis.call('ZCARD', WAITING)
  if w == 0 then return end
  local add = math.min(freed or 1, w - redis.call('LLEN', NOTIFY))
  if add > 0 then
    local tokens = {}
    for i = 1, add do tokens[i] = '1' end
    call_chunked('RPUSH', NOTIFY, tokens)
    redis.call('PEXPIRE', NOTIFY, 60000)
  end
end

-- has_waiters reports whether mallocs wait and checks the keys wake
-- touches: scripts that may wake call it (or check_pool) before their first
-- write and pass its answer to wake. One command when nobody waits.
local function has_waiters()
  local t = redis.call('TYPE', WAITING).ok
  if t == 'none' then return false end
  if t ~= 'zset' then corrupt(WAITING, 'is a ' .. t .. ', want a zset') end
  want_type(NOTIFY, 'list')
  return true
end

local function push_free(m, now)
  redis.call('ZADD', FREE, free_score(prio_of(m), now), m)
  wake(now)
end

local function quarantine(m, untilms)
  redis.call('HSET', UNHEALTHY, m, fmt(untilms))
  redis.call('ZADD', TIMERS, fmt(untilms), 'u:' .. m)
end

-- unbind_member drops every binding that points at m.
local function unbind_member(m)
  local idx = redis.call('ZRANGEBYLEX', BINDIDX, '[' .. m .. '\0', '[' .. m .. '\1')
  for _, e in ipairs(idx) do
    local name = string.sub(e, #m + 2)
    redis.call('HDEL', BIND, name)
    redis.call('ZREM', TIMERS, 'b:' .. name)
    redis.call('ZREM', BINDIDX, e)
  end
end

-- forget removes m from every structure of the pool. It reads only the
-- session of m's lease record, and none from a record that does not parse:
-- the member leaves anyway, and an index entry left behind matches no lease.
local function forget(m)
  local rec = redis.call('HGET', HOLDERS, m)
  local session = rec and string.match(rec, '^%S+ %S+ %S+ (%S+) %S+ %S+$')
  if session and session ~= '-' then redis.call('ZREM', SESIDX, session .. '\0' .. m) end
  redis.call('ZREM', FREE, m)
  redis.call('HDEL', HOLDERS, m)
  redis.call('HDEL', UNHEALTHY, m)
  redis.call('ZREM', TIMERS, 'l:' .. m, 'e:' .. m, 'u:' .. m)
  redis.call('HDEL', PRIO, m)
  redis.call('HDEL', VALUES, m)
  unbind_member(m)
end

-- release ends the lease l on m: the member returns to the free set, to
-- quarantine when its holder reported it unhealthy, or leaves the pool when
-- it expired while held. Returns what happened.
local function release(m, l, now)
  redis.call('HDEL', HOLDERS, m)
  redis.call('ZREM', TIMERS, 'l:' .. m)
  if l.session ~= '-' then redis.call('ZREM', SESIDX, l.session .. '\0' .. m) end
  if l.expired == '1' or member_expired(m, now) then
    forget(m)
    return 'removed'
  end
  if l.mark > 0 then
    quarantine(m, now + l.mark)
    return 'quarantined'
  end
  push_free(m, now)
  return 'freed'
end

local function unbind(name)
  local b = redis.call('HGET', BIND, name)
  if not b then return end
  local _, m = binding_of(name, b)
  redis.call('HDEL', BIND, name)
  redis.call('ZREM', TIMERS, 'b:' .. name)
  redis.call('ZREM', BINDIDX, m .. '\0' .. name)
end

-- reclaim_session releases every lease held under a dead session and
-- returns how many there were.
local function reclaim_session(s, now)
  local n = 0
  for _, e in ipairs(redis.call('ZRANGEBYLEX', SESIDX, '[' .. s .. '\0', '[' .. s .. '\1')) do
    local m = string.sub(e, #s + 2)
    local rec = redis.call('HGET', HOLDERS, m)
    redis.call('ZREM', SESIDX, e)
    if rec then
      local l = parse_lease(m, rec)
      if l.session == s then
        release(m, l, now)
        n = n + 1
      end
    end
  end
  return n
end

-- due_timers reads up to budget due timers (oldest first) and how many are
-- due in all. Firing timers touches every structure and reads the records
-- of the members and bindings they name, so when any is due all of those
-- are checked here, before the caller's first write.
local function due_timers(now, budget)
  -- ZCOUNT is about three times cheaper than an empty ZRANGEBYSCORE, and
  -- most calls find nothing due.
  local pending = checked('ZCOUNT', TIMERS, '-inf', fmt(now))
  if pending == 0 then return 0, {} end
  -- Due timers mean members past their expiry may be removed on the way:
  -- that touches every key.
  check_pool()
  if budget <= 0 then return pending, {} end
  local due = redis.call('ZRANGEBYSCORE', TIMERS, '-inf', fmt(now), 'LIMIT', 0, budget)
  for _, e in ipairs(due) do
    local kind, m = string.sub(e, 1, 1), string.sub(e, 3)
    if kind == 'l' or kind == 'e' or kind == 'u' then
      check_member(m)
    elseif kind == 'b' then
      local b = redis.call('HGET', BIND, m)
      if b then binding_of(m, b) end
    elseif kind == 's' then
      for _, se in ipairs(redis.call('ZRANGEBYLEX', SESIDX, '[' .. m .. '\0', '[' .. m .. '\1')) do
        check_member(string.sub(se, #m + 2))
      end
    end
  end
  return pending, due
end

-- fire_due handles the timers due_timers returned and returns the counts
-- {leases reclaimed, members expired, members recovered, bindings expired}
-- (leases of dead sessions count as reclaimed) and whether no due timer is
-- left, in which case no free member is past its expiry either.
local function fire_due(now, budget, pending, due)
  local c = {0, 0, 0, 0}
  if pending == 0 then return c, true end
  if budget <= 0 then return c, false end
  for _, e in ipairs(due) do
    local kind, m = string.sub(e, 1, 1), string.sub(e, 3)
    redis.call('ZREM', TIMERS, e)
    if kind == 'l' then
      local rec = redis.call('HGET', HOLDERS, m)
      if rec then
        local l = parse_lease(m, rec)
        if l.deadline > 0 and l.deadline <= now then
          release(m, l, now)
          c[1] = c[1] + 1
        end
      end
    elseif kind == 'e' then
      local rec = redis.call('HGET', HOLDERS, m)
      if rec then
        -- Held members leave when their lease ends, never under the holder.
        local l = parse_lease(m, rec)
        l.expired = '1'
        redis.call('HSET', HOLDERS, m, lease_record(l.token, l.fence, l.deadline, l.session, l.mark, l.expired))
      elseif state(m) then
        forget(m)
        c[2] = c[2] + 1
      end
    elseif kind == 'u' then
      local u = redis.call('HGET', UNHEALTHY, m)
      if u and until_of(m, u) <= now then
        redis.call('HDEL', UNHEALTHY, m)
        push_free(m, now)
        c[3] = c[3] + 1
      end
    elseif kind == 'b' then
      unbind(m)
      c[4] = c[4] + 1
    elseif kind == 's' then
      c[1] = c[1] + reclaim_session(m, now)
    end
  end
  return c, pending <= budget
end

-- fire_timers handles up to budget due timers: due_timers, then fire_due.
local function fire_timers(now, budget)
  local pending, due = due_timers(now, budget)
  return fire_due(now, budget, pending, due)
end
