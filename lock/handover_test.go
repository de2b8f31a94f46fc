package lock_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/lease/leasetest"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// TestNoHandoverWhileValid: over many trials with TTLs from the shortest a
// Mutex accepts (10ms; shorter ones are refused with ErrInvalid, since the
// drift margin of 1% + 2ms would eat them) to 1s, nobody acquires a lock
// while the previous lease still reports valid (Lease.Valid, or its
// Context not ended). 1,000 trials on the real standalone server, where
// the server's own clock expires the key; fewer on the cluster and on
// miniredis (whose key TTLs follow this process's clock here) as a check.
func TestNoHandoverWhileValid(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		n := 200
		switch {
		case testing.Short():
			n = 50
		case b.Name == redisxtest.BackendStandalone:
			n = 1000
		}
		par := 64
		if !b.Real() {
			par = 8 // miniredis runs in this process: fewer pollers at once
		}
		tb := setup(t, b)
		other, err := lock.New(b.NewClient(t), b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		m := leasetest.Handover(t, n, par, 10*time.Millisecond, time.Second,
			func(ctx context.Context, i int, ttl time.Duration) (leasetest.Holding, error) {
				mu, err := tb.l.Mutex(fmt.Sprintf("h%d", i), lock.WithTTL(ttl))
				if err != nil {
					return leasetest.Holding{}, err
				}
				l, err := mu.TryAcquire(ctx)
				if err != nil {
					return leasetest.Holding{}, err
				}
				return leasetest.Holding{Valid: l.Valid, CtxErr: l.Context().Err, Deadline: l.Deadline()}, nil
			},
			func(ctx context.Context, i int) (bool, error) {
				mu, err := other.Mutex(fmt.Sprintf("h%d", i), lock.WithTTL(time.Second))
				if err != nil {
					return false, err
				}
				l, err := mu.TryAcquire(ctx)
				if errors.Is(err, lock.ErrNotAcquired) {
					return false, nil
				}
				if err != nil {
					return false, err
				}
				// Best effort: on a slow server this lease may have lapsed already.
				_ = l.Release(ctx)
				return true, nil
			})
		t.Logf("%d trials: the next acquisition came at least %v after the holder's local deadline", n, m)
	})
}
