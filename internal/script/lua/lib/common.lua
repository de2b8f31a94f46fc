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
