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

local function notify(id)
  local n = take_waiters(id)
  if n == 0 then return end
  local tokens = {}
  for i = 1, math.min(n, 500) do tokens[i] = '1' end
  while n > 0 do
    local k = math.min(n, 500)
    redis.call('LPUSH', NOTIFY, unpack(tokens, 1, k))
    n = n - k
  end
  redis.call('PEXPIRE', NOTIFY, NOTIFY_TTL)
end
