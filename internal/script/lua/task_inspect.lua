-- task_inspect: a queue's counts or a page of its dead-letter set.
-- KEYS[1] ready set
-- KEYS[2] delayed set
-- KEYS[3] running set
-- KEYS[4] dead-letter set
-- KEYS[5] expiry set
-- KEYS[6] task data
-- KEYS[7] waiters
-- KEYS[8] owned index
-- KEYS[9] workers
-- KEYS[10] idle workers
-- KEYS[11] wake-up list
-- KEYS[12] the queue's counters (see task_finish; read by stats)
-- ARGV[1] op: stats, dead or paused
-- ARGV[2] offset into the dead-letter set, oldest first (dead only)
-- ARGV[3] page size, at least 1 (dead only)
-- Returns for stats {ready, delayed, running, dead, live workers, records, {key, type} x wrong-typed keys, {succeeded, failed, retried, run ms} as stored (false when absent, {} when the key is wrong-typed)} (a wrong-typed key counts 0; every key is checked); for dead {id, failed at, meta, error} per task; for paused 1 or 0.
-- Errors: INVALID, CORRUPT
-- Read-only.
-- @include common
local READY, DELAYED, RUNNING, DEAD, EXPIRY, DATA, WORKERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[9]
local WAITERS, OWNED, IDLE, WAKE = KEYS[7], KEYS[8], KEYS[10], KEYS[11]
local op = ARGV[1]
if op == 'stats' then
  local now = fmt(now_ms())
  local wrong = {}
  -- count runs a count on key; a key of another type counts 0 and is
  -- reported, so that operators see the rest.
  local function count(cmd, key, ...) return tolerant_read(wrong, cmd, key, ...) end
  -- The keys Stats does not count, by type alone (one command each).
  local function check(key, want)
    local t = redis.call('TYPE', key).ok
    if t ~= want and t ~= 'none' then
      wrong[#wrong + 1] = key
      wrong[#wrong + 1] = t
    end
  end
  check(DATA, 'hash')
  check(WAITERS, 'zset')
  check(OWNED, 'zset')
  check(IDLE, 'zset')
  check(WAKE, 'list')
  return {
    count('ZCARD', READY), count('ZCARD', DELAYED), count('ZCARD', RUNNING), count('ZCARD', DEAD),
    count('ZCOUNT', WORKERS, '(' .. now, '+inf'), count('ZCARD', EXPIRY), wrong,
    -- A small hash apart from the data: reading it changes no DUMP.
    count('HMGET', KEYS[12], 's', 'f', 'r', 'ms'),
  }
end
if op == 'paused' then
  -- Not part of stats: a lookup in the data hash may move its rehashing
  -- on, which changes its DUMP, and stats must leave every DUMP as it was.
  local v = checked('HGET', DATA, '#paused')
  if v and v ~= '1' then corrupt(DATA, 'field #paused holds no flag') end
  if v then return 1 end
  return 0
end
local offset, count = tonumber(ARGV[2]), tonumber(ARGV[3])
if op ~= 'dead' or not offset or offset < 0 or not count or count < 1 then
  return redis.error_reply('INVALID malformed inspect arguments')
end
local page = checked('ZRANGE', DEAD, fmt(offset), fmt(offset + count - 1), 'WITHSCORES')
local out = {}
for i = 1, #page, 2 do
  local id = page[i]
  out[#out + 1] = id
  out[#out + 1] = page[i + 1]
  out[#out + 1] = checked('HGET', DATA, 'm:' .. id) or ''
  out[#out + 1] = redis.call('HGET', DATA, 'e:' .. id) or ''
end
return out
