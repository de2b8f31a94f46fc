// Package health keeps a pool's resources and workers honest: worker
// sessions that heartbeat, whose pool leases come back as soon as the worker
// dies, and a checker that probes members and quarantines the bad ones.
//
// # Worker sessions
//
//	s, err := health.NewSession(ctx, client, "myapp", health.WithTimeout(5*time.Second))
//	go s.Run(ctx)                              // the heartbeat loop
//	defer s.Close(ctx)                         // ends Run, deregisters
//	a, err := p.Malloc(ctx, pool.InSession(s)) // p is a *pool.Pool[T]
//	work(a.Lease.Context())                    // ends if the session is lost
//
// A session registers a random id (or WithID) with host, pid, start time
// and labels; [Session.Run] heartbeats every interval. A session is a lease
// on the worker's liveness, kept with the module's one lease rule: its
// Context is cancelled when the heartbeat could not be renewed within the
// timeout, counted from the monotonic time the last successful heartbeat
// was sent, less a margin of 1% + 2ms, so a stalled process finds it
// cancelled (and [Session.Valid] false) before anyone else can be handed
// what it held. Pools that gave out leases InSession reclaim them once the
// session's timeout passes without a heartbeat (on their next Malloc or GC),
// instead of when each lease lapses. A Registry lists live and dead
// sessions and reaps dead ones; it is the operators' read API (the CLI's
// workers command uses nothing else).
//
// # Probing
//
//	ck, err := health.NewChecker(client, "myapp", p, func(ctx context.Context, key string, v Proxy) error {
//		return dial(ctx, v.Addr)
//	})
//	go ck.Run(ctx) // or ck.CheckOnce(ctx); pass errors with WithErrorFunc
//
// The checker probes free and quarantined members with bounded concurrency
// and a per-probe timeout, never members held by others; it holds a free
// member under a short lease while probing it, so nobody is handed a member
// under test. A failure (or a panic in the probe) quarantines the member for
// a cooldown that doubles with each failure in a row up to a cap; a success
// resets the count and ends a quarantine. Holders report bad members
// themselves with Lease.ReportUnhealthy: they are quarantined on free.
//
// # Options
//
// Each constructor has its own option type: [SessionOption],
// [RegistryOption], [CheckerOption]. Options several of them read
// ([WithGroup], [WithEvents], [WithErrorFunc], the providers) implement
// several, so the compiler refuses an option a constructor does not read
// (a session's WithInterval given to NewChecker does not compile; the
// checker's is WithProbeInterval). Each configuration is validated once,
// in its constructor. Background loops have one shape, Run(ctx) error
// ([Session.Run], [Checker.Run], [Registry.RunReaper]), with their
// settings given at construction.
//
// # Events and metrics
//
// WithEvents receives MemberQuarantined, MemberRecovered, WorkerDied and
// SessionLost; the counters redisallocator.health.events (by kind) and
// redisallocator.health.probes (by outcome) go to the meter provider.
//
// # Errors
//
// ErrSessionExists, ErrSessionLost, ErrClosed, and
// ErrInvalid for bad caller input, whose message names the argument (a bad
// prefix, group or pool name also matches redisallocator.ErrInvalidName).
// Bad input writes nothing to Redis.
//
// The package does not import pool: *pool.Pool[T] satisfies Target[T] and
// pool.Session is satisfied by *Session.
package health
