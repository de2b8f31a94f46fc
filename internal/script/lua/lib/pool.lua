-- Shared read helpers of the pool_* scripts, expanded where a script includes "pool".
-- @include common
-- @include pool_record
-- Key roles, the same in every pool script:
--   KEYS[1] free       zset  member -> score (priority band, then least recently freed first)
--   KEYS[2] holders    hash  member -> lease record "token fence deadline session mark expired"
--   KEYS[3] unhealthy  hash  member -> quarantined until (ms)
--   KEYS[4] timers     zset  "l:member" lease end, "e:member" member expiry,
--                            "u:member" quarantine end, "b:name" binding expiry -> ms
--   KEYS[5] prio       hash  member -> priority (only when not 0)
--   KEYS[6] values     hash  member -> encoded value
--   KEYS[7] fence      string, the fencing counter (never deleted)
--   KEYS[8] bind       hash  name -> "expiry member" (expiry 0 = never)
--   KEYS[9] bindidx    zset  "member\0name" at score 0, the reverse index of bind
--   KEYS[10] notify    list  wake-up tokens for waiting mallocs
--   KEYS[11] waiting   zset  holder token of each waiting malloc -> when it (re)registered (ms)
--   KEYS[12] sesidx    zset  "session\0member" at score 0: the leases of each worker session
--   KEYS[13] allocs    string, leases granted ever (INCRBY once per malloc run; never
--                      deleted): what dashboards take rates from, since fences jump
-- Timers also hold "s:session", the moment a worker session is dead unless its
-- heartbeat pushes it on; when it fires, the session's leases are reclaimed.
local FREE, HOLDERS, UNHEALTHY, TIMERS, PRIO, VALUES, FENCE, BIND, BINDIDX, NOTIFY, WAITING, SESIDX, ALLOCS =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]

-- prio_of reads m's priority; one that is no priority is hostile state.
local function prio_of(m)
  local p = redis.call('HGET', PRIO, m)
  if not p then return 0 end
  local n = tonumber(p)
  if not is_int(p) or n < -2048 or n > 2047 then corrupt(PRIO, 'field ' .. m .. ' holds no priority') end
  return n
end

-- parse_lease reads m's lease record rec into a table; fence stays a
-- string. A record that does not parse is hostile state.
local function parse_lease(m, rec)
  local tok, fence, dl, sess, mark, exp = string.match(rec, '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  if not (is_int(fence) and is_int(dl) and is_int(mark)) or (exp ~= '0' and exp ~= '1') then
    corrupt(HOLDERS, 'field ' .. m .. ' holds no lease record')
  end
  return {token = tok, fence = fence, deadline = tonumber(dl), session = sess, mark = tonumber(mark), expired = exp}
end

-- state returns 'free', 'held', 'unhealthy' or nil for a non-member.
local function state(m)
  if checked('ZSCORE', FREE, m) then return 'free' end
  if checked('HEXISTS', HOLDERS, m) == 1 then return 'held' end
  if checked('HEXISTS', UNHEALTHY, m) == 1 then return 'unhealthy' end
  return nil
end

-- until_of reads m's quarantine end u (the unhealthy hash's value).
local function until_of(m, u)
  if not is_int(u) then corrupt(UNHEALTHY, 'field ' .. m .. ' holds no time') end
  return tonumber(u)
end

-- binding_of reads the record b of binding name: its expiry and member.
local function binding_of(name, b)
  local exp, m = string.match(b, '^(%S+) (.+)$')
  if not is_int(exp) then corrupt(BIND, 'field ' .. name .. ' holds no binding') end
  return tonumber(exp), m
end

-- pool_checked is set once check_pool has run in this call.
local pool_checked = false

-- check_pool stops the script when a pool key holds the wrong type or the
-- fencing counter no integer: scripts off the hot path call it before
-- their first write (twelve commands), hot paths check what they touch.
-- The allocation counter is not among them: only the mallocs write it, and
-- they check it themselves, so a garbled statistic stops new leases but
-- never a release, GC or an administrator's repair.
local function check_pool()
  if pool_checked then return end
  want_type(FREE, 'zset')
  want_type(HOLDERS, 'hash')
  want_type(UNHEALTHY, 'hash')
  want_type(TIMERS, 'zset')
  want_type(PRIO, 'hash')
  want_type(VALUES, 'hash')
  want_type(BIND, 'hash')
  want_type(BINDIDX, 'zset')
  want_type(NOTIFY, 'list')
  want_type(WAITING, 'zset')
  want_type(SESIDX, 'zset')
  read_counter(FENCE)
  pool_checked = true
end

-- check_member stops the script when m's lease record, quarantine end or
-- priority is garbage: scripts call it, before their first write, for each
-- member whose records they will read.
local function check_member(m)
  local rec = redis.call('HGET', HOLDERS, m)
  if rec then parse_lease(m, rec) end
  local u = redis.call('HGET', UNHEALTHY, m)
  if u then until_of(m, u) end
  prio_of(m)
end

local function member_expired(m, now)
  local e = redis.call('ZSCORE', TIMERS, 'e:' .. m)
  return e and tonumber(e) <= now
end

-- CHUNK bounds the values one redis.call takes from a table: Lua's unpack
-- fails near 8000. It is even, so member/score pairs stay whole.
local CHUNK = 4000

-- call_chunked runs redis.call(cmd, key, ...) over the values of list in
-- slices of at most CHUNK and returns the replies' elements joined (HMGET's
-- false for a missing field included). A key of the wrong type stops the
-- script at the first slice (see checked).
local function call_chunked(cmd, key, list)
  local out = {}
  for i = 1, #list, CHUNK do
    local r = checked(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
    if type(r) == 'table' then
      for j = 1, #r do out[#out + 1] = r[j] end
    end
  end
  return out
end
