package lock_test

import (
	"context"
	"errors"
	"fmt"
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

// waitQueued waits until n Acquires of l wait for key.
func waitQueued(t *testing.T, l *lock.Locker, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for lock.Queued(l, key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Acquires queued for %q, want %d", lock.Queued(l, key), key, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// acquired is what a waiting Acquire got.
type acquired struct {
	who   int
	lease *lock.Lease
	err   error
}

// TestAcquireQueueIsFIFO: waiters of one process get the lock in the order
// they started waiting.
func TestAcquireQueueIsFIFO(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const n = 6
		m := must(tb.l.Mutex("fifo")).get(t)
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		got := make(chan acquired, n)
		for i := range n {
			go func() {
				l, err := m.Acquire(tb.ctx)
				got <- acquired{i, l, err}
			}()
			waitQueued(t, tb.l, "fifo", i+1)
		}
		fence := lease.Fence()
		if err := lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		for want := range n {
			g := <-got
			if g.err != nil {
				t.Fatal(g.err)
			}
			if g.who != want {
				t.Fatalf("waiter %d got the lock in turn %d", g.who, want)
			}
			if g.lease.Fence() <= fence {
				t.Fatalf("fence %d after %d", g.lease.Fence(), fence)
			}
			fence = g.lease.Fence()
			if v, _ := get(t, b.Client, lockKey(b, "fifo")); v != lock.LeaseToken(g.lease) {
				t.Fatalf("the lock holds %q, not the new lease's token", v)
			}
			if err := g.lease.Release(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := get(t, b.Client, lockKey(b, "fifo")); ok {
			t.Fatal("lock left behind")
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(tb.l))
		}
	})
}

// TestAcquireCancelInQueue: waiters that give up leave the queue (the
// first, which watches Redis for the others, included) and the rest still
// get the lock.
func TestAcquireCancelInQueue(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const n = 5
		m := must(tb.l.Mutex("cancel")).get(t)
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		got := make(chan acquired, n)
		cancels := make([]context.CancelFunc, n)
		for i := range n {
			ctx, cancel := context.WithCancel(tb.ctx)
			cancels[i] = cancel
			go func() {
				l, err := m.Acquire(ctx)
				got <- acquired{i, l, err}
			}()
			waitQueued(t, tb.l, "cancel", i+1)
		}
		// The head, then one in the middle.
		for _, i := range []int{0, 2} {
			cancels[i]()
			g := <-got
			if g.who != i || !errors.Is(g.err, lock.ErrNotAcquired) || !errors.Is(g.err, context.Canceled) {
				t.Fatalf("cancelled waiter %d: got waiter %d with %v", i, g.who, g.err)
			}
		}
		waitQueued(t, tb.l, "cancel", n-2)
		if err := lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		for _, want := range []int{1, 3, 4} {
			select {
			case g := <-got:
				if g.err != nil || g.who != want {
					t.Fatalf("waiter %d (%v), want waiter %d", g.who, g.err, want)
				}
				if err := g.lease.Release(tb.ctx); err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("waiter %d never got the lock", want)
			}
		}
		for _, c := range cancels {
			c()
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(tb.l))
		}
	})
}

// TestAcquireCancelDuringHandoff: a waiter that gives up while a release
// is acquiring the lock for it returns at once, and the lock it was given
// goes on to the next waiter instead of staying behind.
//
// The release hands over only when it finds waiter 0 outside an attempt
// of its own (the watcher retries now and then, e.g. every
// trackedRecheck); otherwise it releases plainly and waiter 0 takes the
// lock itself. That is correct, but not the case under test: the round
// is then cleaned up and run again.
func TestAcquireCancelDuringHandoff(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		holder := must(tb.l.Mutex("handoff")).get(t)
		var faults lock.Faults
		lock.InjectFaults(holder, &faults)
		m := must(tb.l.Mutex("handoff")).get(t)
		for round := 0; ; round++ {
			if round == 20 {
				t.Fatal("the release never found waiter 0 outside an attempt of its own")
			}
			if cancelDuringHandoff(t, tb, b, holder, m, &faults) {
				return
			}
		}
	})
}

