-- The shape record of task_enqueue and task_claim, expanded where a script includes "task_shape" (after "task").

-- record_shape records shape for the queue when none is recorded yet: the
-- first caller that queues or claims a task binds the name to its shape.
local function record_shape(shape)
  if shape ~= '' then redis.call('HSETNX', DATA, '#shape', shape) end
end
