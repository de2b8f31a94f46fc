-- task_list: a page of a queue's tasks in one state, from a cursor, for operators.
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
-- ARGV[1] state: pending (ready), delayed, retrying, running, dead, succeeded or canceled
-- ARGV[2] cursor: empty for the first page, else the next cursor a page returned
-- ARGV[3] page size, 1 to 1000
-- Returns {next cursor (empty at the end), server time in ms, [id, score, meta, error, progress] x tasks}; score is the entry's score in the state's index (due time for delayed and retrying, failure time for dead, expiry for succeeded and canceled, empty for running).
-- Errors: INVALID, CORRUPT
-- Read-only.
-- @include task
-- Each state reads one index in a stable order, so a task that stays in its
-- state while pages are read is listed exactly once: a sorted set by
-- (score, id) for most states, the owned index by "worker\0id" for running
-- tasks (their lease deadlines move with every heartbeat). A cursor is the
-- last entry examined: "score id" or "worker\0id". A page examines at most
-- SCAN index entries, so a state that few entries match (succeeded tasks
-- among all records) may return short pages with a cursor to go on from.
local SCAN = 2000
local BATCH = 200
local state, cursor, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not limit or limit < 1 or limit > 1000 or limit ~= math.floor(limit) then
  return redis.error_reply('INVALID malformed list arguments')
end
local now = now_ms()

-- lex_less compares byte strings the way Redis orders equal scores (Lua's
-- own < follows the locale).
local function lex_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local out = {'', now}
local function add(id, score, m)
  local f = redis.call('HMGET', DATA, 'e:' .. id, 'g:' .. id)
  progress_seq(id, f[2])
  out[#out + 1] = id
  out[#out + 1] = score
  out[#out + 1] = table.concat(m, ' ')
  out[#out + 1] = f[1] or ''
  out[#out + 1] = f[2] or ''
end

-- scan_zset pages key by (score, id) from the cursor, keeping the tasks
-- whose record keep accepts.
local function scan_zset(key, keep)
  local min, after, after_score = '-inf', nil, nil
  if cursor ~= '' then
    local s, id = string.match(cursor, '^(%S+) (.+)$')
    if not s or not tonumber(s) then return redis.error_reply('INVALID malformed list cursor') end
    min, after, after_score = s, id, tonumber(s)
  end
  local got, seen, offset = 0, 0, 0
  local last
  while seen < SCAN do
    local batch = read('ZRANGEBYSCORE', key, min, '+inf', 'WITHSCORES', 'LIMIT', fmt(offset), fmt(BATCH))
    for i = 1, #batch, 2 do
      local id, score = batch[i], batch[i + 1]
      if not (after and tonumber(score) == after_score and not lex_less(after, id)) then
        seen = seen + 1
        last = score .. ' ' .. id
        local m = get_meta(id)
        if m and keep(m, score) then
          add(id, score, m)
          got = got + 1
          if got == limit or seen >= SCAN then
            out[1] = last
            return out
          end
        end
      end
    end
    if #batch < 2 * BATCH then return out end -- the end of the index
    offset = offset + BATCH
  end
  out[1] = last or cursor
  return out
end

local function scan_owned()
  local min = '-'
  if cursor ~= '' then min = '(' .. cursor end
  local got, seen = 0, 0
  while seen < SCAN do
    local batch = read('ZRANGEBYLEX', OWNED, min, '+', 'LIMIT', '0', fmt(BATCH))
    for _, o in ipairs(batch) do
      seen = seen + 1
      local w, id = string.match(o, '^([^%z]*)%z(.*)$')
      if w then
        local m = get_meta(id)
        if m and m[F_STATUS] == 'r' and m[F_WORKER] == w then
          add(id, '', m)
          got = got + 1
        end
      end
      min = '(' .. o
      if got == limit then
        out[1] = o
        return out
      end
    end
    if #batch < BATCH then return out end
  end
  out[1] = string.sub(min, 2)
  return out
end

if state == 'pending' then
  return scan_zset(READY, function(m) return m[F_STATUS] == 'p' end)
elseif state == 'delayed' then
  return scan_zset(DELAYED, function(m) return m[F_STATUS] == 'p' and m[F_ATTEMPT] == '0' end)
elseif state == 'retrying' then
  return scan_zset(DELAYED, function(m) return m[F_STATUS] == 'p' and m[F_ATTEMPT] ~= '0' end)
elseif state == 'dead' then
  return scan_zset(DEAD, function(m) return m[F_STATUS] == 'f' end)
elseif state == 'succeeded' then
  return scan_zset(EXPIRY, function(m, score) return m[F_STATUS] == 's' and tonumber(score) > now end)
elseif state == 'canceled' then
  return scan_zset(EXPIRY, function(m, score) return m[F_STATUS] == 'c' and tonumber(score) > now end)
elseif state == 'running' then
  return scan_owned()
end
return redis.error_reply('INVALID unknown task state')