// cancelDuringHandoff is one round of TestAcquireCancelDuringHandoff. It
// reports false when the release did not hand over (waiter 0 was in an
// attempt of its own), after cleaning up.
func cancelDuringHandoff(t *testing.T, tb *testBundle, b *redisxtest.Backend, holder, m *lock.Mutex, faults *lock.Faults) bool {
	t.Helper()
	lease := must(holder.TryAcquire(tb.ctx)).get(t)
	first, cancelFirst := context.WithCancel(tb.ctx)
	defer cancelFirst()
	got := make(chan acquired, 2)
	go func() {
		l, err := m.Acquire(first)
		got <- acquired{0, l, err}
	}()
	waitQueued(t, tb.l, "handoff", 1)
	go func() {
		l, err := m.Acquire(tb.ctx)
		got <- acquired{1, l, err}
	}()
	waitQueued(t, tb.l, "handoff", 2)
	// The release claims waiter 0, then stalls before Redis until
	// waiter 0 has given up.
	entered, proceed := make(chan struct{}), make(chan struct{})
	faults.SetHandoff(func(context.Context) error { close(entered); <-proceed; return nil })
	defer faults.SetHandoff(nil)
	released := make(chan error, 1)
	go func() { released <- lease.Release(tb.ctx) }()
	select {
	case <-entered:
	case err := <-released:
		// Released plainly: waiter 0, then waiter 1 get the lock in turn.
		t.Log("waiter 0 was in an attempt of its own: released plainly, once more")
		noErr(t, err)
		for want := range 2 {
			select {
			case g := <-got:
				if g.who != want || g.err != nil {
					t.Fatalf("after a plain release: waiter %d: %v, want waiter %d with the lock", g.who, g.err, want)
				}
				noErr(t, g.lease.Release(tb.ctx))
			case <-time.After(10 * time.Second):
				t.Fatalf("after a plain release: waiter %d never got the lock", want)
			}
		}
		return false
	}
	if n := lock.Queued(tb.l, "handoff"); n != 1 {
		t.Fatalf("%d Acquires queued during the handoff, want 1", n)
	}
	cancelFirst()
	select {
	case g := <-got:
		if g.who != 0 || !errors.Is(g.err, context.Canceled) {
			t.Fatalf("waiter %d: %v, want waiter 0 cancelled", g.who, g.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter being handed the lock did not stop when its ctx ended")
	}
	close(proceed)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g.who != 1 || g.err != nil {
			t.Fatalf("waiter %d: %v, want waiter 1 with the lock", g.who, g.err)
		}
		if v, _ := get(t, b.Client, lockKey(b, "handoff")); v != lock.LeaseToken(g.lease) {
			t.Fatalf("the lock holds %q, not waiter 1's token", v)
		}
		if err := g.lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		v, _ := get(t, b.Client, lockKey(b, "handoff"))
		t.Fatalf("the lock was not handed on from the waiter that gave up (the lock holds %q; queue: %s)", v, lock.DumpQueue(tb.l, "handoff"))
	}
	if _, ok := get(t, b.Client, lockKey(b, "handoff")); ok {
		t.Fatal("lock left behind")
	}
	return true
}

// TestAcquireStressNoLostWakeUp: many waiters in three processes (three
// Lockers), those of one giving up at random moments, the others holding
// the lock briefly: every waiter that does not give up gets the lock, no
// two hold it at once, the fences of the leases rise strictly in the order
// the lock was held, and nothing is left behind.
func TestAcquireStressNoLostWakeUp(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const ttl = 3 * time.Second
		other := must(lock.New(b.Client, b.Prefix, lock.WithTTL(ttl))).get(t)
		// The impatient process has a client of its own: rueidis may fail
		// calls sharing a connection with one whose ctx ended ("connection
		// failed under another call"), which the patient must not see.
		impatient := must(lock.New(b.NewClient(t), b.Prefix, lock.WithTTL(ttl))).get(t)
		lockers := []*lock.Locker{must(lock.New(b.Client, b.Prefix, lock.WithTTL(ttl))).get(t), other, impatient}
		for _, l := range lockers { // connect first
			m := must(l.Mutex("stress")).get(t)
			noErr(t, must(m.Acquire(tb.ctx)).get(t).Release(tb.ctx))
		}
		const workers, rounds = 12, 10
		var (
			mu        sync.Mutex
			fences    []int64
			held      atomic.Int32
			failed    atomic.Int32 // impatient attempts that failed otherwise than by giving up
			wg        sync.WaitGroup
			errs      = make(chan error, workers)
			patient   = func(w int) bool { return w%3 != 2 }
			giveUpFor = func(w, r int) time.Duration { return time.Duration(r*w%5) * time.Millisecond }
		)
		for w := range workers {
			m := must(lockers[w%3].Mutex("stress")).get(t)
			wg.Go(func() {
				for r := range rounds {
					ctx := tb.ctx
					if !patient(w) {
						c, cancel := context.WithTimeout(tb.ctx, giveUpFor(w, r))
						defer cancel()
						ctx = c
					}
					lease, err := m.Acquire(ctx)
					switch {
					case err != nil && patient(w):
						errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
						return
					case err != nil:
						if !errors.Is(err, lock.ErrNotAcquired) || ctx.Err() == nil {
							failed.Add(1)
						}
						continue
					}
					if held.Add(1) != 1 {
						errs <- fmt.Errorf("worker %d round %d: two holders at once", w, r)
					}
					mu.Lock()
					fences = append(fences, lease.Fence())
					mu.Unlock()
					if r%2 == 0 {
						time.Sleep(time.Millisecond)
					}
					held.Add(-1)
					if err := lease.Release(tb.ctx); err != nil && patient(w) {
						errs <- fmt.Errorf("worker %d round %d: release: %w", w, r, err)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			v, ok := get(t, b.Client, lockKey(b, "stress"))
			t.Errorf("stuck: lock %q %v; queues: %s | %s | %s", v, ok,
				lock.DumpQueue(lockers[0], "stress"), lock.DumpQueue(other, "stress"), lock.DumpQueue(impatient, "stress"))
			<-done
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := 1; i < len(fences); i++ {
			if fences[i] <= fences[i-1] {
				t.Fatalf("fence %d = %d after %d", i, fences[i], fences[i-1])
			}
		}
		t.Logf("%s: %d leases, %d impatient attempts failed otherwise than by giving up", b.Name, len(fences), failed.Load())
		if _, ok := get(t, b.Client, lockKey(b, "stress")); ok && failed.Load() == 0 {
			t.Fatal("lock left behind")
		}
		for _, l := range lockers {
			if n := lock.TrackingConns(l); n != 0 {
				t.Fatalf("%d tracking connections left", n)
			}
		}
	})
}

// TestAcquireQueueNoticesForcedUnlock: while a lease of this process
// holds the lock, the queue waits for its release rather than watching
// Redis, but a lock deleted behind the holder's back still reaches the
// first waiter: at once when the holder watches its lease (Context), else
// within about a second.
func TestAcquireQueueNoticesForcedUnlock(t *testing.T) {
	t.Parallel()
	for _, watched := range []bool{true, false} {
		t.Run(fmt.Sprintf("Watched=%v", watched), func(t *testing.T) {
			t.Parallel()
			redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
				tb := setup(t, b)
				m := must(tb.l.Mutex("forced")).get(t)
				first := must(m.TryAcquire(tb.ctx)).get(t)
				got := make(chan acquired, 2)
				for i := range 2 {
					go func() {
						l, err := m.Acquire(tb.ctx)
						got <- acquired{i, l, err}
					}()
					waitQueued(t, tb.l, "forced", i+1)
				}
				noErr(t, first.Release(tb.ctx)) // handed to waiter 0
				holder := <-got
				if holder.err != nil || holder.who != 0 {
					t.Fatalf("waiter %d: %v", holder.who, holder.err)
				}
				limit := time.Second + wakeLimit(b) + 2*time.Second
				if watched {
					holder.lease.Context()
					limit = 2 * wakeLimit(b)
				}
				time.Sleep(50 * time.Millisecond) // waiter 1 settles
				forced := time.Now()
				if _, err := tb.l.ForceUnlock(tb.ctx, "forced"); err != nil {
					t.Fatal(err)
				}
				select {
				case g := <-got:
					if g.err != nil || g.who != 1 {
						t.Fatalf("waiter %d: %v", g.who, g.err)
					}
					t.Logf("%s: acquired %v after the forced unlock", b.Name, time.Since(forced))
					noErr(t, g.lease.Release(tb.ctx))
				case <-time.After(limit):
					t.Fatalf("the waiter did not notice the lock deleted by force within %v", limit)
				}
				if err := holder.lease.Release(tb.ctx); !errors.Is(err, lock.ErrNotHeld) {
					t.Fatalf("release of the forced-out lease: %v, want ErrNotHeld", err)
				}
			})
		})
	}
}
