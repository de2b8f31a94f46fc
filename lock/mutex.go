package lock

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/redisx"
)

// trackedRecheck bounds how long a waiter relies on an invalidation alone:
// it retries at least this often, and at the holder's expiry.
const trackedRecheck = time.Second

// Loss causes. Both match ErrLost.
var (
	errLostExpired = fmt.Errorf("%w: not renewed within its ttl", ErrLost)
	errLostTaken   = fmt.Errorf("%w: the lock was deleted, expired or taken over", ErrLost)
)

// attempt is the outcome of one acquisition attempt.
type attempt struct {
	ok    bool
	fence int64
	sent  time.Time     // when ok: when the granting request was sent
	wait  time.Duration // when not ok: the holder's remaining TTL, < 0 if unknown
}

// watchState is what a backend's watch found.
type watchState struct {
	end     func() // ends the registrations; may be nil
	tracked bool   // every server is watched
	free    int    // servers where the lock key is absent
	ours    int    // servers where it holds our token
	unknown int    // servers that could not be watched
}

// stop ends the registrations of a watch; the zero watchState has none.
func (ws watchState) stop() {
	if ws.end != nil {
		ws.end()
	}
}

// backend is the storage of a Mutex: one Redis (single) or a majority of
// several (quorum). All methods are safe for concurrent use.
type backend interface {
	// try makes one acquisition attempt for token.
	try(ctx context.Context, token string) (attempt, error)
	// refresh extends the lease of token to a full TTL; ErrNotHeld when
	// the lock is not (or no longer, on a majority) held by token.
	refresh(ctx context.Context, token string) error
	// release deletes the lock where it holds token; ErrNotHeld when it
	// held it nowhere.
	release(ctx context.Context, token string) error
	// check reports whether token still holds the lock.
	check(ctx context.Context, token string) (bool, error)
	// watch arranges one send on notify when the lock key changes on any
	// server, and reads the key.
	watch(ctx context.Context, token string, notify chan<- struct{}) watchState
	// handoff releases token and makes an attempt for nextToken with the
	// storage next (of the same lock), in one round trip where it can. It
	// returns the attempt and the release's outcome (nil, ErrNotHeld or
	// why it failed, in which case no attempt was made); err is the
	// attempt's error, after which nothing of nextToken is left behind.
	handoff(ctx context.Context, token string, next backend, nextToken string) (a attempt, relErr, err error)
	// need is the number of servers a lease must hold.
	need() int
}

// Mutex is a distributed mutual-exclusion lock with leases: [Mutex.Acquire]
// waits for the lock, [Mutex.TryAcquire] does not, and each returns a
// [Lease] with a fencing token and a context that ends when the lock is
// lost. Get one from [Locker.Mutex] (one Redis) or [Quorum.Mutex] (a
// majority of independent Redis servers). A Mutex holds no Redis state of
// its own and is safe for concurrent use; every acquisition is a separate
// lease, and the lock is not reentrant.
type Mutex struct {
	key  string
	o    options
	be   backend
	inst *instruments
	q    *queues // the waiting Acquires of the Locker or Quorum
}

func newMutex(key string, o options, be backend, inst *instruments, q *queues) *Mutex {
	return &Mutex{key: key, o: o, be: be, inst: inst, q: q}
}

// newToken returns a random lease token: 120 bits, base64url.
func newToken() string {
	var b [15]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TryAcquire takes the lock if it is free and returns ErrNotAcquired at
// once otherwise. ctx bounds the attempt (an error then matches both
// ErrNotAcquired and ctx.Err(), and nothing is left behind); the lease's
// context keeps ctx's values but not its cancellation.
func (m *Mutex) TryAcquire(ctx context.Context) (*Lease, error) {
	if err := m.checkCtx(ctx, "TryAcquire"); err != nil {
		return nil, err
	}
	token := newToken()
	start := time.Now()
	a, err := m.be.try(ctx, token)
	m.inst.acquired(ctx, opTryAcquire, start, a.ok, err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lock.Mutex %q: %w", m.key, errors.Join(ErrNotAcquired, ctx.Err()))
		}
		return nil, fmt.Errorf("lock.Mutex %q: %w", m.key, err)
	}
	if !a.ok {
		m.inst.contended(ctx, opTryAcquire)
		return nil, fmt.Errorf("lock.Mutex %q: %w", m.key, ErrNotAcquired)
	}
	return m.newLease(ctx, token, a), nil
}

