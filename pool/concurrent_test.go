package pool_test

import (
	"context"
	"errors"
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
	// Waiting mallocs run one script each; the others share batched runs
	// (pool_malloc_many), which must be just as exclusive.
	for _, wait := range []bool{true, false} {
		t.Run(map[bool]string{true: "Waiting", false: "Batched"}[wait], func(t *testing.T) {
			t.Parallel()
			noDoubleHolding(t, wait)
		})
	}
}

func noDoubleHolding(t *testing.T, wait bool) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "m1", "m2", "m3", "m4", "m5")
		const workers, rounds = 16, 40
		var (
			mu        sync.Mutex
			holder    = map[string]int{}
			lastFence = map[string]int64{}
			maxFence  int64
			seen      = map[int64]bool{}
			allocs    int
		)
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := 1; w <= workers; w++ {
			wg.Go(func() {
				for r := 0; r < rounds; r++ {
					ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
					opts := []pool.MallocOption{pool.LeaseTTL(time.Minute)}
					if wait {
						opts = append(opts, pool.Wait())
					}
					a, err := tb.p.Malloc(ctx, opts...)
					cancel()
					if !wait && errors.Is(err, pool.ErrEmpty) {
						r-- // all held: try again
						time.Sleep(time.Millisecond)
						continue
					}
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
					if a.Fence() <= lastFence[a.Key] || seen[a.Fence()] {
						t.Errorf("%s: fence %d after %d (seen before: %v)", a.Key, a.Fence(), lastFence[a.Key], seen[a.Fence()])
					}
					holder[a.Key], lastFence[a.Key], seen[a.Fence()] = w, a.Fence(), true
					maxFence = max(maxFence, a.Fence())
					allocs++
					mu.Unlock()
					time.Sleep(time.Duration(r%3) * time.Millisecond)
					mu.Lock()
					delete(holder, a.Key) // before Free: the next holder comes after it
					mu.Unlock()
					if err := a.Release(tb.ctx); err != nil {
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
		if allocs != workers*rounds || s.Fence != maxFence || s.Counts.Free != 5 || s.Waiters != 0 {
			t.Fatalf("allocs %d fence %d counts %+v waiters %d", allocs, s.Fence, s.Counts, s.Waiters)
		}
	})
}

// TestCancelledMallocLeaksNothing: a Malloc whose ctx ends while its script
// is in flight must not leave a member held by nobody until its lease lapses.
func TestCancelledMallocLeaksNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "m")
		for i := range 200 {
			ctx, cancel := context.WithTimeout(tb.ctx, time.Duration(i%7)*50*time.Microsecond)
			a, err := tb.p.Malloc(ctx, pool.LeaseTTL(time.Hour))
			cancel()
			if err == nil {
				if err := a.Release(tb.ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := tb.p.Admin().Counts(tb.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Free == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member still held by an abandoned malloc: %+v", c)
			}
			time.Sleep(10 * time.Millisecond)
		}
		tb.healthy(t)
	})
}

// TestWaiterGivingUpDoesNotStarveOthers: a waiter that gives up must not
// take another waiter's wake-up with it.
func TestWaiterGivingUpDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithWaitPoll(30*time.Second))
		tb.extend(t, "only")
		held := tb.malloc(t)
		result := make(chan error, 1)
		go func() {
			a, err := tb.p.Malloc(tb.ctx, pool.Wait())
			if err == nil {
				err = a.Release(tb.ctx)
			}
			result <- err
		}()
		for i := range 3 { // waiters that give up, some while the other waits
			ctx, cancel := context.WithTimeout(tb.ctx, time.Duration(20+10*i)*time.Millisecond)
			if _, err := tb.p.Malloc(ctx, pool.Wait()); !errors.Is(err, pool.ErrEmpty) {
				t.Errorf("impatient waiter: %v", err)
			}
			cancel()
		}
		deadline := time.Now().Add(5 * time.Second)
		for tb.healthy(t).Waiters != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("waiters %d, want the patient one", tb.healthy(t).Waiters)
			}
			time.Sleep(5 * time.Millisecond)
		}
		freed := time.Now()
		if err := held.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-result:
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(freed); d > 3*time.Second {
				t.Fatalf("patient waiter woke %v after the free", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("patient waiter never woke")
		}
	})
}

