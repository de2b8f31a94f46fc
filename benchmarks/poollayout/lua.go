package main

import (
	"strconv"

	"github.com/redis/rueidis"
)

// common is shared by every Lua candidate. A record is a state letter
// (F free, H held), then the layout's own part, then optional ",e<expiry
// ms base36>", ",p<priority>" (only when not 0) and ",l<lease>".
const common = `
local function b36(n)
  local d, s = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  repeat local r = n % 36; s = string.sub(d, r + 1, r + 1) .. s; n = math.floor(n / 36) until n == 0
  return s
end
local function field(rest, k) return string.match(rest, ',' .. k .. '([^,]*)') end
local function strip_lease(rest) return (string.gsub(rest, ',l[^,]*', '')) end
local function expiry_suffix(exp) if exp == '0' then return '' end return ',e' .. b36(tonumber(exp)) end
local function expired(rest, now) local e = field(rest, 'e'); return e ~= nil and tonumber(e, 36) <= now end
`

// listPrelude: KEYS[1] the records (one hash, or the prefix of NB bucket
// hashes), KEYS[2] the bands zset (member = priority, score = -priority),
// KEYS[3] the prefix of one LIST per band. The layout part of a record is
// n, how many list entries name the member: a popped entry is the live one
// only when the record is free and n drops to 0 (older entries are stale,
// left behind by MallocMember or Remove, and skipped).
func listPrelude(bucketed bool) string {
	b := "false"
	if bucketed {
		b = "true"
	}
	return common + `
local BUCKETED, NB = ` + b + `, ` + strconv.Itoa(*nb) + `
local function rkey(m)
  if not BUCKETED then return KEYS[1] end
  local h = 5381
  for i = 1, #m do h = (h * 33 + string.byte(m, i)) % 4294967296 end
  return KEYS[1] .. ':' .. (h % NB)
end
local function parse(rec)
  local st, n, rest = string.match(rec, '^([FH])(%d+)(.*)$')
  if not st then error('corrupt record') end
  return st, tonumber(n), rest
end
`
}

func listScripts(bucketed bool) scripts {
	pre := listPrelude(bucketed)
	return scripts{
		keys: func(pfx string) []string {
			return []string{"{" + pfx + "}:r", "{" + pfx + "}:bands", "{" + pfx + "}:l:"}
		},
		load: rueidis.NewLuaScript(pre + `
local e = expiry_suffix(ARGV[1])
for i = 2, #ARGV do
  local m = ARGV[i]
  if redis.call('HSETNX', rkey(m), m, 'F1' .. e) == 1 then redis.call('RPUSH', KEYS[3] .. '0', m) end
end
redis.call('ZADD', KEYS[2], 0, '0')
return 1`),
		malloc: rueidis.NewLuaScript(pre + `
local now = tonumber(ARGV[1])
for _ = 1, 1000 do
  local b = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #b == 0 then return false end
  local m = redis.call('LPOP', KEYS[3] .. b[1])
  if not m then
    redis.call('ZREM', KEYS[2], b[1])
  else
    local rk = rkey(m)
    local rec = redis.call('HGET', rk, m)
    if rec then
      local st, n, rest = parse(rec)
      n = n - 1
      if st == 'F' and n == 0 then
        if expired(rest, now) then
          redis.call('HDEL', rk, m)
        else
          redis.call('HSET', rk, m, 'H0' .. rest .. ',l' .. ARGV[2])
          return m
        end
      else
        redis.call('HSET', rk, m, st .. n .. rest)
      end
    end
  end
end
return false`),
		mallocMember: rueidis.NewLuaScript(pre + `
local m = ARGV[3]
local rk = rkey(m)
local rec = redis.call('HGET', rk, m)
if not rec then return 0 end
local st, n, rest = parse(rec)
if st ~= 'F' or expired(rest, tonumber(ARGV[1])) then return 0 end
redis.call('HSET', rk, m, 'H' .. n .. rest .. ',l' .. ARGV[2])
return 1`),
		free: rueidis.NewLuaScript(pre + `
local m = ARGV[1]
local rk = rkey(m)
local rec = redis.call('HGET', rk, m)
if not rec then return redis.error_reply('not a member') end
local st, n, rest = parse(rec)
if st ~= 'H' or field(rest, 'l') ~= ARGV[2] then return redis.error_reply('not held') end
rest = strip_lease(rest)
local p = field(rest, 'p') or '0'
redis.call('HSET', rk, m, 'F' .. (n + 1) .. rest)
if redis.call('RPUSH', KEYS[3] .. p, m) == 1 then redis.call('ZADD', KEYS[2], -tonumber(p), p) end
return 1`),
	}
}

