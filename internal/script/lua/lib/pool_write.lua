-- Mutating helpers of the pool_* scripts, expanded where a script includes "pool_write".
-- @include pool

-- wake tells one waiting malloc that a member may be free.
-- Waiters re-register on every wait, so one silent for a minute is gone
-- (its process died) and is dropped rather than owed wake-ups.
local WAITER_STALE = 60000

-- freed members may be free now (default 1): one wake-up each, up to one
-- per waiter, counting the wake-ups already queued.
local function wake(now, freed)
  if redis.call('EXISTS', WAITING) == 0 then return end
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

-- forget removes m from every structure of the pool.
local function forget(m)
  local rec = redis.call('HGET', HOLDERS, m)
  if rec then
    local l = parse_lease(rec)
    if l.session ~= '-' then redis.call('ZREM', SESIDX, l.session .. '\0' .. m) end
  end
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
  local _, m = string.match(b, '^(%S+) (.*)$')
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
      local l = parse_lease(rec)
      if l.session == s then
        release(m, l, now)
        n = n + 1
      end
    end
  end
  return n
end

-- fire_timers handles up to budget due timers and returns the counts
-- {leases reclaimed, members expired, members recovered, bindings expired}
-- (leases of dead sessions count as reclaimed) and whether no due timer is
-- left, in which case no free member is past its expiry either.
local function fire_timers(now, budget)
  local c = {0, 0, 0, 0}
  if budget <= 0 then return c, false end
  -- ZCOUNT is about three times cheaper than an empty ZRANGEBYSCORE, and
  -- most calls find nothing due.
  local pending = redis.call('ZCOUNT', TIMERS, '-inf', fmt(now))
  if pending == 0 then return c, true end
  local due = redis.call('ZRANGEBYSCORE', TIMERS, '-inf', fmt(now), 'LIMIT', 0, budget)
  for _, e in ipairs(due) do
    local kind, m = string.sub(e, 1, 1), string.sub(e, 3)
    redis.call('ZREM', TIMERS, e)
    if kind == 'l' then
      local rec = redis.call('HGET', HOLDERS, m)
      if rec then
        local l = parse_lease(rec)
        if l.deadline > 0 and l.deadline <= now then
          release(m, l, now)
          c[1] = c[1] + 1
        end
      end
    elseif kind == 'e' then
      local rec = redis.call('HGET', HOLDERS, m)
      if rec then
        -- Held members leave when their lease ends, never under the holder.
        local l = parse_lease(rec)
        l.expired = '1'
        redis.call('HSET', HOLDERS, m, lease_record(l.token, l.fence, l.deadline, l.session, l.mark, l.expired))
      elseif state(m) then
        forget(m)
        c[2] = c[2] + 1
      end
    elseif kind == 'u' then
      local u = redis.call('HGET', UNHEALTHY, m)
      if u and tonumber(u) <= now then
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
