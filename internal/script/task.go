package script

// Task scripts. Each runs over the keys of one queue (one task name, all
// sharing its hash tag), named by lua/lib/task.lua; each file's header
// (lua/task_*.lua) is its contract.
var (
	TaskEnqueue   = register("task_enqueue")
	TaskClaim     = register("task_claim")
	TaskHeartbeat = register("task_heartbeat")
	TaskProgress  = register("task_progress")
	TaskFinish    = register("task_finish")
	TaskRead      = register("task_read")
	TaskCancel    = register("task_cancel")
	TaskRequeue   = register("task_requeue")
	TaskInspect   = register("task_inspect")
)

// CodeShape reports a task queue used with another params or result shape
// than the one recorded for its name.
const CodeShape Code = "SHAPE"

// Task scripts of operators and schedulers.
var (
	TaskList     = register("task_list")
	TaskShow     = register("task_show")
	TaskDelete   = register("task_delete")
	TaskPromote  = register("task_promote")
	TaskPause    = register("task_pause")
	TaskSchedule = register("task_schedule")
)
