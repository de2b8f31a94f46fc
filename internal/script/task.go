package script

// CodeShape reports a task queue used with another params or result shape
// than the one recorded for its name.
const CodeShape Code = "SHAPE"

// taskKeys are the keys of every task script, in this order; the task
// library (lua/lib/task.lua) names them. All belong to one queue (one task
// name) and share its hash tag.
var taskKeys = []string{
	"ready set", "delayed set", "running set", "dead-letter set", "expiry set", "task data",
	"waiters", "owned index", "workers", "idle workers", "wake-up list",
}

// taskKeysNotify adds the notify list of the one task a script changes.
var taskKeysNotify = append(append([]string{}, taskKeys...), "the task's notify list")

// Task scripts. Each runs over the keys of one queue; see the .lua headers
// for ARGV and replies.
var (
	TaskEnqueue = register(&Script{
		Name: "task_enqueue",
		Keys: taskKeys,
		Args: []string{
			"task id",
			"encoded params",
			"priority from -2048 to 2047",
			"delay in ms before the task is due, 0 for now",
			"timeout in ms counted from when the task is due, at least 1",
			"max attempts, at least 1",
			"retention of a finished record in ms, at least 1",
			"retention of a failed record in ms, at least 1",
			"trace context or empty",
			"waiter token to register, or empty",
			"1 to queue only while a worker is live (policy Auto), else 0",
			"housekeeping budget: expired records deleted first",
			"the caller's shape fingerprint, or empty for no check",
		},
		Errors: []Code{CodeInvalid, CodeShape},
	})
	TaskClaim = register(&Script{
		Name: "task_claim",
		Keys: taskKeys,
		Args: []string{
			"worker id",
			"count n, at least 1",
			"lease ttl in ms, at least 1",
			"housekeeping budget: expired records, due delayed tasks and lapsed leases handled first",
			"fetcher token to register as idle when fewer than n tasks are due, or empty",
			"idle registration ttl in ms",
			"1 when the fetcher registered as idle at its last claim, else 0",
			"the worker's shape fingerprint, or empty for no check",
		},
		Errors: []Code{CodeInvalid, CodeShape},
	})
	TaskHeartbeat = register(&Script{
		Name: "task_heartbeat",
		Keys: taskKeys,
		Args: []string{
			"worker id",
			"op: beat, join (beat and record the shape ARGV[6]), or stop to leave the registry",
			"heartbeat ttl in ms, at least 1",
			"lease ttl in ms, at least 1",
			`the tasks the worker runs: "id\0attempt\0id\0attempt...", or empty`,
			"the worker's shape fingerprint (join only), or empty",
		},
		Errors: []Code{CodeInvalid, CodeShape},
	})
	TaskProgress = register(&Script{
		Name: "task_progress",
		Keys: taskKeysNotify,
		Args: []string{
			"task id",
			"worker id",
			"the attempt the worker runs",
			"current progress, a number",
			"total, a number",
		},
		Errors: []Code{CodeNotHeld, CodeInvalid},
	})
	TaskFinish = register(&Script{
		Name: "task_finish",
		Keys: taskKeysNotify,
		Args: []string{
			"task id",
			"worker id",
			"the attempt the worker ran",
			"outcome: ok, err (retried while attempts and time remain), fatal (never retried), release (queued again, attempt not counted)",
			`the encoded result (ok) or "kind\nmessage" (err, fatal)`,
			"backoff in ms before the next attempt (err only)",
		},
		Errors: []Code{CodeNotHeld, CodeInvalid},
	})
	TaskRead = register(&Script{
		Name: "task_read",
		Keys: taskKeys,
		Args: []string{
			"task id",
			"waiter token to register while the task runs (and its progress is at most ARGV[4]), or empty",
			"1 to delete a finished record once read (once; by the last of the callers waiting when it finished), else 0",
			"the progress sequence the waiter has seen, or -1 to wait for the end only",
			"1 to return the result, else 0",
		},
		Errors: []Code{CodeInvalid},
	})
	TaskCancel = register(&Script{
		Name: "task_cancel",
		Keys: taskKeysNotify,
		Args: []string{
			"task id",
			"mode: cancel, or withdraw (cancel only a pending task and leave a running one alone)",
		},
		Errors: []Code{CodeInvalid},
	})
	TaskRequeue = register(&Script{
		Name: "task_requeue",
		Keys: taskKeys,
		Args: []string{"task id", "..."},
	})
	TaskInspect = register(&Script{
		Name: "task_inspect",
		Keys: taskKeys,
		Args: []string{
			"op: stats or dead",
			"offset into the dead-letter set, oldest first (dead only)",
			"page size, at least 1 (dead only)",
		},
		Errors:   []Code{CodeInvalid},
		ReadOnly: true,
	})
)
