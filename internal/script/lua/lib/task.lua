-- Core helpers of the task_* scripts, expanded where a script includes "task".
-- @include common
-- One queue holds the tasks of one task name. Key roles, the same in every task script:
--   KEYS[1] ready    zset  id -> (2047 - priority) * 2^41 + enqueue sequence: lowest is taken first
--   KEYS[2] delayed  zset  id -> when it becomes due (ms): delayed tasks and retries in backoff
--   KEYS[3] running  zset  id -> lease deadline (ms)
--   KEYS[4] dead     zset  id -> when it failed for good (ms): the dead-letter set
--   KEYS[5] expiry   zset  id -> when its record is deleted (ms); every record has one
--   KEYS[6] data     hash  m:<id> meta record, p:<id> params, r:<id> result, e:<id> "kind\nmessage",
--                          g:<id> progress "seq current total updated", t:<id> trace context,
--                          #seq the enqueue sequence, #shape the shape fingerprint of the name's
--                          params and result (see check_shape)
--   KEYS[7] waiters  zset  "<id>\0<waiter token>" at score 0: callers blocked on the task's notify list
--   KEYS[8] owned    zset  "<worker>\0<id>" at score 0: running tasks by worker
--   KEYS[9] workers  zset  worker id -> heartbeat deadline (ms): the live-worker registry
--   KEYS[10] idle    zset  fetcher token -> registration end (ms): workers blocked on the wake list
--   KEYS[11] wake    list  wake-up tokens for idle workers
local READY, DELAYED, RUNNING, DEAD, EXPIRY, DATA, WAITERS, OWNED, WORKERS, IDLE, WAKE =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]

-- A meta record is 13 space-separated fields, kept as a Lua array of strings
-- so that only the fields a script changes are formatted again. Times are ms.
-- Status: p pending (ready or delayed), r running, s succeeded, f failed, c canceled.
local F_STATUS, F_ATTEMPT, F_MAX, F_PRIO, F_DEADLINE, F_TIMEOUT, F_RETENTION, F_KEEP = 1, 2, 3, 4, 5, 6, 7, 8
local F_WORKER, F_CANCEL, F_CREATED, F_STARTED, F_FINISHED = 9, 10, 11, 12, 13 -- worker '-' when none, cancel '0'/'1'
local META = '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$'

local function parse_meta(rec)
  local m = {string.match(rec, META)}
  if #m ~= 13 then return nil end
  return m
end

local function get_meta(id)
  local rec = redis.call('HGET', DATA, 'm:' .. id)
  if not rec then return nil end
  return parse_meta(rec)
end

-- claim_of is what a worker holds a running task by: "attempt:started",
-- its attempt and the server time (ms) at which the claim was made. The
-- time tells a claim a server lost (an AOF tail, a lagging replica) from a
-- later claim of the same worker with the same attempt number: like a
-- fence, it goes on above what the lost server handed out unless the
-- clock stepped back by more than the loss. Within one server's life the
-- attempt number alone tells claims apart.
local function claim_of(m)
  return m[F_ATTEMPT] .. ':' .. m[F_STARTED]
end

local function num(m, f)
  return tonumber(m[f])
end

local function final(status)
  return status == 's' or status == 'f' or status == 'c'
end