// Acquire takes the lock, waiting as long as it is held elsewhere.
//
// Waiters of one process (one [Locker] or [Quorum]) queue per lock key in
// arrival order: only the first watches Redis, and a release in the same
// process hands the lock straight to it, acquiring it on its behalf in the
// release's round trip (with a token and fencing number of its own, as any
// acquisition). While a lease of the same process holds the lock, its
// waiters wait for that release and do not watch Redis; should the lock be
// deleted behind the holder's back, they notice when the lease does (see
// [Lease.Context]) or within a second. Between processes there is no
// queue: waiters elsewhere are
// woken by Redis invalidations within about a millisecond of a release,
// or, where the server has no tracking, poll with backoff and jitter (see
// [WithPollInterval]), and whichever tries first gets the lock. Waiters
// also retry when the holder's TTL runs out.
//
// When ctx ends first, Acquire stops waiting, leaves nothing behind (a
// lock being handed to it at that moment is handed on to the next waiter,
// or deleted) and returns an error matching both ErrNotAcquired and
// ctx.Err(). Redis errors end the wait too, except that a quorum lock keeps
// waiting while a majority of its servers answers. The lease's context
// keeps ctx's values but not its cancellation: it ends only when the lease
// is released or lost.
func (m *Mutex) Acquire(ctx context.Context) (*Lease, error) {
	if err := m.checkCtx(ctx, "Acquire"); err != nil {
		return nil, err
	}
	token := newToken()
	began := time.Now()
	holderTTL := time.Duration(-1)
	// With a queue for this lock already, try nothing: queue behind it.
	if !m.q.busy(m.key) {
		a, err := m.be.try(ctx, token)
		if err != nil {
			return nil, m.acquireFailed(ctx, began, err)
		}
		if a.ok {
			m.inst.acquired(ctx, opAcquire, began, true, nil)
			return m.newLease(ctx, token, a), nil
		}
		holderTTL = a.wait
	}
	m.inst.contended(ctx, opAcquire)
	t := &ticket{m: m, token: token, wake: make(chan struct{}, 1), delay: m.o.pollMin}
	g := m.q.join(m.key, t)
	a, err := g.await(ctx, t, holderTTL)
	m.q.drop(g)
	if err != nil {
		return nil, m.acquireFailed(ctx, began, err)
	}
	m.inst.acquired(ctx, opAcquire, began, true, nil)
	return m.newLease(ctx, token, a), nil
}

// checkCtx is the first check of an acquisition: a nil ctx is ErrInvalid,
// an ended one gives an error matching ErrNotAcquired and ctx.Err(); then
// nothing is sent.
func (m *Mutex) checkCtx(ctx context.Context, op string) error {
	err := redisx.CheckContext(ctx, ErrInvalid)
	switch {
	case err == nil:
		return nil
	case ctx == nil:
		return fmt.Errorf("lock.Mutex.%s %q: %w", op, m.key, err)
	}
	return fmt.Errorf("lock.Mutex.%s %q: %w", op, m.key, errors.Join(ErrNotAcquired, err))
}

// acquireFailed records and wraps the error that ended an Acquire.
func (m *Mutex) acquireFailed(ctx context.Context, began time.Time, err error) error {
	m.inst.acquired(ctx, opAcquire, began, false, err)
	if ctx.Err() != nil {
		return fmt.Errorf("lock.Mutex %q: %w", m.key, errors.Join(ErrNotAcquired, ctx.Err()))
	}
	return fmt.Errorf("lock.Mutex %q: %w", m.key, err)
}

// jitter returns a random duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Lease is one acquisition of a [Mutex]. It is safe for concurrent use,
// and its methods accept a nil *Lease (which holds nothing).
//
// A lease is kept by the module's one lease keeper: it is valid until its
// local deadline ([Lease.Deadline]), the monotonic time at which the
// acquisition or the last successful renewal was sent, plus the TTL, less a
// margin of 1% + 2ms for clock drift. [Lease.Refresh] or the watchdog
// ([WithWatchdog]) move it on. A process that stalls (a long GC pause, a
// SIGSTOP, a suspended VM) finds its lease invalid when it resumes, before
// the lock can have been handed to someone else, and a renewal answered
// after the deadline does not revive it.
type Lease struct {
	m      *Mutex
	token  string
	fence  int64
	values context.Context // the acquiring ctx without its cancellation
	keep   *lease.Keeper

	mu       sync.Mutex
	released bool
	mon      *monitor
}

