package pool

import (
	"context"
	"slices"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// RetireWithFence retires as a scaler that believes it holds the claim
// with fence: what a paused scaler would do when it wakes.
func (s *Scaler[T]) RetireWithFence(ctx context.Context, fence int64, n int) ([]string, error) {
	_, keys, err := s.scale(ctx, scaleArgs{op: "retire", fence: fence, n: n, scan: retireScan})
	return keys, err
}

// Len returns the number of members.
func (p *Pool[T]) Len(ctx context.Context) (int, error) { return p.size(ctx) }

// Step runs one scaler decision.
func (s *Scaler[T]) Step(ctx context.Context) (*ScaleEvent, error) { return s.step(ctx) }

// WithTimerBudget sets the due timers each malloc handles (0: GC only).
func WithTimerBudget(n int) Option { return withTimerBudget(n) }

// ClaimKey is the scaler claim's key, for tests that expire it.
func (s *Scaler[T]) ClaimKey() string { return s.keys[keyScalerClaim] }

// FenceKey is the scaler's fencing counter, for tests that corrupt it.
func (s *Scaler[T]) FenceKey() string { return s.keys[keyScalerFence] }

// AddWithFence adds members (keys only) as a scaler that believes it holds
// the claim with fence.
func (s *Scaler[T]) AddWithFence(ctx context.Context, fence int64, keys ...string) error {
	got := make([]Provisioned[T], len(keys))
	for i, k := range keys {
		got[i] = Provisioned[T]{Key: k}
	}
	_, err := s.add(ctx, fence, got)
	return err
}

// Release gives up the claim, as Run does when it ends.
func (s *Scaler[T]) Release(ctx context.Context) error {
	_, _, err := s.scale(ctx, scaleArgs{op: "release"})
	return err
}

// RefreshFromSource runs the Maintainer's source step once.
func (m *Maintainer) RefreshFromSource(ctx context.Context) (bool, error) {
	return m.refreshFromSource(ctx)
}

// Pass runs one Maintainer pass.
func (m *Maintainer) Pass(ctx context.Context) { m.pass(ctx) }

// MallocBatch runs n simple mallocs (lease ttl each) as one
// pool_malloc_many run, as n concurrent callers batched together get; a
// nil lease where nothing was free.
func (p *Pool[T]) MallocBatch(ctx context.Context, n int, ttl time.Duration) ([]*Lease, error) {
	mc, err := newMallocConfig(p.c, []MallocOption{LeaseTTL(ttl)})
	if err != nil {
		return nil, err
	}
	reqs := make([]mallocReq, n)
	for i := range reqs {
		reqs[i] = mallocReq{token: p.c.newToken(), ttl: ms(ttl), start: time.Now(), mc: mc}
	}
	res, err := p.c.mallocMany(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]*Lease, n)
	for i, r := range res {
		out[i] = r.lease
	}
	return out, nil
}

// Token is the lease's holder token, for tests that compare holdings.
func (l *Lease) Token() string { return l.token }

// ForceReleaseKeys is ForceRelease of keys (duplicates kept, in order),
// whoever holds them: the script path a map cannot reach.
func (a *Admin) ForceReleaseKeys(ctx context.Context, keys ...string) (int, error) {
	return a.forceRelease(ctx, keys, make([]int64, len(keys)))
}

// Counts returns the members by state (Stats.Counts without the rest).
func (a *Inspector) Counts(ctx context.Context) (Counts, error) { return a.c.counts(ctx) }

// The pool's limits, for tests (documented on the options that take them).
const (
	MaxBatch    = maxBatch
	MaxPriority = maxPriority
	MinPriority = minPriority
	MaxTTL      = maxTTL
)

// State returns the member's state, or ErrNotMember.
func (a *Inspector) State(ctx context.Context, key string) (State, error) { return a.c.state(ctx, key) }

// Bindings returns the names bound to a member, sorted.
func (a *Inspector) Bindings(ctx context.Context, key string) ([]string, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	msg, err := a.c.runScript(ctx, script.PoolInspect, []string{"bindings", key})
	if err != nil {
		return nil, err
	}
	names, err := msg.AsStrSlice()
	slices.Sort(names)
	return names, err
}

// WithWaitPoll bounds a single wait of a waiting malloc (default 2 s), so
// tests can tell a wake-up from a poll.
func WithWaitPoll(d time.Duration) Option { return poolOption(func(o *config) { o.waitPoll = d }) }

// FenceKey is the pool's fencing counter, for tests that make it lose
// writes.
func (p *Pool[T]) FenceKey() string { return p.c.keys[keyFence] }

// KeyNames maps the name of each of the pool's keys (free, holders, ...,
// sesidx) to the Redis key, for tests that corrupt them.
func (p *Pool[T]) KeyNames() map[string]string {
	out := make(map[string]string, numKeys)
	for i, s := range keySuffixes {
		out[s] = p.c.keys[i]
	}
	return out
}