// TestSeveralMemberWaiterTakesNoWakeUps: a waiting MallocN of three, which
// one freed member cannot serve, must not swallow the wake-up a waiting
// single malloc needs; it gets its members by polling once enough are free.
func TestSeveralMemberWaiterTakesNoWakeUps(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		// The poll is long, so only a wake-up can bring the single waiter
		// back quickly.
		tb := setup(t, b, pool.WithWaitPoll(5*time.Second))
		tb.extend(t, "a", "b", "c")
		held, err := tb.p.MallocN(tb.ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		multi := make(chan error, 1)
		go func() {
			all, err := tb.p.MallocN(tb.ctx, 3, pool.Wait())
			if err == nil {
				err = tb.p.Release(tb.ctx, all...)
			}
			multi <- err
		}()
		single := make(chan error, 1)
		go func() {
			a, err := tb.p.Malloc(tb.ctx, pool.Wait())
			if err == nil {
				err = a.Release(tb.ctx)
			}
			single <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for tb.healthy(t).Waiters != 1 { // the single one: the other polls
			if time.Now().After(deadline) {
				t.Fatalf("waiters %d, want 1", tb.healthy(t).Waiters)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // both are waiting now
		freed := time.Now()
		if err := held[0].Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-single:
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(freed); d > 2*time.Second {
				t.Fatalf("the single waiter woke %v after the free", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the single waiter never woke")
		}
		if err := tb.p.Release(tb.ctx, held[1:]...); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-multi:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the MallocN waiter never got its members")
		}
	})
}

// TestOneFreeRunWakesEveryWaiter: a script run that frees several members
// queues a wake-up for each (up to one per waiter), so every waiter gets a
// member at once, not one per run and the rest at the next poll.
func TestOneFreeRunWakesEveryWaiter(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithWaitPoll(30*time.Second))
		keys := []string{"a", "b", "c"}
		tb.extend(t, keys...)
		for range keys {
			tb.malloc(t, pool.LeaseTTL(time.Minute))
		}
		const waiters = 3
		got := make(chan error, waiters)
		for range waiters {
			go func() {
				_, err := tb.p.Malloc(tb.ctx, pool.Wait(), pool.LeaseTTL(time.Minute))
				got <- err
			}()
		}
		deadline := time.Now().Add(5 * time.Second)
		for tb.healthy(t).Waiters != waiters {
			if time.Now().After(deadline) {
				t.Fatalf("waiters %d, want %d", tb.healthy(t).Waiters, waiters)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n, err := tb.p.Admin().ForceReleaseKeys(tb.ctx, keys...); n != len(keys) || err != nil {
			t.Fatalf("FreeKeys = %d, %v", n, err)
		}
		timeout := time.After(10 * time.Second) // far below the 30 s poll
		for range waiters {
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-timeout:
				t.Fatal("a waiter was not woken by the run that freed its member")
			}
		}
	})
}

// TestWaitEndsAtCancel: a waiting malloc whose ctx (without a deadline) is
// cancelled returns at once, not at the next poll.
func TestWaitEndsAtCancel(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithWaitPoll(30*time.Second))
		ctx, cancel := context.WithCancel(tb.ctx)
		done := make(chan error, 1)
		go func() {
			_, err := tb.p.Malloc(ctx, pool.Wait())
			done <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for tb.healthy(t).Waiters != 1 {
			if time.Now().After(deadline) {
				t.Fatal("waiter never registered")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancelled := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || !errors.Is(err, pool.ErrEmpty) {
				t.Fatalf("cancelled wait = %v", err)
			}
			if d := time.Since(cancelled); d > 3*time.Second {
				t.Fatalf("cancelled wait returned after %v", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("cancelled wait did not return")
		}
		if w := tb.healthy(t).Waiters; w != 0 {
			t.Errorf("waiters %d after the cancel", w)
		}
	})
}
