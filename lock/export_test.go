package lock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Faults make a Mutex's storage fail on demand, in the manner of
// redislock's flakyScripter.
type Faults struct {
	mu sync.Mutex
	// Refresh, when set, runs before every renewal; a non-nil error is
	// returned instead of renewing.
	Refresh func(ctx context.Context) error
	// Release, when set, runs before every release; a non-nil error is
	// returned instead of releasing.
	Release func(ctx context.Context) error
	// Handoff, when set, runs instead of Release before a release that
	// hands the lock to a waiter in the same round trip, so a test can
	// stall that one and not a plain release.
	Handoff func(ctx context.Context) error
}

func (f *Faults) refreshFault(ctx context.Context) error {
	f.mu.Lock()
	fn := f.Refresh
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx)
}

func (f *Faults) releaseFault(ctx context.Context) error {
	f.mu.Lock()
	fn := f.Release
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx)
}

func (f *Faults) handoffFault(ctx context.Context) error {
	f.mu.Lock()
	fn := f.Handoff
	f.mu.Unlock()
	if fn == nil {
		return f.releaseFault(ctx)
	}
	return fn(ctx)
}

// SetHandoff replaces the Handoff fault.
func (f *Faults) SetHandoff(fn func(ctx context.Context) error) {
	f.mu.Lock()
	f.Handoff = fn
	f.mu.Unlock()
}

// SetRelease replaces the Release fault.
func (f *Faults) SetRelease(fn func(ctx context.Context) error) {
	f.mu.Lock()
	f.Release = fn
	f.mu.Unlock()
}

// SetRefresh replaces the Refresh fault.
func (f *Faults) SetRefresh(fn func(ctx context.Context) error) {
	f.mu.Lock()
	f.Refresh = fn
	f.mu.Unlock()
}

type faulty struct {
	backend
	f *Faults
}

func (b faulty) refresh(ctx context.Context, token string) error {
	if err := b.f.refreshFault(ctx); err != nil {
		return err
	}
	return b.backend.refresh(ctx, token)
}

func (b faulty) release(ctx context.Context, token string) error {
	if err := b.f.releaseFault(ctx); err != nil {
		return err
	}
	return b.backend.release(ctx, token)
}

func (b faulty) handoff(ctx context.Context, token string, next backend, nextToken string) (attempt, error, error) {
	if err := b.f.handoffFault(ctx); err != nil {
		return attempt{wait: -1}, err, nil
	}
	return b.backend.handoff(ctx, token, next, nextToken)
}

// InjectFaults wraps m's storage with f. Call it before using m.
func InjectFaults(m *Mutex, f *Faults) { m.be = faulty{backend: m.be, f: f} }

// TrackingConns returns how many dedicated tracking connections l holds.
func TrackingConns(l *Locker) int { return l.track.Conns() }

// TrackingOff reports whether l found that its server cannot track keys.
func TrackingOff(l *Locker) bool { return l.track.Off() }

// KillTracking marks l's tracking connections broken, as a dropped
// connection would, waking everyone watching through them.
func KillTracking(l *Locker) { l.track.Kill() }

// LeaseToken is the random token a lease stores as the lock's owner.
func LeaseToken(l *Lease) string {
	if l == nil {
		return ""
	}
	return l.token
}

// WithTracking(false) makes waiters always poll.
func WithTracking(on bool) MutexOption { return withTracking(on) }

// counting counts the acquisition attempts a Mutex's storage makes.
type counting struct {
	backend
	n *atomic.Int64
}

func (b counting) try(ctx context.Context, token string) (attempt, error) {
	b.n.Add(1)
	return b.backend.try(ctx, token)
}

// handoff counts the attempt made for next, and makes it in the same
// round trip when next counts too.
func (b counting) handoff(ctx context.Context, token string, next backend, nextToken string) (attempt, error, error) {
	b.n.Add(1)
	if c, ok := next.(counting); ok {
		next = c.backend
	}
	return b.backend.handoff(ctx, token, next, nextToken)
}

// CountAttempts makes m count every acquisition attempt it sends to Redis
// in n. Call it before using m.
func CountAttempts(m *Mutex, n *atomic.Int64) { m.be = counting{backend: m.be, n: n} }

// Queued returns how many Acquires of l wait in the queue of lock key
// (not counting one being handed the lock).
func Queued(l *Locker, key string) int {
	g := l.q.ref(key)
	if g == nil {
		return 0
	}
	defer l.q.drop(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// DumpQueue describes key's queue, for debugging.
func DumpQueue(l *Locker, key string) string {
	g := l.q.ref(key)
	if g == nil {
		return "no queue"
	}
	defer l.q.drop(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	s := fmt.Sprintf("refs=%d inflight=%d trying=%v poke=%v watcher=%p expiry=%v ws=%+v queue:", g.refs, g.inflight, g.trying, g.poke, g.watcher, time.Until(g.expiry), g.ws)
	for _, t := range g.queue {
		s += fmt.Sprintf(" %p(%d)", t, t.state)
	}
	return s
}

// QuorumQueued is Queued for a Quorum.
func QuorumQueued(q *Quorum, key string) int {
	g := q.q.ref(key)
	if g == nil {
		return 0
	}
	defer q.q.drop(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}
