-- pool_snapshot: read every structure of the pool at one instant, for invariant checks and diagnostics.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] unhealthy
-- KEYS[4] timers
-- KEYS[5] priorities
-- KEYS[6] values
-- KEYS[7] fence counter
-- KEYS[8] bindings
-- KEYS[9] binding index
-- KEYS[10] wake-up list
-- KEYS[11] waiter count
-- KEYS[12] session index
-- KEYS[13] allocation counter
-- Returns {now ms, fence, free (member, score)..., holders (member, record)..., unhealthy (member, until)..., timers (entry, ms)..., priorities (member, priority)..., members with values, bindings (name, record)..., binding index entries, waiters, session index entries, keys of the wrong type (key, its type)..., leases granted}; a key of the wrong type reads as empty, and the fence and leases granted are their counters' text, whatever they hold.
-- Read-only.
-- @include pool
-- Hostile state is reported, not raised: the snapshot is how operators
-- find it.
local wrong = {}
local function read(key, want, empty, cmd, ...)
  local t = redis.call('TYPE', key).ok
  if t == 'none' then return empty end
  if t ~= want then
    wrong[#wrong + 1] = key
    wrong[#wrong + 1] = t
    return empty
  end
  return redis.call(cmd, key, ...)
end
local out = {
  now_ms(),
  read(FENCE, 'string', '0', 'GET'),
  read(FREE, 'zset', {}, 'ZRANGE', 0, -1, 'WITHSCORES'),
  read(HOLDERS, 'hash', {}, 'HGETALL'),
  read(UNHEALTHY, 'hash', {}, 'HGETALL'),
  read(TIMERS, 'zset', {}, 'ZRANGE', 0, -1, 'WITHSCORES'),
  read(PRIO, 'hash', {}, 'HGETALL'),
  read(VALUES, 'hash', {}, 'HKEYS'),
  read(BIND, 'hash', {}, 'HGETALL'),
  read(BINDIDX, 'zset', {}, 'ZRANGE', 0, -1),
  read(WAITING, 'zset', 0, 'ZCARD'),
  read(SESIDX, 'zset', {}, 'ZRANGE', 0, -1),
}
read(NOTIFY, 'list', 0, 'LLEN')
local allocs = read(ALLOCS, 'string', '0', 'GET')
out[#out + 1] = wrong
out[#out + 1] = allocs
return out
