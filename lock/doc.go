// Package lock provides distributed locks on Redis: the lock family of the
// Python reference (RedisLock, RedisLockPool) made owner-safe, a blocking
// [Mutex] with leases, watchdog and fencing tokens, and a [Quorum] lock
// over several independent Redis servers.
//
// # Key types
//
//   - [Locker] ([New]): named locks with owners and millisecond TTLs, in
//     the reference's vocabulary: Lock (take if free), RLock (reentrant,
//     counting holds), Update (owner-checked TTL change), Unlock
//     (owner-checked, one hold at a time), the explicitly dangerous
//     ForceSet and ForceUnlock, Info (owner, TTL and holds in one read; the
//     reference's four key_status states are a comparison on it), Fence
//     (the last fencing number handed out), and the
//     conditional family CompareAndSet/CompareAndDelete (setgt, delle, ...).
//   - [Pool] ([NewPool]): the reference's lock pool, a named member set
//     with Add/Remove/Assign/Members/Contains and the lock of every
//     member in one call (Infos, which also answers the reference's
//     health check).
//   - [Mutex] ([Locker.Mutex], [Quorum.Mutex]): Acquire waits, TryAcquire
//     does not; both return a [Lease] with a fencing token and a context
//     that ends when the lock is lost.
//   - [Quorum] ([NewQuorum]): the Redlock scheme over N independent
//     servers, with the same Mutex surface.
//
// A short example:
//
//	l, err := lock.New(client, "billing")
//	m, err := l.Mutex("invoice:42", lock.WithTTL(10*time.Second), lock.WithWatchdog(true))
//	lease, err := m.Acquire(ctx)
//	if err != nil {
//		return err // ctx ended (errors.Is(err, lock.ErrNotAcquired)) or Redis failed
//	}
//	defer lease.Release(context.WithoutCancel(ctx))
//	if !lease.Valid() { // right before acting: false after a stall past the lease
//		return errStale
//	}
//	return charge(lease.Context(), invoice, lease.Fence())
//
// # Options
//
// [New], [NewPool] and [NewQuorum] take [Option]s. The mutex settings
// ([WithTTL], [WithWatchdog], [WithPollInterval],
// [WithQuorumTimeout]) are [MutexOption]s: given to a constructor they are
// the default of every mutex made there, given to [Locker.Mutex] or
// [Quorum.Mutex] they configure that mutex. The Locker-wide ones
// (the providers) are not MutexOptions, so passing one to
// Mutex does not compile. Options are validated in one place, when the
// Locker or the Mutex is made.
//
// # Operators
//
// The read API operators need is on the types that own the data, as in
// the reference (no separate inspector: a lock has no administration
// beyond it): [Locker.Info] and [Locker.Fence] read one
// lock, [Pool.Members] and [Pool.Infos] a lock pool, and
// [Locker.ForceUnlock] ends someone else's hold. The CLI and its
// diagnostics use nothing else.
//
// # Differences from the reference
//
// TTLs are time.Duration with millisecond precision, rounded up: a TTL
// the reference truncated to zero (and so made permanent) is a short TTL
// here, permanence must be asked for with [Permanent], and a finite TTL
// is at most 100 years (365-day years). RLock counts
// holds, so N RLocks need N Unlocks, and re-entering sets the TTL. Update
// and Unlock check the owner ([ErrNotHeld]); the unconditional writes are
// ForceSet and ForceUnlock. The conditional operations refuse to overwrite
// a value that is not a number ([ErrNotNumber]) and can keep a key's TTL
// ([KeepTTL]). All operations check their arguments before sending
// anything, so bad input writes nothing.
//
// # Keys
//
// Every lock has its own hash tag, so different locks spread over a Redis
// Cluster while the keys of one lock share a slot:
//
//	<prefix>:{lock:<name>}:lock    the owner, or a lease's token, with the TTL
//	<prefix>:{lock:<name>}:holds   RLock's hold count, only while above one
//	<prefix>:{lock:<name>}:fence   the Mutex's fencing counter (no TTL)
//
// A Pool keeps its member set and its members' locks under one tag,
// "{lockpool:<pool>}". Every operation is one Lua script (listed by
// package script; lock_*.lua in the repository's internal/script/lua) that
// receives all its keys through KEYS, so
// the package runs unchanged on a single Redis, Redis Cluster and the
// embedded miniredis.
//
// # Waiting, leases and fencing
//
// The Acquires of one process ([Locker] or [Quorum]) that wait for the
// same lock form a queue in arrival order. Only the first watches Redis;
// the others wait on a channel and cost nothing. A release from the same
// process hands the lock to the first waiter: in the release's round trip
// it also runs an ordinary acquisition for that waiter, which gets a token
// and a fencing number of its own, so a busy lock costs two scripts per
// holder and no waiter retries in vain.
//
// A waiting Acquire learns of changes made elsewhere (a release in another
// process, an expiry) from Redis client-side-caching invalidations:
// the package borrows a dedicated connection from the client, turns CLIENT
// TRACKING on for it alone and reads the lock key there, so Redis tells it
// when the key is deleted, overwritten or expires, within about a
// millisecond. Servers without tracking (miniredis, some managed services)
// are detected and polled with backoff and jitter instead. Between
// processes there is no queue: whichever tries first gets the lock. The
// same mechanism lets a [Lease] notice at once that its lock was deleted
// or taken over.
//
// A lease is kept by the module's one lease keeper (shared with pool
// leases and health sessions): it is valid until its local deadline ([Lease.Deadline]), its
// TTL less a clock-drift margin (1% + 2ms) counted from the monotonic time
// at which the acquisition or the last successful renewal was SENT.
// [Lease.Valid] reads the clock, so it is false the moment a process
// resumes from a stall longer than the lease; call it right before acting.
// Its context ([Lease.Context]) is cancelled when that time passes without
// a renewal, so work bound to it stops before the lock can be handed to
// anyone else, even when Redis is unreachable, and a renewal answered after
// the deadline does not revive it. The optional watchdog ([WithWatchdog])
// renews every third of the TTL. The fencing token ([Lease.Fence]) is
// max(the lock's counter + 1, the server's clock in µs), kept in the lock's
// slot, and is strictly greater than that of every earlier lease of the
// lock; pass it to the protected resource so that it can turn away a holder
// that stalled past its lease. A [Quorum] lease's fence is the highest of
// the majority's, raised on every server it reached.
//
// # Durability
//
// A lock is one Redis key, as durable as Redis makes its writes (the
// package never calls WAIT): a crash loses nothing acknowledged with
// appendfsync always, about the last second with everysec, everything
// without persistence, and a failover (Sentinel, Cluster) loses what the
// replica had not received. A lost acquisition or renewal frees the lock
// while its holder is still within its local deadline, so a second holder
// can take it; a lost Unlock or Release keeps it until its TTL ends
// (a [Permanent] lock until ForceUnlock). Fencing tokens still never go
// back: the clock term puts the first token after a restart or failover
// above every token handed out before, unless the server's clock stepped
// back by more than the lost window or tokens came faster than one per µs.
// A server clock stepped forward ends leases early on the server, and
// Redis expires the key by that clock too; client clock steps change
// nothing. So a resource a [Mutex] guards keeps the highest fence it
// accepted for the lock and rejects any write with a lower one, atomically
// with the write. Lock and RLock have no fence: a lost write can give such
// a lock two owners with nothing to tell them apart. A [Quorum] lease
// rests on the majority that granted it: with three servers, one that
// restarts without the write lets another majority form, so keep a
// restarted server out for one TTL (Redlock's delayed restart); its fence
// still rises. docs/durability.md in the repository has the details.
//
// # Errors
//
// Errors are matched with errors.Is: [ErrNotHeld], [ErrNotAcquired],
// [ErrNotNumber], [ErrNoQuorum], redisallocator.ErrCorrupt (a lock's key of another
// Redis type, or a counter that is no number, found before anything was
// written; the message names the key), and for bad input
// [ErrInvalid], whose message names the argument (a bad prefix, name,
// member or owner also matches redisallocator.ErrInvalidName). The cause
// of a lease's context ([context.Cause]) matches [ErrLost] when
// the lock was lost, [ErrNotHeld] alone after Release. Redis and network errors are returned wrapped with the
// operation and lock name.
//
// # Concurrency and contexts
//
// Locker, Pool, Quorum, Mutex and Lease are safe for concurrent use. Every
// call that talks to Redis takes a context first; cancelling it abandons
// the call (a script Redis already received may still run), and a waiting
// Acquire that gives up returns an error matching both [ErrNotAcquired]
// and ctx.Err(). The only goroutines the package starts belong to leases
// whose context was asked for or that have a watchdog; Release stops them
// and waits for them, and a lost lease's goroutine ends by itself. The
// caller owns the rueidis clients and must not close them while locks are
// in use.
//
// Telemetry: every script run is a span (see package otel). The meter
// provider (WithMeterProvider) gets redisallocator.lock.acquire.duration
// (Acquire, TryAcquire, Lock and RLock, by operation and outcome),
// redisallocator.lock.contention (attempts that found the lock held) and
// redisallocator.lock.lost; lock names are never attributes. docs/metrics.md
// in the repository lists every metric of the module.
package lock
