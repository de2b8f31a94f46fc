-- The shape check of task_enqueue and task_claim, expanded where a script includes "task_shape" (after "task").

-- check_shape answers an error reply when shape (a fingerprint of the
-- caller's params and result types and codec) is not the one recorded for
-- the queue, else nil. It only reads, so scripts call it with their other
-- checks, before their first write.
local function check_shape(shape)
  if shape == '' then return nil end
  local cur = redis.call('HGET', DATA, '#shape')
  if cur and cur ~= shape then
    return redis.error_reply('SHAPE queue records another params or result shape (' .. cur .. ')')
  end
  return nil
end

-- record_shape records shape for the queue when none is recorded yet: the
-- first caller that queues or claims a task binds the name to its shape.
local function record_shape(shape)
  if shape ~= '' then redis.call('HSETNX', DATA, '#shape', shape) end
end
