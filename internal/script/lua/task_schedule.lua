-- task_schedule: add, remove, list and tick a queue's periodic tasks (schedules); a tick queues the run.
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
-- KEYS[12] schedules hash: name -> "next last priority timeout max-attempts\nspec\nparams"
-- ARGV[1] op: add, remove, list or tick
-- ARGV... add: name, spec, next run (ms), priority, timeout (ms), max attempts, params; remove: names; tick: name, the next run seen (ms), the run after it (ms), retention of a finished record (ms), retention of a failed one (ms), shape fingerprint or empty
-- Returns for add 1 (new) or 0 (replaced; an unchanged spec keeps its planned runs); for remove the number removed; for list {server time in ms, [name, record] x schedules}; for tick {1 when the run was queued (0: a task with its id is pending or running), the record after the tick}, or false when another scheduler took the run (or the schedule is gone).
-- Errors: INVALID, SHAPE, CORRUPT
-- @include task
-- @include task_queue
-- @include task_shape
-- Times are ms; last is 0 before the first run. A tick is a compare-and-set
-- of next and the queueing of the run as the task "<name>@<next>", in one
-- step: however many schedulers run, one of them takes each run, and a
-- taken run is queued.
local SCHED = KEYS[12]
local REC = '^(%d+) (%d+) (%-?%d+) (%d+) (%d+)\n([^\n]*)\n(.*)$'
local op = ARGV[1]

local function parse(name, rec)
  local m = {string.match(rec, REC)}
  if #m ~= 7 or m[6] == '' then corrupt(SCHED, 'field ' .. name .. ' holds no schedule') end
  return m
end

local function record(m)
  return table.concat({m[1], m[2], m[3], m[4], m[5]}, ' ') .. '\n' .. m[6] .. '\n' .. m[7]
end

if op == 'list' then
  local all = checked('HGETALL', SCHED)
  local out = {now_ms()}
  for i = 1, #all, 2 do
    parse(all[i], all[i + 1])
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
  return out
elseif op == 'add' then
  local name, spec, nxt, prio, timeout, max, params = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  if not name or name == '' or not params or spec == '' or string.find(spec, '\n', 1, true)
    or not string.match(nxt, '^%d+$') or not string.match(prio, '^%-?%d+$') or math.abs(tonumber(prio) + 0.5) > 2048
    or not string.match(timeout, '^[1-9]%d*$') or not string.match(max, '^[1-9]%d*$') or #ARGV ~= 8 then
    return redis.error_reply('INVALID malformed schedule arguments')
  end
  local old = checked('HGET', SCHED, name)
  local m = {nxt, '0', prio, timeout, max, spec, params}
  if old then
    local o = parse(name, old)
    if o[6] == spec then m[1], m[2] = o[1], o[2] end
  end
  redis.call('HSET', SCHED, name, record(m))
  if old then return 0 end
  return 1
elseif op == 'remove' then
  if #ARGV < 2 then return redis.error_reply('INVALID malformed schedule arguments') end
  return checked('HDEL', SCHED, unpack(ARGV, 2))
elseif op == 'tick' then
  local name, seen, after, retention, keep, shape = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  if #ARGV ~= 7 or not string.match(seen, '^%d+$') or not string.match(after, '^%d+$')
    or not string.match(retention, '^[1-9]%d*$') or not string.match(keep, '^[1-9]%d*$') then
    return redis.error_reply('INVALID malformed schedule arguments')
  end
  local rec = checked('HGET', SCHED, name)
  if not rec then return false end
  local m = parse(name, rec)
  if m[1] ~= seen then return false end
  local id = name .. '@' .. seen
  local f = read('HMGET', DATA, 'm:' .. id, '#shape', '#seq')
  if shape ~= '' and f[2] and f[2] ~= shape then
    return redis.error_reply('SHAPE queue records another params or result shape (' .. f[2] .. ')')
  end
  check_seq(f[3])
  local old = meta_of(id, f[1])
  local run = not old or final(old[F_STATUS])
  -- Reads and checks first (Redis does not roll back).
  if run then
    if old then want_drop(old) end
    want(EXPIRY, 'zset')
    want_ready()
  end
  m[1], m[2] = after, seen
  rec = record(m)
  redis.call('HSET', SCHED, name, rec)
  if not run then return {0, rec} end
  if old then drop(id) end
  local now = now_ms()
  local timeout = tonumber(m[4])
  local t = new_meta(m[5], m[3], now + timeout, m[4], retention, keep, now)
  redis.call('ZADD', EXPIRY, fmt(now + timeout + tonumber(retention)), id)
  record_shape(shape, f[2])
  put_meta(id, t, 'p:' .. id, m[7])
  make_ready(id, t, now)
  return {1, rec}
end
return redis.error_reply('INVALID unknown schedule op')