func (m *Mutex) newLease(ctx context.Context, token string, a attempt) *Lease {
	l := &Lease{m: m, token: token, fence: a.fence, values: context.WithoutCancel(ctx)}
	o := m.o
	k, err := lease.New(a.sent, lease.Config{
		TTL:     o.ttl,
		Every:   o.ttl / 3,
		Retry:   min(max(o.ttl/10, o.pollMin), 100*time.Millisecond),
		Renew:   func(ctx context.Context, _ time.Duration) error { return m.be.refresh(ctx, token) },
		IsLost:  isNotHeld,
		Expired: errLostExpired,
		Lost:    lostTaken,
		OnEnd:   func(error) { m.inst.lostLease() },
		Parent:  l.values,
	})
	if err != nil {
		panic("bug: lock lease config: " + err.Error()) // the options were validated
	}
	l.keep = k
	if o.watchdog {
		l.mu.Lock()
		l.startMonitorLocked()
		l.mu.Unlock()
	}
	return l
}

func isNotHeld(err error) bool { return errors.Is(err, ErrNotHeld) }
func lostTaken(error) error    { return errLostTaken }

// Fence returns the lease's fencing token: a number strictly greater than
// that of every earlier lease of the same lock, also across lost Redis
// writes (see the package doc: it is at least the server's clock in
// microseconds, so large and not consecutive). Pass it to the resource the
// lock protects, and have the resource refuse requests with a token lower
// than one it has seen: a holder that stalled past its TTL is then turned
// away. The counter lives next to the lock key, in the same slot, one per
// lock; it is never reset, so do not delete it. 0 for a nil lease.
func (l *Lease) Fence() int64 {
	if l == nil {
		return 0
	}
	return l.fence
}

// Deadline returns the lease's local deadline: it is valid strictly before
// it (unless released or lost), and Redis cannot hand the lock to anyone
// else before it. Renewals move it. The zero time for a nil lease.
func (l *Lease) Deadline() time.Time {
	if l == nil {
		return time.Time{}
	}
	return l.keep.Deadline()
}

// Context returns a context that is cancelled when the lease ends: on
// Release (cause matching ErrNotHeld, not ErrLost) or when the lock is lost (cause matching
// ErrLost): deleted or taken over by someone else, or not renewed by its
// local deadline, for example because Redis could not be reached. Bind the
// work the lock protects to it. context.Cause tells why it ended. Its Err
// reads the clock as Valid does, so it is non-nil from the local deadline
// on even when the timer that closes Done runs late.
//
// The first call starts watching the lock (one goroutine, and an
// invalidation subscription where the server supports it, else a check
// every quarter TTL, at most every second); leases whose context is never
// asked for cost nothing in the background. With a watchdog the watching
// starts at acquisition.
func (l *Lease) Context() context.Context {
	if l == nil {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(ErrNotHeld)
		return ctx
	}
	ctx := l.keep.Context()
	l.mu.Lock()
	l.startMonitorLocked()
	l.mu.Unlock()
	return ctx
}

// Valid reports whether the lease still holds the lock as far as this
// process can know: not released, not lost, and its local deadline not
// passed. It reads the monotonic clock now, so it is right even in the
// moment after a stall, before the lease's timers have run: call it right
// before acting on the resource.
func (l *Lease) Valid() bool {
	return l != nil && l.keep.Valid()
}

// Refresh extends the lease to a full TTL counted from now (the watchdog
// does this by itself). It returns ErrNotHeld when the lease was released
// or the lock was lost; the lease's context is then cancelled. A Refresh
// that cannot be confirmed before the lease's deadline counts as failed,
// and ends the lease.
func (l *Lease) Refresh(ctx context.Context) error {
	if l == nil {
		return fmt.Errorf("lock.Lease.Refresh: %w", ErrNotHeld)
	}
	if err := redisx.CheckContext(ctx, ErrInvalid); err != nil {
		return fmt.Errorf("lock.Lease.Refresh %q: %w", l.m.key, err)
	}
	err := l.keep.Renew(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lease.ErrEnded):
		return fmt.Errorf("lock.Lease.Refresh %q: %w", l.m.key, errors.Join(ErrNotHeld, l.keep.Err()))
	}
	return fmt.Errorf("lock.Lease.Refresh %q: %w", l.m.key, err)
}

// lose ends the lease with cause, if it is still held, and counts it.
func (l *Lease) lose(cause error) {
	if l.keep.End(cause) {
		l.m.inst.lostLease()
		l.m.lost(l.token)
	}
}

