-- pool_free_fast: pool_free's common case at a fraction of its cost: when every entry is a plain release (held under that token, no session, no quarantine asked, no expiry passed, nobody waiting), release them all; otherwise write nothing and decline, for pool_free to run.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] timers
-- KEYS[4] priorities
-- KEYS[5] waiter set
-- ARGV[1] member
-- ARGV[2] holder token, empty to free whoever holds it, or "=" and a fence to free the lease only while it has that fence (administrators)
-- ARGV... repeats the entries above
-- Returns pool_free's reply (all 1), or 0 when it declined.
-- Errors: CORRUPT
-- @include pool_record
-- Anything out of the plain case, hostile state included, is left to
-- pool_free, which checks and reports it: this script raises CORRUPT only
-- for a key of the wrong type, found by the read or the first write that
-- touches it.
-- Key roles as in lib/pool.lua; five keys rather than the thirteen (each
-- key costs a call about a tenth of a one-line script).
local FREE, HOLDERS, TIMERS, PRIO, WAITING = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local sfmt = string.format
local n = #ARGV / 2
if #ARGV % 2 ~= 0 or n < 1 or n > 2000 then return 0 end -- unpack fails near 8000 values
local members = {}
for i = 1, n do members[i] = ARGV[2 * i - 1] end
local recs = checked('HMGET', HOLDERS, unpack(members))
local seen = {}
for i = 1, n do
  local m, rec, token = members[i], recs[i], ARGV[2 * i]
  if not rec or seen[m] then return 0 end
  seen[m] = true
  -- A plain lease record: "token fence deadline - 0 0" (lib/pool.lua).
  local tok, fence = string.match(rec, '^(%S+) (%d+) %d+ %- 0 0$')
  if not tok or #fence > 18 then return 0 end
  if not (token == '' or tok == token or (string.sub(token, 1, 1) == '=' and string.sub(token, 2) == fence)) then
    return 0
  end
end
local prios = checked('HMGET', PRIO, unpack(members))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A due timer may be one of these members' expiry; waiters want waking.
if checked('ZCOUNT', TIMERS, '-inf', sfmt('%d', now)) > 0 or redis.call('EXISTS', WAITING) == 1 then return 0 end
local free, timers, out = {}, {}, {}
for i = 1, n do
  local p, m = prios[i], members[i]
  if p then
    -- prio_of's rule: anything but a priority is pool_free's to report.
    if not string.match(p, '^%-?%d%d?%d?%d?$') then return 0 end
    p = tonumber(p)
    if p < -2048 or p > 2047 then return 0 end
  else
    p = 0
  end
  free[2 * i - 1] = free_score(p, now)
  free[2 * i] = m
  timers[i] = 'l:' .. m
  out[i] = 1
end
checked('ZADD', FREE, unpack(free)) -- the first write: refused whole on a wrong type
redis.call('HDEL', HOLDERS, unpack(members))
redis.call('ZREM', TIMERS, unpack(timers))
return out
