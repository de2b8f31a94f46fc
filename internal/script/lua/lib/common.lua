-- Helpers every feature's scripts share, expanded where a script (or a library) includes "common".
-- Only local functions at the top level: each costs a closure per call and nothing else.

-- now_ms reads the server clock (TIME) in whole milliseconds, rounded down:
-- the one rule for clock readings in every script. It is the clock Redis
-- itself expires PX keys by (mstime() truncates too), so a deadline stored as
-- now_ms() + ttl and a key set with PX ttl in the same call end together.
-- TTLs are whole milliseconds already: Go rounds durations up before sending.
local function now_ms()
  local t = redis.call('TIME')
  local seconds, micros = tonumber(t[1]), tonumber(t[2])
  return seconds * 1000 + math.floor(micros / 1000)
end

-- fmt formats a whole number for redis.call and for stored records: Redis and
-- miniredis format Lua floats differently, and plain concatenation switches
-- to exponent notation from 1e14.
local function fmt(n)
  return string.format('%.0f', n)
end

-- corrupt stops the script on hostile state: a key of the wrong type, or a
-- value none of our scripts writes (a counter that is no integer, a record
-- that does not parse). Redis does not roll back, so a script calls it (or
-- a check below) only before its first write. The reply reads
-- "CORRUPT <key> <why>"; internal/redisx finds it in the text Redis wraps
-- around a raised error, and each package maps it to its ErrCorrupt.
local function corrupt(key, why)
  error('CORRUPT ' .. key .. ' ' .. why, 0)
end

-- want_type stops the script unless key is absent or holds a t (a TYPE
-- reply: string, hash, zset, list, set, stream). Each costs one command:
-- scripts use it for the keys they would otherwise first touch with a write.
local function want_type(key, t)
  local got = redis.call('TYPE', key).ok
  if got ~= t and got ~= 'none' then corrupt(key, 'is a ' .. got .. ', want a ' .. t) end
end

-- checked runs a command on key and stops the script when Redis refuses it
-- for the key's type: the read a script does anyway is its type check. Use
-- it only for commands that fail before changing anything (reads, or a
-- script's first write).
local function checked(cmd, key, ...)
  local r = redis.pcall(cmd, key, ...)
  if type(r) == 'table' and r.err then corrupt(key, 'is a ' .. redis.call('TYPE', key).ok .. ' (' .. cmd .. ': ' .. r.err .. ')') end
  return r
end

-- is_int reports whether s is the decimal text of an integer INCR accepts.
local function is_int(s)
  return type(s) == 'string' and #s <= 18 and string.match(s, '^%-?%d+$') ~= nil
end

-- read_counter reads a counter kept with INCR: 0 when absent; it stops the
-- script when the key holds anything but an integer.
local function read_counter(key)
  local v = checked('GET', key)
  if not v then return 0 end
  if not is_int(v) then corrupt(key, 'holds no integer') end
  return tonumber(v)
end

-- tolerant_read runs a read for an operator's view (stats): on a key of
-- another type it appends the key and its type to wrong and answers 0, so
-- the view reports hostile state instead of failing on it.
local function tolerant_read(wrong, cmd, key, ...)
  local r = redis.pcall(cmd, key, ...)
  if type(r) == 'table' and r.err then
    wrong[#wrong + 1] = key
    wrong[#wrong + 1] = redis.call('TYPE', key).ok
    return 0
  end
  return r
end
