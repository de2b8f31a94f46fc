-- task_heartbeat: keep a worker registered as live and extend the leases of the tasks it runs.
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
-- ARGV[1] worker id
-- ARGV[2] op: beat, join (beat and record the shape ARGV[6]), or stop to leave the registry
-- ARGV[3] heartbeat ttl in ms, at least 1
-- ARGV[4] lease ttl in ms, at least 1
-- ARGV[5] the tasks the worker runs: "id\0claim\0id\0claim...", or empty; a claim is "attempt:claimed at" (see claim_of)
-- ARGV[6] the worker's shape fingerprint (join only), or empty
-- Returns one code per task: 0 no longer held, 1 held, 2 held and cancellation requested.
-- Errors: INVALID, SHAPE, CORRUPT
-- @include task
local worker, op, hb, lease, tasks = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local list = {}
local pos = 1
while pos <= #tasks do
  local e = string.find(tasks, '\0', pos, true) or (#tasks + 1)
  list[#list + 1] = string.sub(tasks, pos, e - 1)
  pos = e + 1
end
if worker == '' or (op ~= 'beat' and op ~= 'join' and op ~= 'stop') or not hb or hb < 1 or not lease or lease < 1 or #list % 2 ~= 0 then
  return redis.error_reply('INVALID malformed heartbeat arguments')
end
local now = now_ms()
local shape = ''
if op == 'join' then shape = ARGV[6] end
if shape ~= '' then
  -- A worker of another shape may take over the name only when no other
  -- live worker runs the recorded one.
  local cur = read('HGET', DATA, '#shape')
  if cur and cur ~= shape then
    local live = read('ZCOUNT', WORKERS, '(' .. fmt(now), '+inf')
    local own = redis.call('ZSCORE', WORKERS, worker)
    if own and tonumber(own) > now then live = live - 1 end
    if live > 0 then
      return redis.error_reply('SHAPE live workers of queue run another params or result shape (' .. cur .. ')')
    end
  end
end
-- The records of the tasks, read (and checked) before the first write.
local metas = {}
for i = 1, #list, 2 do
  metas[i] = get_meta(list[i]) or false
end
if #list > 0 then want(RUNNING, 'zset') end
local lease_end = fmt(now + lease)
-- The first write: refused before it changes anything.
if op == 'stop' then
  checked('ZREM', WORKERS, worker)
else
  checked('ZADD', WORKERS, fmt(now + hb), worker)
end
if shape ~= '' then redis.call('HSET', DATA, '#shape', shape) end
local out = {}
for i = 1, #list, 2 do
  local id, claim, m = list[i], list[i + 1], metas[i]
  if m and m[F_STATUS] == 'r' and m[F_WORKER] == worker and claim_of(m) == claim then
    redis.call('ZADD', RUNNING, lease_end, id)
    if m[F_CANCEL] == '1' then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
return out
