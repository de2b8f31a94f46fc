package lock_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// TestReleaseWakesNoHerd: with n Acquires of one process waiting for a
// lock, each release leads to about one acquisition attempt, not one per
// waiter (every release woke every waiter, which each ran the acquire
// script: n*(n+1)/2 attempts to serve n waiters).
func TestReleaseWakesNoHerd(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const n = 10
		var attempts atomic.Int64
		holder := must(tb.l.Mutex("herd")).get(t)
		lease := must(holder.TryAcquire(tb.ctx)).get(t)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			m := must(tb.l.Mutex("herd")).get(t)
			lock.CountAttempts(m, &attempts)
			wg.Go(func() {
				l, err := m.Acquire(tb.ctx)
				if err == nil {
					err = l.Release(tb.ctx)
				}
				errs <- err
			})
		}
		time.Sleep(300 * time.Millisecond) // the waiters park
		attempts.Store(0)
		if err := lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// n handoffs, and some slack for a waiter that was not parked yet
		// or a watcher woken by an invalidation.
		got := attempts.Load()
		t.Logf("%s: %d attempts for %d waiters", b.Name, got, n)
		if got > 2*n {
			t.Fatalf("%d acquisition attempts to serve %d waiters: a herd", got, n)
		}
	})
}
