-- Wake-ups for the callers waiting on one task, expanded where a script includes "task_notify".
-- KEYS[12] is the task's notify list: every registered waiter gets one token.
-- @include task_queue
local NOTIFY = KEYS[12]

-- Tokens left for waiters that already gave up disappear with the list.
local NOTIFY_TTL = '10000'

-- want_notify checks, before the first write, the list notify(id) pushes
-- to: only when someone waits.
local function want_notify(id)
  if #waiters_of(id) > 0 then want(NOTIFY, 'list') end
end

-- Outcomes up to OUTCOME_MAX bytes, for up to OUTCOME_WAITERS waiters, ride
-- in the wake-ups themselves (see notify).
local OUTCOME_MAX, OUTCOME_WAITERS = 16384, 8

-- notify wakes every caller waiting on id, one element each. With the
-- outcome just recorded (status s, f or c, the attempt, and the result or
-- "kind\nmessage": what task_read would return of it), each element is
-- "<waiter token>\0<status>\0<attempt>\0<payload>", so the caller who
-- pops its own spares itself the read; one who pops another's, or a
-- plain '1', reads. Tokens are unique per wait: an element left by a
-- caller who gave up never passes for another registration's outcome.
local function notify(id, status, attempt, payload)
  local ws = waiters_of(id)
  local n = take_waiters(id)
  if n == 0 then return end
  if status and n <= OUTCOME_WAITERS and #payload <= OUTCOME_MAX then
    local els, cut = {}, #id + 2
    for i, w in ipairs(ws) do
      els[i] = string.sub(w, cut) .. '\0' .. status .. '\0' .. attempt .. '\0' .. payload
    end
    redis.call('LPUSH', NOTIFY, unpack(els))
    redis.call('PEXPIRE', NOTIFY, NOTIFY_TTL)
    return
  end
  local tokens = {}
  for i = 1, math.min(n, 500) do tokens[i] = '1' end
  while n > 0 do
    local k = math.min(n, 500)
    redis.call('LPUSH', NOTIFY, unpack(tokens, 1, k))
    n = n - k
  end
  redis.call('PEXPIRE', NOTIFY, NOTIFY_TTL)
end