// Release ends the lease: it cancels the lease's context (cause
// matching ErrNotHeld), stops its background watching, and deletes the lock if it
// still holds this lease's token. It returns ErrNotHeld when the lock no
// longer held the token (the lease had been lost) and on every call after
// the first. ctx bounds the Redis call only; the lease is ended locally
// whatever happens, and a lock that could not be deleted expires with its
// TTL. A nil ctx (ErrInvalid) or one that has already ended (its error)
// changes nothing: nothing is sent and the lease stays held.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil {
		return fmt.Errorf("lock.Lease.Release: %w", ErrNotHeld)
	}
	// A call that cannot be sent changes nothing: the lease stays held.
	if err := redisx.CheckContext(ctx, ErrInvalid); err != nil {
		return fmt.Errorf("lock.Lease.Release %q: %w", l.m.key, err)
	}
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return fmt.Errorf("lock.Lease.Release %q: already released: %w", l.m.key, ErrNotHeld)
	}
	l.released = true
	mon := l.mon
	l.mon = nil
	l.mu.Unlock()
	l.keep.End(errReleased)
	// The monitor stops while the lock is deleted: the lease has ended, so
	// nothing the monitor still sees can act on it, and giving its tracking
	// connection back costs a round trip.
	var halting sync.WaitGroup
	if mon != nil {
		halting.Go(mon.halt)
	}
	err := l.m.release(ctx, l.token)
	halting.Wait()
	if err != nil {
		return fmt.Errorf("lock.Lease.Release %q: %w", l.m.key, err)
	}
	return nil
}

// monitor is the background watcher of one lease.
type monitor struct {
	stop   chan struct{}
	done   sync.WaitGroup
	ctx    context.Context // for Redis calls; ends at halt
	cancel context.CancelFunc
}

// startMonitorLocked starts watching the lease (and, with the watchdog,
// renewing it) unless it is already watched or over. l.mu is held.
func (l *Lease) startMonitorLocked() {
	if l.mon != nil || l.released || l.keep.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(l.values)
	mon := &monitor{stop: make(chan struct{}), ctx: ctx, cancel: cancel}
	l.mon = mon
	lctx := l.keep.Context()
	mon.done.Go(func() { l.watch(lctx, mon) })
	if l.m.o.watchdog {
		mon.done.Go(func() { _ = l.keep.Run(ctx) })
	}
}

// halt stops the monitor and waits for it.
func (mon *monitor) halt() {
	close(mon.stop)
	mon.cancel()
	mon.done.Wait()
}

// watch watches one lease until it is released or lost: it notices
// deletion and takeover through invalidations or, where there are none, by
// checking the lock periodically, and deletes a lock whose lease ran out
// locally. The keeper ends the lease at its deadline; the watchdog's
// renewals run beside (lease.Keeper.Run).
func (l *Lease) watch(lctx context.Context, mon *monitor) {
	o := l.m.o
	checkEvery := min(max(o.ttl/4, o.pollMin), time.Second)

	notify := make(chan struct{}, 1)
	var ws watchState
	defer func() { ws.stop() }()
	// rewatch re-arms the invalidation subscription and reports whether
	// the lock is still ours as far as the watched servers can tell.
	rewatch := func() bool {
		ctx, cancel := l.boundedCtx(mon.ctx)
		defer cancel()
		old := ws
		ws = l.m.be.watch(ctx, l.token, notify)
		old.stop()
		return ws.ours+ws.unknown >= l.m.be.need()
	}
	if !o.noTracking && !rewatch() {
		l.lose(errLostTaken)
		return
	}
	timer := time.NewTimer(checkEvery)
	defer timer.Stop()
	for {
		var check <-chan time.Time
		if !ws.tracked {
			check = timer.C
		}
		select {
		case <-mon.stop:
			return
		case <-lctx.Done():
			if errors.Is(context.Cause(lctx), errLostExpired) {
				l.releaseAfterLoss(mon)
			}
			return
		case <-notify:
			if !rewatch() {
				l.lose(errLostTaken)
				return
			}
		case <-check:
			ctx, cancel := l.boundedCtx(mon.ctx)
			ok, err := l.m.be.check(ctx, l.token)
			cancel()
			if err == nil && !ok {
				l.lose(errLostTaken)
				return
			}
			timer.Reset(checkEvery)
		}
	}
}

// boundedCtx bounds a background Redis call by the lease's deadline: the
// monitor must be free to end the lease on time however long Redis takes.
func (l *Lease) boundedCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, l.keep.Deadline())
}

// releaseAfterLoss deletes a lock whose lease ran out locally, if it still
// holds our token: the work it protected has been told to stop, so others
// need not wait for the server-side TTL.
func (l *Lease) releaseAfterLoss(mon *monitor) {
	ctx, cancel := context.WithTimeout(mon.ctx, max(l.m.o.quorumTimeout, time.Second))
	defer cancel()
	_ = l.m.release(ctx, l.token) // best effort: the TTL ends it anyway
}
