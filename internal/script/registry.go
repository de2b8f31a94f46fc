package script

// Ceiling is the trivial script benchmarks compare against: one round trip
// through EVALSHA that does no work.
var Ceiling = register(&Script{
	Name: "ceiling",
	Keys: []string{"any key of the caller's namespace; it only routes the call to a cluster node"},
})

// Ping reads the server clock inside a read-only script. Health checks use
// it to prove the scripting path works end to end.
var Ping = register(&Script{
	Name:     "ping",
	Keys:     []string{"any key of the caller's namespace; it only routes the call to a cluster node"},
	ReadOnly: true,
})