// linkPrelude: KEYS[1] the records hash, KEYS[2] the bands zset, KEYS[3] a
// hash of each band's head "h:<p>" and tail "t:<p>". A free record is
// "F<prev>\t<next>\t<rest>": a doubly linked free list per band through the
// records, as in the Python reference.
func linkPrelude(bucketed bool) string {
	b := "false"
	if bucketed {
		b = "true"
	}
	return common + `
local H, BANDS, META = KEYS[1], KEYS[2], KEYS[3]
local BUCKETED, NB = ` + b + `, ` + strconv.Itoa(*nb) + `
local function RK(m)
  if not BUCKETED then return H end
  local h = 5381
  for i = 1, #m do h = (h * 33 + string.byte(m, i)) % 4294967296 end
  return H .. ':' .. (h % NB)
end
local function parse_free(rec)
  local p, n, rest = string.match(rec, '^F([^\t]*)\t([^\t]*)\t(.*)$')
  return p, n, rest
end
local function setlink(m, which, v)
  local p, n, rest = parse_free(redis.call('HGET', RK(m), m))
  if which == 1 then p = v else n = v end
  redis.call('HSET', RK(m), m, 'F' .. p .. '\t' .. n .. '\t' .. rest)
end
local function append(m, band, rest)
  local t = redis.call('HGET', META, 't:' .. band)
  if t then setlink(t, 2, m) else
    redis.call('HSET', META, 'h:' .. band, m)
    redis.call('ZADD', BANDS, -tonumber(band), band)
  end
  redis.call('HSET', META, 't:' .. band, m)
  redis.call('HSET', RK(m), m, 'F' .. (t or '') .. '\t\t' .. rest)
end
local function unlink(m, band, p, n)
  if p ~= '' then setlink(p, 2, n)
  elseif n ~= '' then redis.call('HSET', META, 'h:' .. band, n)
  else
    redis.call('HDEL', META, 'h:' .. band, 't:' .. band)
    redis.call('ZREM', BANDS, band)
  end
  if n ~= '' then setlink(n, 1, p)
  elseif p ~= '' then redis.call('HSET', META, 't:' .. band, p) end
end
`
}

func linkScripts(bucketed bool) scripts {
	pre := linkPrelude(bucketed)
	return scripts{
		keys: func(pfx string) []string {
			return []string{"{" + pfx + "}:r", "{" + pfx + "}:bands", "{" + pfx + "}:meta"}
		},
		load: rueidis.NewLuaScript(pre + `
local e = expiry_suffix(ARGV[1])
for i = 2, #ARGV do
  if redis.call('HEXISTS', RK(ARGV[i]), ARGV[i]) == 0 then append(ARGV[i], '0', e) end
end
return 1`),
		malloc: rueidis.NewLuaScript(pre + `
local now = tonumber(ARGV[1])
for _ = 1, 1000 do
  local b = redis.call('ZRANGE', BANDS, 0, 0)
  if #b == 0 then return false end
  local m = redis.call('HGET', META, 'h:' .. b[1])
  local _, n, rest = parse_free(redis.call('HGET', RK(m), m))
  unlink(m, b[1], '', n)
  if expired(rest, now) then
    redis.call('HDEL', RK(m), m)
  else
    redis.call('HSET', RK(m), m, 'H' .. rest .. ',l' .. ARGV[2])
    return m
  end
end
return false`),
		mallocMember: rueidis.NewLuaScript(pre + `
local m = ARGV[3]
local rec = redis.call('HGET', RK(m), m)
if not rec or string.sub(rec, 1, 1) ~= 'F' then return 0 end
local p, n, rest = parse_free(rec)
if expired(rest, tonumber(ARGV[1])) then return 0 end
unlink(m, field(rest, 'p') or '0', p, n)
redis.call('HSET', RK(m), m, 'H' .. rest .. ',l' .. ARGV[2])
return 1`),
		free: rueidis.NewLuaScript(pre + `
local m = ARGV[1]
local rec = redis.call('HGET', RK(m), m)
if not rec or string.sub(rec, 1, 1) ~= 'H' then return redis.error_reply('not held') end
local rest = string.sub(rec, 2)
if field(rest, 'l') ~= ARGV[2] then return redis.error_reply('not held') end
rest = strip_lease(rest)
append(m, field(rest, 'p') or '0', rest)
return 1`),
	}
}
