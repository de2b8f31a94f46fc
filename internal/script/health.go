package script

// Health error codes.
const (
	// CodeSessionExists: a live session already has the id.
	CodeSessionExists Code = "SESSION_EXISTS"
	// CodeNotRegistered: the session is not (or no longer) registered.
	CodeNotRegistered Code = "NOT_REGISTERED"
)

// Health scripts: the worker-session registry of one group and the probe
// strike counts of one pool. Each file's header (lua/health_*.lua) is its
// contract.
var (
	HealthRegister = register("health_register")
	HealthBeat     = register("health_beat")
	HealthLeave    = register("health_leave")
	HealthReap     = register("health_reap")
	HealthList     = register("health_list")
	HealthStrike   = register("health_strike")
)
