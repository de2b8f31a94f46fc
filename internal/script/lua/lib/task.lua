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
--                          params and result (see record_shape)
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
-- The pattern checks each field's form: status one of p r s f c, cancel 0 or
-- 1, worker any token, every other field an integer (the length check below
-- keeps them within what INCR accepts, as is_int does). Literal checks, no
-- tables: a table built in the prelude costs every call of every script.
local META = '^([prsfc]) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%S+) ([01]) (%-?%d+) (%-?%d+) (%-?%d+)$'

-- parse_meta splits a meta record into its fields, or returns nil when it
-- is not one our scripts write (task/task.go parseMeta reads the same).
local function parse_meta(rec)
  local m = {string.match(rec, META)}
  if #m ~= 13 or #m[2] > 18 or #m[3] > 18 or #m[4] > 18 or #m[5] > 18 or #m[6] > 18 or #m[7] > 18
    or #m[8] > 18 or #m[11] > 18 or #m[12] > 18 or #m[13] > 18 then
    return nil
  end
  return m
end

-- meta_of parses id's meta record rec (nil when absent); a record that
-- does not parse stops the script.
local function meta_of(id, rec)
  if not rec then return nil end
  local m = parse_meta(rec)
  if not m then corrupt(DATA, 'field m:' .. id .. ' holds no task record') end
  return m
end

local function get_meta(id)
  return meta_of(id, checked('HGET', DATA, 'm:' .. id))
end

-- progress_seq reads the sequence number of id's progress record g
-- ("seq current total updated"), 0 when there is none; garbage stops the
-- script.
local function progress_seq(id, g)
  if not g then return 0 end
  local seq, cur, total, at = string.match(g, '^(%d+) (%S+) (%S+) (%d+)$')
  if not is_int(seq) or not tonumber(cur) or not tonumber(total) or not is_int(at) then
    corrupt(DATA, 'field g:' .. id .. ' holds no progress record')
  end
  return tonumber(seq)
end

-- Hostile state stops a script before its first write (Redis does not roll
-- back). Scripts check the records they will read as they read them (above),
-- and the type of each key they will write with want, once per key: a
-- key read with read (a command that refuses other types) counts as
-- checked. Reads come first, then writes.
local typed = {}

local function want(key, t)
  if not typed[key] then
    want_type(key, t)
    typed[key] = true
  end
end

local function read(cmd, key, ...)
  local r = checked(cmd, key, ...)
  typed[key] = true
  return r
end

-- check_seq checks the enqueue sequence counter (#seq in the data hash):
-- v is its value as a read gave it (false when absent), or nil to read it.
local seq_ok = false
local function check_seq(v)
  if seq_ok then return end
  if v == nil then v = read('HGET', DATA, '#seq') end
  if v and not is_int(v) then corrupt(DATA, 'field #seq holds no integer') end
  seq_ok = true
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
