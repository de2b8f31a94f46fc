package pool_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestNoDoubleHolding runs many goroutines that allocate, use and free a
// small pool and checks that no member is ever held by two of them and
// that fencing numbers only rise, per member and across the pool.
func TestNoDoubleHolding(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "m1", "m2", "m3", "m4", "m5")
		const workers, rounds = 16, 40
		var (
			mu        sync.Mutex
			holder    = map[string]int{}
			lastFence = map[string]int64{}
			seen      = map[int64]bool{}
			allocs    int
		)
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := 1; w <= workers; w++ {
			wg.Go(func() {
				for r := 0; r < rounds; r++ {
					ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
					a, err := tb.p.Malloc(ctx, pool.Wait(), pool.LeaseTTL(time.Minute))
					cancel()
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					if h := holder[a.Key]; h != 0 {
						mu.Unlock()
						t.Errorf("%s held by worker %d and %d", a.Key, h, w)
						return
					}
					if a.Fence <= lastFence[a.Key] || seen[a.Fence] {
						t.Errorf("%s: fence %d after %d (seen before: %v)", a.Key, a.Fence, lastFence[a.Key], seen[a.Fence])
					}
					holder[a.Key], lastFence[a.Key], seen[a.Fence] = w, a.Fence, true
					allocs++
					mu.Unlock()
					time.Sleep(time.Duration(r%3) * time.Millisecond)
					mu.Lock()
					delete(holder, a.Key) // before Free: the next holder comes after it
					mu.Unlock()
					if err := a.Free(tb.ctx); err != nil {
						errc <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		s := tb.healthy(t)
		if allocs != workers*rounds || s.Fence != int64(allocs) || s.Counts.Free != 5 || s.Waiters != 0 {
			t.Fatalf("allocs %d fence %d counts %+v waiters %d", allocs, s.Fence, s.Counts, s.Waiters)
		}
	})
}
