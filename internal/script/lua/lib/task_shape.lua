-- The shape record of task_enqueue and task_claim, expanded where a script includes "task_shape" (after "task").

-- record_shape records shape for the queue when none is recorded yet: the
-- first caller that queues or claims a task binds the name to its shape.
-- recorded is the #shape field as the caller read it (a command saved
-- when it is there already), or nil when not read.
local function record_shape(shape, recorded)
  if shape ~= '' and not recorded then redis.call('HSETNX', DATA, '#shape', shape) end
end
