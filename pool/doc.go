// Package pool is a distributed allocator of named resources: many processes
// check members out of a Pool[T], use them and give them back, with Redis as
// the only shared state. It is the Go form of the Python RedisAllocator,
// without its corruption bugs and with Redis Cluster support.
//
// Typical members are proxies, accounts, GPU slots or workers:
//
//	p, err := pool.New[Proxy](client, "myapp", "proxies", pool.WithCodec(codec.MsgPack))
//	_, err = p.Add(ctx, map[string]Proxy{"10.0.0.1:3128": {...}}, pool.Priority(10))
//	a, err := p.Malloc(ctx, pool.Bind("worker-7", time.Hour), pool.KeepAlive(0))
//	if errors.Is(err, pool.ErrEmpty) { ... }
//	defer a.Release(ctx)
//	if !a.Valid() { // right before acting: false after a stall past the lease
//		return
//	}
//	use(a.Context(), a.Key, a.Value, a.Fence())
//
// # Types
//
// Pool[T] is the hot path: allocation (Malloc, MallocN, MallocMember),
// Release, values (Get) and membership (Add, AddKeys, Assign, AssignKeys,
// Remove, Contains, Len, Keys). A Lease (promoted into an Allocation[T])
// is one holding: Fence, Deadline, Valid, Context, Refresh,
// ReportUnhealthy, Release. Inspector is the read-only view for operators: Snapshot,
// Stats, Export and the state metrics (RegisterMetrics). Admin is the
// operator's side, as asynq's Inspector is of a queue: the Inspector's
// reads plus ForceRelease, Quarantine, Update, Import, Clear, Bind, Unbind
// and GC. Neither needs a value type: NewInspector and NewAdmin open them
// from the client, prefix and name (the CLI and dashboard do), and
// Pool.Admin returns the Admin of a typed pool. Maintainer (GC and a membership source) and Scaler
// (provisioning and retiring) are background loops with the one shape
// Run(ctx) error, their settings given at construction. Objects[T, O]
// turns members into live objects (an HTTP client bound to a proxy, a
// database handle for an account), as the reference's allocatable objects
// and puddle's constructor and destructor do: NewObjects(p, open, close)
// and Objects.Malloc, which returns an Object[T, O], the Allocation plus
// its live object.
//
// Options follow one form: constructor options are WithX (Option for New,
// AdminOption for NewAdmin and NewInspector, MaintainerOption,
// ScalerOption), per-call
// options are bare names (MallocOption: LeaseTTL (with Permanent), Bind,
// Wait, InSession, KeepAlive; MemberOption: Priority, MemberTTL).
//
// # Behaviour
//
//   - Malloc hands out the free member with the highest priority, least
//     recently released first (at millisecond resolution), under a lease
//     with a holder token and a fencing number that rises with every
//     allocation of the pool (by at least one; see Durability). Release, Refresh and ReportUnhealthy check the
//     token: a holder whose lease lapsed cannot touch the next holder's
//     lease.
//   - A fencing number is max(counter + 1, the Redis server's clock in
//     microseconds), so fences never go back, also when Redis lost the
//     counter's last writes (appendfsync everysec and a machine crash, a
//     failover to a replica that lagged): the next server numbers above
//     what the lost one handed out, unless its clock is behind by more than
//     the lost stretch. Above one allocation per microsecond sustained, the
//     counter runs ahead of the clock: fences still rise, but a loss in
//     that stretch is covered only once the clock has caught up. The
//     numbers are large (about 1.8e15) and not consecutive; a lost write
//     can still lose a lease, so the resource must turn away lower fences.
//   - In shared mode (WithShared) members are handed out round-robin within
//     each priority and nobody holds them.
//   - Leases lapse after their TTL (2 minutes, or WithLeaseTTL, or LeaseTTL,
//     at least 10ms); a TTL is never zero by accident: LeaseTTL(Permanent)
//     is explicit. A crashed holder's member comes back when its lease lapses:
//     each Malloc handles a few due timers first, and Admin.GC or a
//     Maintainer handle the rest. Every duration sent to Redis is rounded up
//     to whole milliseconds.
//   - A lease is kept by the module's one lease keeper, shared with lock
//     leases, health sessions and task workers: its local deadline
//     (Lease.Deadline) is the monotonic time the malloc or the last
//     successful Refresh was sent, plus the TTL, less a drift margin of
//     1% + 2ms, so it comes strictly before the pool can hand the member to
//     anyone else. Lease.Valid reads
//     the clock (call it right before acting on the resource: it is false
//     the moment a stalled process resumes past the deadline), and
//     Lease.Context ends at the deadline, on Release, or when a Refresh,
//     ReportUnhealthy, the keep-alive or the lease's session finds the lease
//     gone. A refresh answered after the deadline does not revive the lease.
//     KeepAlive renews it with the keeper's loop; a permanent lease has no
//     deadline and is valid until released or lost.
//   - Soft binding (Bind) gives a caller the member it had last time when it
//     is free; Admin.Snapshot lists the bindings (Snapshot.Bindings).
//   - Quarantine: Admin.Quarantine takes a member out of rotation for a
//     while; ReportUnhealthy on a lease does so when the lease ends, never
//     under its holder.
//   - Membership: Add, AddKeys, Assign, AssignKeys, Remove, Admin.Clear.
//     Re-adding a held member keeps it held; removing one ends its lease
//     (its holder's Release then returns ErrNotHeld). Members may expire
//     (MemberTTL); a held member leaves when its lease ends.
//   - Admin.Snapshot reads everything atomically and lists invariant
//     violations, for diagnostics and tests; it holds Redis for time
//     proportional to the pool. Admin.Stats is the summary to poll instead:
//     counts, fence, leases granted, waiters and due timers at a cost that
//     does not grow with the pool. Allocation rates come from the leases
//     granted (Stats.Allocations) between two reads, never from fences,
//     which jump with the clock.
//   - Worker sessions (InSession, with health.Session) get their leases
//     reclaimed as soon as their heartbeat stops; Scaler provisions and
//     retires members, one scaler per pool at a time under a fenced claim.
//   - Concurrent simple mallocs (no binding, wait or session) and single
//     releases share one script run, the way rueidis pipelines commands.
//   - Live objects (Objects): a member's object is opened once per process
//     and reused by its later allocations, one user at a time (many in
//     shared mode). It is closed, never under a user, when the member's
//     value changed (seen by the next allocation, which compares the
//     encoded value it already received: no extra round trip), after the
//     idle timeout, when the member left the pool or is quarantined (seen
//     by Objects.Run), after Object.ReportUnhealthy or Object.Discard, and
//     by Objects.Close. A holder whose lease lapsed keeps the object until
//     it releases it; the next holder in the process waits for it. Hook
//     errors and panics come back matching ErrHook; a failed open releases
//     the member at once (Objects.Probe, given to a health checker, takes
//     members whose objects fail out of rotation).
//
// # Data model
//
// A pool is thirteen keys (two more while a Scaler runs) sharing the hash tag
// {pool:<name>}, so it lives in one cluster slot: a sorted set of free
// members scored by priority band and free time, a hash of lease records, a
// hash of quarantined members, one sorted set of all timers (lease ends,
// member expiry, quarantine ends, binding expiry, worker-session deaths),
// hashes of priorities, values and bindings, a reverse binding index, an
// index of the leases of each worker session, the fencing counter, a
// counter of leases granted and two small keys for waking waiting mallocs.
// An idle member with the default
// priority and no value costs one sorted-set entry. Every operation is one
// Lua script and costs O(log n) in the pool size (batches O(k log n)); only
// Keys, Assign, AssignKeys, Admin.Export and Admin.Snapshot read the whole
// pool.
//
// # Durability
//
// Leases and fences are as durable as Redis makes its writes; the package
// never calls WAIT. A crash loses nothing acknowledged with appendfsync
// always, about the last second with everysec and everything without
// persistence; a failover (Sentinel, Cluster) loses what the replica had
// not received. A lost malloc or Refresh lets the member go to a second
// holder while the first is still within its local deadline; a lost Release
// keeps the member held until its lease lapses (with LeaseTTL(Permanent),
// until Admin.ForceRelease); the count of leases granted
// (Stats.Allocations) falls back by the mallocs lost. Fences never go
// back, lost writes included:
// each is max(fencing counter + 1, the server's clock in µs), so a restarted
// or promoted server continues above every fence handed out before, unless
// its clock stepped back by more than the lost window or fences came
// faster than one per µs. A server clock stepped forward ends leases early
// on the server; client clock steps change nothing (local deadlines are
// monotonic). That is what Fence is for: the resource keeps the highest
// fence it accepted for each member and rejects any write with a lower one,
// atomically with the write. docs/durability.md in the repository has the
// details.
//
// # Errors
//
// ErrEmpty, ErrNotHeld and ErrNotMember report the pool's
// state (ErrHook and ErrClosed those of Objects); ErrInvalid reports bad input, which never writes anything (the
// message names the argument). redisallocator.ErrCorrupt reports hostile state in Redis
// (a pool key of the wrong type, a fencing counter or record that does not
// parse), found before anything was written; the message names the key,
// and Inspector.Snapshot lists such state among its violations. Values the codec cannot decode give errors
// matching codec.ErrDecode that name the member. Calls that end because
// ctx ended return errors matching ctx.Err().
//
// # Metrics
//
// With WithMeterProvider (or the global provider) a pool records malloc and
// release durations by outcome, mallocs that found it empty or waited, and
// what GC reclaimed, all with the attribute redisallocator.pool.name. Its
// members by state and its waiting mallocs are read from Redis at
// collection time once Admin.RegisterMetrics is called, in one process;
// Unregister stops that. docs/metrics.md in the repository lists every
// metric of the module.
//
// # Concurrency
//
// A Pool, an Inspector, an Admin, Objects and their leases are safe for
// concurrent use. Neither
// keeps a goroutine running: while concurrent mallocs or releases are
// batched, one goroutine runs their scripts and ends when no call waits; a
// malloc whose ctx can end sends its script from a goroutine of its own,
// so that a lease granted after the caller gave up is released, not lost.
// A lease with KeepAlive runs one goroutine until it is released or lost;
// Maintainer.Run, Scaler.Run and Objects.Run run in the caller's
// goroutine.
package pool
