-- task_pause: pause or resume a queue: while paused, workers claim no task and submitters still queue.
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
-- ARGV[1] op: pause or resume
-- Returns 1 when the queue's state changed, 0 when it was paused (resumed) already.
-- Errors: INVALID, CORRUPT
-- @include task
-- @include task_queue
-- The paused flag is the field #paused of the data hash, which task_claim
-- reads with the fields it reads anyway.
local op = ARGV[1]
if op ~= 'pause' and op ~= 'resume' then
  return redis.error_reply('INVALID malformed pause arguments')
end
local cur = read('HGET', DATA, '#paused')
if cur and cur ~= '1' then corrupt(DATA, 'field #paused holds no flag') end
if op == 'pause' then
  if cur then return 0 end
  redis.call('HSET', DATA, '#paused', '1')
  return 1
end
if not cur then return 0 end
-- Wake every idle worker: they registered while the queue was paused and
-- sleep until a task is queued or their registration ends.
local idle = read('ZRANGEBYSCORE', IDLE, '(' .. fmt(now_ms()), '+inf')
want(WAKE, 'list')
redis.call('HDEL', DATA, '#paused')
if #idle > 0 then
  redis.call('DEL', IDLE)
  for i = 1, #idle do redis.call('LPUSH', WAKE, '1') end
end
return 1
