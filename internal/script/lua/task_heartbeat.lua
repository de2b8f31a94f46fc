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
-- ARGV[2] op: beat, or stop to leave the registry
-- ARGV[3] heartbeat ttl in ms, at least 1
-- ARGV[4] lease ttl in ms, at least 1
-- ARGV[5] the tasks the worker runs: "id\0attempt\0id\0attempt...", or empty
-- Returns one code per task: 0 no longer held, 1 held, 2 held and cancellation requested.
-- Errors: INVALID
-- @include task
local worker, op, hb, lease, tasks = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local list = {}
local pos = 1
while pos <= #tasks do
  local e = string.find(tasks, '\0', pos, true) or (#tasks + 1)
  list[#list + 1] = string.sub(tasks, pos, e - 1)
  pos = e + 1
end
if worker == '' or (op ~= 'beat' and op ~= 'stop') or not hb or hb < 1 or not lease or lease < 1 or #list % 2 ~= 0 then
  return redis.error_reply('INVALID malformed heartbeat arguments')
end
local now = now_ms()
if op == 'stop' then
  redis.call('ZREM', WORKERS, worker)
else
  redis.call('ZADD', WORKERS, fmt(now + hb), worker)
end
local out = {}
local lease_end = fmt(now + lease)
for i = 1, #list, 2 do
  local id, attempt = list[i], list[i + 1]
  local m = get_meta(id)
  if m and m[F_STATUS] == 'r' and m[F_WORKER] == worker and m[F_ATTEMPT] == attempt then
    redis.call('ZADD', RUNNING, lease_end, id)
    if m[F_CANCEL] == '1' then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
return out
