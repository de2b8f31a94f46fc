-- task_schedule: add, remove, list and tick a queue's periodic tasks (schedules).
-- KEYS[1] schedules hash: name -> "next last priority timeout max-attempts\nspec\nparams"
-- ARGV[1] op: add, remove, list or tick
-- ARGV... add: name, spec, next run (ms), priority, timeout (ms), max attempts, params; remove: names; tick: name, the next run seen (ms), the run after it (ms)
-- Returns for add 1 (new) or 0 (replaced; an unchanged spec keeps its planned runs); for remove the number removed; for list {server time in ms, [name, record] x schedules}; for tick the record after the tick, or false when another scheduler took the run (or the schedule is gone).
-- Errors: INVALID, CORRUPT
-- @include common
-- Times are ms; last is 0 before the first run. A tick is a compare-and-set
-- of next: however many schedulers run, one of them takes each run.
local SCHED = KEYS[1]
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
    or not string.match(nxt, '^%d+$') or not string.match(prio, '^%-?%d+$')
    or not string.match(timeout, '^%d+$') or not string.match(max, '^%d+$') or #ARGV ~= 8 then
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
  local name, seen, after = ARGV[2], ARGV[3], ARGV[4]
  if not name or not string.match(seen or '', '^%d+$') or not string.match(after or '', '^%d+$') or #ARGV ~= 4 then
    return redis.error_reply('INVALID malformed schedule arguments')
  end
  local rec = checked('HGET', SCHED, name)
  if not rec then return false end
  local m = parse(name, rec)
  if m[1] ~= seen then return false end
  m[1], m[2] = after, seen
  rec = record(m)
  redis.call('HSET', SCHED, name, rec)
  return rec
end
return redis.error_reply('INVALID unknown schedule op')
