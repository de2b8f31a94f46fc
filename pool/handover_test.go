package pool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/lease/leasetest"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// handoverTrials is how many trials TestNoHandoverWhileValid runs per
// kind: 1,000 on the real standalone server, where the server's clock,
// its millisecond rounding and a real network stand between the two
// holders; fewer on the cluster (the same server code, routed) and on
// miniredis (in-process: its TIME and TTLs read this process's clock), as
// a check that the property holds there too.
func handoverTrials(b *redisxtest.Backend) int {
	switch {
	case testing.Short():
		return 50
	case b.Name == redisxtest.BackendStandalone:
		return 1000
	}
	return 200
}

// handoverPar is how many trials run at once: fewer on miniredis, which
// runs its scripts in this process, where the second holders' tight
// polling loops would starve the first ones of time.
func handoverPar(b *redisxtest.Backend) int {
	if b.Real() {
		return 64
	}
	return 8
}

// TestNoHandoverWhileValid: over many trials with lease TTLs from the
// shortest the pool accepts (10ms; shorter ones are refused with
// ErrInvalid, since the drift margin of 1% + 2ms would eat them) to 1s,
// nobody is granted a member while the previous holder's lease still
// reports valid (Lease.Valid, or its Context not ended). The same for a
// member held under a health session: nobody gets it while the session
// still reports valid.
func TestNoHandoverWhileValid(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		n := handoverTrials(b)
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("m%d", i)
		}
		t.Run("Lease", func(t *testing.T) {
			t.Parallel()
			p1 := newHandoverPool(t, b, "leases", keys)
			p2 := must(pool.New[proxy](b.NewClient(t), b.Prefix, "leases"))(t)
			m := leasetest.Handover(t, n, handoverPar(b), 10*time.Millisecond, time.Second,
				func(ctx context.Context, i int, ttl time.Duration) (leasetest.Holding, error) {
					a, err := p1.MallocMember(ctx, keys[i], pool.LeaseTTL(ttl))
					if err != nil {
						return leasetest.Holding{}, err
					}
					return leasetest.Holding{Valid: a.Valid, CtxErr: a.Context().Err, Deadline: a.Deadline()}, nil
				},
				func(ctx context.Context, i int) (bool, error) {
					_, err := p2.MallocMember(ctx, keys[i])
					if errors.Is(err, pool.ErrEmpty) {
						return false, nil
					}
					return err == nil, err
				})
			t.Logf("%d trials: the second grant came at least %v after the holder's local deadline", n, m)
		})
		t.Run("Session", func(t *testing.T) {
			t.Parallel()
			p1 := newHandoverPool(t, b, "sessions", keys)
			p2 := must(pool.New[proxy](b.NewClient(t), b.Prefix, "sessions"))(t)
			var mu sync.Mutex
			var sessions []*health.Session
			defer func() {
				for _, s := range sessions {
					_ = s.Close(context.Background())
				}
			}()
			m := leasetest.Handover(t, n, handoverPar(b), 10*time.Millisecond, time.Second,
				func(ctx context.Context, i int, ttl time.Duration) (leasetest.Holding, error) {
					// No Run: the session lives one timeout from its
					// registration, so its local deadline is at most
					// registered + ttl less the margin.
					registered := time.Now()
					s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithTimeout(ttl), health.WithInterval(ttl/3))
					if err != nil {
						return leasetest.Holding{}, err
					}
					mu.Lock()
					sessions = append(sessions, s)
					mu.Unlock()
					a, err := p1.MallocMember(ctx, keys[i], pool.InSession(s), pool.LeaseTTL(time.Hour))
					if errors.Is(err, pool.ErrInvalid) && !s.Valid() {
						return leasetest.Holding{}, leasetest.ErrSkip // lapsed already: the malloc is refused
					}
					if err != nil {
						return leasetest.Holding{}, err
					}
					return leasetest.Holding{
						Valid: func() bool { return s.Valid() || a.Valid() },
						CtxErr: func() error {
							if err := s.Context().Err(); err == nil {
								return nil
							}
							return a.Context().Err()
						},
						Deadline: registered.Add(ttl - ttl/100 - 2*time.Millisecond),
					}, nil
				},
				func(ctx context.Context, i int) (bool, error) {
					_, err := p2.MallocMember(ctx, keys[i])
					if errors.Is(err, pool.ErrEmpty) {
						return false, nil
					}
					return err == nil, err
				})
			t.Logf("%d trials: the second grant came at least %v after the session's local deadline", n, m)
		})
	})
}

// newHandoverPool returns a pool of keys for the handover trials.
func newHandoverPool(t *testing.T, b *redisxtest.Backend, name string, keys []string) *pool.Pool[proxy] {
	t.Helper()
	p := must(pool.New[proxy](b.Client, b.Prefix, name))(t)
	if _, err := p.AddKeys(context.Background(), keys); err != nil {
		t.Fatal(err)
	}
	return p
}

// must returns v, failing the test on err.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
