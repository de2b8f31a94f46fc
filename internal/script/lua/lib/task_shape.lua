-- The shape check of task_enqueue and task_claim, expanded where a script includes "task_shape" (after "task").

-- check_shape answers an error reply when shape (a fingerprint of the
-- caller's params and result types and codec) is not the one recorded for
-- the queue, else nil; the first caller records its shape. Scripts call it
-- before their first other write.
local function check_shape(shape)
  if shape == '' then return nil end
  local cur = redis.call('HGET', DATA, '#shape')
  if not cur then
    redis.call('HSET', DATA, '#shape', shape)
  elseif cur ~= shape then
    return redis.error_reply('SHAPE queue records another params or result shape (' .. cur .. ')')
  end
  return nil
end
