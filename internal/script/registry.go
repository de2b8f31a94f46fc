package script

// Scripts that belong to no feature. Each file's header (lua/<name>.lua) is
// its contract.
var (
	// Ceiling is the trivial script benchmarks compare against: one round
	// trip through EVALSHA that does no work.
	Ceiling = register("ceiling")
	// Ping reads the server clock inside a read-only script. Health checks
	// use it to prove the scripting path works end to end.
	Ping = register("ping")
)
