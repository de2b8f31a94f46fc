-- Member updates shared by pool_extend and pool_assign: ARGV from index
-- first on, 5 entries a member: member, priority ('' keep), expiry ttl in ms
-- ('' keep, 0 none), has value (0/1), value.
-- @include pool_write

-- check_members validates every entry before anything is written.
local function check_members(first)
  if (#ARGV - first + 1) % 5 ~= 0 then return false end
  for i = first, #ARGV, 5 do
    local p, e, hv = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if ARGV[i] == '' then return false end
    if p ~= '' then
      p = tonumber(p)
      if not p or p < -2048 or p > 2047 or p ~= math.floor(p) then return false end
    end
    if e ~= '' and (not tonumber(e) or tonumber(e) < 0) then return false end
    if hv ~= '0' and hv ~= '1' then return false end
  end
  return true
end

-- check_state checks, before a script's first write, everything
-- apply_member reads for the entries from index first on.
local function check_state(first)
  check_pool()
  for i = first, #ARGV, 5 do check_member(ARGV[i]) end
end

-- apply_member adds or updates one member; returns 1 when it was added.
-- A member that is held stays held by its holder.
local function apply_member(m, p, e, hv, v, now, add)
  local st = state(m)
  if not st and not add then return 0 end
  if p ~= '' then
    if tonumber(p) == 0 then redis.call('HDEL', PRIO, m) else redis.call('HSET', PRIO, m, p) end
    if st == 'free' then
      -- Keep its place in the least-recently-used order; move its band.
      local old = tonumber(redis.call('ZSCORE', FREE, m))
      local t = old - math.floor(old / SPAN) * SPAN
      redis.call('ZADD', FREE, fmt((2047 - tonumber(p)) * SPAN + t), m)
    end
  end
  if e ~= '' then
    if tonumber(e) == 0 then
      redis.call('ZREM', TIMERS, 'e:' .. m)
    else
      redis.call('ZADD', TIMERS, fmt(now + tonumber(e)), 'e:' .. m)
    end
    if st == 'held' then
      -- A new expiry (or none) replaces one that passed while held.
      local l = parse_lease(m, redis.call('HGET', HOLDERS, m))
      if l.expired == '1' then
        l.expired = '0'
        redis.call('HSET', HOLDERS, m, lease_record(l.token, l.fence, l.deadline, l.session, l.mark, l.expired))
      end
    end
  end
  if hv == '1' then redis.call('HSET', VALUES, m, v) end
  if not st then
    push_free(m, now)
    return 1
  end
  return 0
end
