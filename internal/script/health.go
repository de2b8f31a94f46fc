package script

// Health error codes.
const (
	// CodeSessionExists: a live session already has the id.
	CodeSessionExists Code = "SESSION_EXISTS"
	// CodeNotRegistered: the session is not (or no longer) registered.
	CodeNotRegistered Code = "NOT_REGISTERED"
)

var healthWorkerKeys = []string{"workers: session id -> heartbeat deadline (ms)", "worker metadata: session id -> JSON"}

// Health scripts: the worker-session registry of one group and the probe
// strike counts of one pool.
var (
	HealthRegister = register(&Script{
		Name:   "health_register",
		Keys:   healthWorkerKeys,
		Args:   []string{"session id", "timeout in ms, at least 1", "metadata JSON"},
		Errors: []Code{CodeSessionExists, CodeInvalid},
	})
	HealthBeat = register(&Script{
		Name:   "health_beat",
		Keys:   healthWorkerKeys[:1],
		Args:   []string{"session id", "timeout in ms, at least 1"},
		Errors: []Code{CodeNotRegistered, CodeInvalid},
	})
	HealthLeave = register(&Script{
		Name: "health_leave",
		Keys: healthWorkerKeys,
		Args: []string{"session id"},
	})
	HealthReap = register(&Script{
		Name:   "health_reap",
		Keys:   healthWorkerKeys,
		Args:   []string{"grace in ms, at least 0", "budget: at most this many sessions, at least 1"},
		Errors: []Code{CodeInvalid},
	})
	HealthList = register(&Script{
		Name:     "health_list",
		Keys:     healthWorkerKeys,
		ReadOnly: true,
	})
	HealthStrike = register(&Script{
		Name:   "health_strike",
		Keys:   []string{"strikes: member -> failed probes in a row"},
		Args:   []string{"member", "op: fail or clear"},
		Errors: []Code{CodeInvalid},
	})
)
