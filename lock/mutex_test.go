package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

func fenceKey(b *redisxtest.Backend, name string) string {
	return b.Prefix + ":{lock:" + name + "}:fence"
}

// waitDone waits for ctx to end, failing the test after limit.
func waitDone(t *testing.T, ctx context.Context, limit time.Duration) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(limit):
		t.Fatalf("context not cancelled within %v", limit)
	}
}

// Defaults of a Mutex, as WithTTL and WithPollInterval document them.
const (
	defaultTTL     = 30 * time.Second
	defaultPollMax = 100 * time.Millisecond
)

// wakeLimit is how fast a waiter must notice a release: invalidations on a
// real server take about a millisecond, and miniredis is polled at most
// every defaultPollMax. The bounds are loose because these tests run in
// parallel under the race detector on small CI machines; the benchmarks
// measure the real figures, and the synctest tests the exact timings.
func wakeLimit(b *redisxtest.Backend) time.Duration {
	if b.Real() {
		return 250 * time.Millisecond
	}
	return defaultPollMax + 900*time.Millisecond
}

func TestMutexTryAcquireAndRelease(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		m := must(l.Mutex("job")).get(t)
		lease := must(m.TryAcquire(ctx)).get(t)
		if !lease.Valid() {
			t.Fatal("fresh lease not valid")
		}
		if _, err := m.TryAcquire(ctx); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("second TryAcquire: %v, want ErrNotAcquired", err)
		}
		// The lock shares its key with the Lock family.
		if ok := must(l.Lock(ctx, "job", "someone", time.Minute)).get(t); ok {
			t.Fatal("Lock took a key a lease holds")
		}
		in := must(l.Info(ctx, "job")).get(t)
		if in.Owner != lock.LeaseToken(lease) || in.TTL > defaultTTL || in.TTL < defaultTTL-5*time.Second {
			t.Fatalf("Info = %+v, want owner %q and a TTL near %v", in, lock.LeaseToken(lease), defaultTTL)
		}
		if v, _ := get(t, b.Client, fenceKey(b, "job")); v != strconv.FormatInt(lease.Fence(), 10) {
			t.Fatalf("fence counter %q, token %d", v, lease.Fence())
		}
		if f := must(l.Fence(ctx, "job")).get(t); f != lease.Fence() {
			t.Fatalf("Fence = %d, token %d", f, lease.Fence())
		}
		if f := must(l.Fence(ctx, "never-acquired")).get(t); f != 0 {
			t.Fatalf("Fence of a lock never acquired = %d, want 0", f)
		}
		if _, err := l.Fence(ctx, "bad{name}"); !errors.Is(err, lock.ErrInvalid) {
			t.Fatalf("Fence(bad name) = %v, want ErrInvalid", err)
		}
		ctxLease := lease.Context()
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if lease.Valid() {
			t.Fatal("released lease still valid")
		}
		if c := context.Cause(ctxLease); !errors.Is(c, lock.ErrNotHeld) || errors.Is(c, lock.ErrLost) {
			t.Fatalf("cause after Release = %v", context.Cause(ctxLease))
		}
		if err := lease.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("second Release: %v, want ErrNotHeld", err)
		}
		if err := lease.Refresh(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Refresh after Release: %v, want ErrNotHeld", err)
		}
		// No key per acquisition: after many, the lock's fence counter is
		// all that is left.
		last := lease.Fence()
		for range 20 {
			l2 := must(m.TryAcquire(ctx)).get(t)
			if l2.Fence() <= last {
				t.Fatalf("fencing token %d after %d", l2.Fence(), last)
			}
			last = l2.Fence()
			if err := l2.Release(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if keys := b.Keys(t); len(keys) != 1 || keys[0] != fenceKey(b, "job") {
			t.Fatalf("keys after releases: %v, want only the fence counter", keys)
		}
		if ms := pttl(t, b.Client, fenceKey(b, "job")); ms != -1 {
			t.Fatalf("fence counter PTTL %d: it must never expire", ms)
		}
		if lock.TrackingConns(l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(l))
		}
	})
}

func TestNilLease(t *testing.T) {
	t.Parallel()
	var l *lock.Lease
	if err := l.Release(context.Background()); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Release: %v", err)
	}
	if err := l.Refresh(context.Background()); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Refresh: %v", err)
	}
	if l.Valid() || l.Fence() != 0 || lock.LeaseToken(l) != "" {
		t.Error("nil lease looks held")
	}
	if ctx := l.Context(); ctx.Err() == nil || !errors.Is(context.Cause(ctx), lock.ErrNotHeld) {
		t.Errorf("Context: %v, %v", ctx.Err(), context.Cause(ctx))
	}
}

func TestFencingMonotonicUnderContention(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const workers, rounds = 8, 10
		var (
			mu     sync.Mutex
			tokens []int64
			wg     sync.WaitGroup
			errs   = make(chan error, workers)
		)
		for w := range workers {
			wg.Go(func() {
				// Each worker has its own Mutex value for the same lock, as
				// separate processes would.
				m, err := tb.l.Mutex("counter", lock.WithTTL(5*time.Second))
				if err != nil {
					errs <- err
					return
				}
				for r := range rounds {
					lease, err := m.Acquire(tb.ctx)
					if err != nil {
						errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
						return
					}
					// Recorded while holding the lock: the order of the
					// slice is the order of the leases.
					mu.Lock()
					tokens = append(tokens, lease.Fence())
					mu.Unlock()
					if err := lease.Release(tb.ctx); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(tokens) != workers*rounds {
			t.Fatalf("%d leases, want %d", len(tokens), workers*rounds)
		}
		for i := 1; i < len(tokens); i++ {
			if tokens[i] <= tokens[i-1] {
				t.Fatalf("token %d = %d after %d: not strictly increasing (%v)", i, tokens[i], tokens[i-1], tokens)
			}
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(tb.l))
		}
	})
}

func TestAcquireWakesOnRelease(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		m := must(tb.l.Mutex("wake")).get(t)
		holder := must(m.TryAcquire(tb.ctx)).get(t)
		type got struct {
			lease *lock.Lease
			at    time.Time
			err   error
		}
		done := make(chan got, 1)
		go func() {
			lease, err := m.Acquire(tb.ctx)
			done <- got{lease, time.Now(), err}
		}()
		time.Sleep(300 * time.Millisecond) // the waiter is parked
		select {
		case g := <-done:
			t.Fatalf("Acquire returned while held: %v", g.err)
		default:
		}
		released := time.Now()
		if err := holder.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		g := <-done
		if g.err != nil {
			t.Fatal(g.err)
		}
		woke := g.at.Sub(released)
		t.Logf("%s: waiter acquired %v after the release", b.Name, woke)
		if woke > wakeLimit(b) {
			t.Fatalf("waiter took %v to notice the release, limit %v", woke, wakeLimit(b))
		}
		if g.lease.Fence() <= holder.Fence() {
			t.Fatalf("fencing token went from %d to %d", holder.Fence(), g.lease.Fence())
		}
		if err := g.lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if off := lock.TrackingOff(tb.l); off == b.Real() {
			t.Fatalf("tracking off = %v on %s", off, b.Name)
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(tb.l))
		}
	})
}

func TestAcquirePollsWithoutTracking(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, lock.WithTracking(false), lock.WithPollInterval(time.Millisecond, 20*time.Millisecond))
		m := must(tb.l.Mutex("poll")).get(t)
		holder := must(m.TryAcquire(tb.ctx)).get(t)
		done := make(chan error, 1)
		var at time.Time
		go func() {
			lease, err := m.Acquire(tb.ctx)
			at = time.Now()
			if err == nil {
				err = lease.Release(tb.ctx)
			}
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		released := time.Now()
		if err := holder.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if woke := at.Sub(released); woke > 20*time.Millisecond+200*time.Millisecond {
			t.Fatalf("polling waiter took %v with a 20ms max delay", woke)
		}
		if lock.TrackingConns(tb.l) != 0 || lock.TrackingOff(tb.l) {
			t.Fatal("WithTracking(false) touched the tracker")
		}
	})
}

func TestAcquireWakesOnExpiry(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		// The holder "crashes": it never releases, and nobody watches it.
		crashed := must(tb.l.Mutex("expiry", lock.WithTTL(300*time.Millisecond))).get(t)
		start := time.Now()
		must(crashed.TryAcquire(tb.ctx)).get(t)
		m := must(tb.l.Mutex("expiry")).get(t)
		lease := must(m.Acquire(tb.ctx)).get(t)
		took := time.Since(start)
		if took < 250*time.Millisecond || took > 300*time.Millisecond+wakeLimit(b)+time.Second {
			t.Fatalf("acquired %v after a 300ms holder started", took)
		}
		if err := lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAcquireGivesUpWhenCtxEnds(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		m := must(tb.l.Mutex("busy")).get(t)
		holder := must(m.TryAcquire(tb.ctx)).get(t)
		ctx, cancel := context.WithTimeout(tb.ctx, 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := m.Acquire(ctx)
		if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire: %v, want ErrNotAcquired and DeadlineExceeded", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("Acquire returned %v after its deadline", took)
		}
		if in := must(tb.l.Info(tb.ctx, "busy")).get(t); in.Owner != lock.LeaseToken(holder) {
			t.Fatalf("the waiter changed the lock: %+v", in)
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left after giving up", lock.TrackingConns(tb.l))
		}
		// A cancelled context stops at once too.
		ctx2, cancel2 := context.WithCancel(tb.ctx)
		cancel2()
		if _, err := m.Acquire(ctx2); !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with a cancelled ctx: %v", err)
		}
		if err := holder.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLeaseContextEndsWhenLockDeleted(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		m := must(tb.l.Mutex("del", lock.WithTTL(time.Second))).get(t)
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		ctx := lease.Context()
		time.Sleep(50 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatalf("context ended while held: %v", context.Cause(ctx))
		}
		deleted := time.Now()
		if !must(tb.l.ForceUnlock(tb.ctx, "del")).get(t) {
			t.Fatal("nothing to delete")
		}
		// Invalidations on a real server; a check every quarter TTL on
		// miniredis.
		limit := 250*time.Millisecond + wakeLimit(b)
		waitDone(t, ctx, limit)
		t.Logf("%s: lease context ended %v after the delete", b.Name, time.Since(deleted))
		if !errors.Is(context.Cause(ctx), lock.ErrLost) {
			t.Fatalf("cause %v, want ErrLost", context.Cause(ctx))
		}
		if lease.Valid() {
			t.Fatal("lost lease still valid")
		}
		if err := lease.Release(tb.ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release of a lost lease: %v, want ErrNotHeld", err)
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(tb.l))
		}
	})
}

func TestLeaseContextEndsWhenTakenOver(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		m := must(tb.l.Mutex("take", lock.WithTTL(time.Second), lock.WithWatchdog(true))).get(t)
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		ctx := lease.Context()
		if err := tb.l.ForceSet(tb.ctx, "take", "intruder", time.Minute); err != nil {
			t.Fatal(err)
		}
		waitDone(t, ctx, 250*time.Millisecond+wakeLimit(b))
		if !errors.Is(context.Cause(ctx), lock.ErrLost) {
			t.Fatalf("cause %v", context.Cause(ctx))
		}
		// The loser does not delete the new owner's lock.
		if err := lease.Release(tb.ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release: %v", err)
		}
		if v := must(value(tb.ctx, tb.l, "take")).get(t); v != "intruder" {
			t.Fatalf("value %q", v)
		}
	})
}

func TestLeaseContextEndsAtExpiry(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const ttl = 400 * time.Millisecond
		m := must(tb.l.Mutex("exp", lock.WithTTL(ttl))).get(t)
		faults := &lock.Faults{}
		lock.InjectFaults(m, faults)
		// The lease lets go of the lock right after it ends; look at the
		// lock at that moment.
		seen := make(chan lock.Info, 1)
		faults.SetRelease(func(context.Context) error {
			in, err := tb.l.Info(tb.ctx, "exp")
			if err != nil {
				t.Logf("lock gone when the lease ended: %v (a scheduling stall longer than the drift margin?)", err)
			}
			seen <- in
			return nil
		})
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		ctx := lease.Context()
		waitDone(t, ctx, 2*ttl+time.Second)
		if !errors.Is(context.Cause(ctx), lock.ErrLost) || lease.Valid() {
			t.Fatalf("cause %v, valid %v", context.Cause(ctx), lease.Valid())
		}
		// Unless this machine stalled past the drift margin (the synctest
		// version checks the exact timing), the lock was still ours when
		// the lease ended.
		if in := <-seen; in.Owner != lock.LeaseToken(lease) {
			t.Logf("lock at the end of the lease: %+v (a scheduling stall longer than the drift margin?)", in)
		}
		// ... and the lease gave it up then.
		deadline := time.Now().Add(2 * time.Second)
		for must(isLocked(tb.ctx, tb.l, "exp")).get(t) {
			if time.Now().After(deadline) {
				t.Fatal("lock still there after its lease ended")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestWatchdogRenewsOverSeveralTTLs(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, lock.WithWatchdog(true))
		const ttl = 500 * time.Millisecond
		m := must(tb.l.Mutex("dog", lock.WithTTL(ttl))).get(t)
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		ctx := lease.Context()
		for i := range 4 { // four TTLs
			time.Sleep(ttl)
			in, err := tb.l.Info(tb.ctx, "dog")
			if err != nil || in.Owner != lock.LeaseToken(lease) {
				// Read Valid after the lock: a lease that is still valid
				// now was valid when the lock was read.
				if lease.Valid() {
					t.Fatalf("after %d TTLs the lease is valid but the lock is %+v, %v", i+1, in, err)
				}
				t.Fatalf("lease lost after %d TTLs: %v", i+1, context.Cause(ctx))
			}
		}
		if !lease.Valid() {
			t.Fatal("renewed lease not valid")
		}
		if err := lease.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if must(isLocked(tb.ctx, tb.l, "dog")).get(t) {
			t.Fatal("lock still there after Release")
		}
	})
}

func TestRefreshExtendsLease(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const ttl = time.Second
		m := must(tb.l.Mutex("ref", lock.WithTTL(ttl))).get(t)
		lease := must(m.TryAcquire(tb.ctx)).get(t)
		ctx := lease.Context()
		for range 3 {
			time.Sleep(ttl / 2)
			if err := lease.Refresh(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if ctx.Err() != nil || !lease.Valid() {
			t.Fatalf("refreshed lease lost: %v", context.Cause(ctx))
		}
		must(tb.l.ForceUnlock(tb.ctx, "ref")).get(t)
		if err := lease.Refresh(tb.ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Refresh of a deleted lock: %v, want ErrNotHeld", err)
		}
		waitDone(t, ctx, time.Second)
	})
}

func TestLeaseContextKeepsValuesNotCancellation(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tb := setup(t, b)
	type key struct{}
	actx, cancel := context.WithCancel(context.WithValue(tb.ctx, key{}, "v"))
	m := must(tb.l.Mutex("vals")).get(t)
	lease := must(m.Acquire(actx)).get(t)
	cancel()
	ctx := lease.Context()
	if ctx.Err() != nil {
		t.Fatal("the lease context ended with the acquiring context")
	}
	if ctx.Value(key{}) != "v" {
		t.Fatal("the lease context lost the acquiring context's values")
	}
	if err := lease.Release(tb.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWaitersShareAndSurviveTrackingConnection(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		if !b.Real() {
			t.Skip("miniredis cannot track keys")
		}
		tb := setup(t, b)
		const n = 5
		var holders []*lock.Lease
		var mutexes []*lock.Mutex
		for i := range n {
			m := must(tb.l.Mutex("share-" + strconv.Itoa(i))).get(t)
			mutexes = append(mutexes, m)
			holders = append(holders, must(m.TryAcquire(tb.ctx)).get(t))
		}
		done := make(chan error, n)
		for _, m := range mutexes {
			go func() {
				lease, err := m.Acquire(tb.ctx)
				if err == nil {
					err = lease.Release(tb.ctx)
				}
				done <- err
			}()
		}
		deadline := time.Now().Add(5 * time.Second)
		for lock.TrackingConns(tb.l) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		// One connection per slot: a single server shares one among all
		// waiters; a cluster needs one per lock (each lock has its slot).
		if got := lock.TrackingConns(tb.l); b.Name == redisxtest.BackendStandalone && got != 1 || got > n {
			t.Fatalf("%d tracking connections for %d waiters on %s", got, n, b.Name)
		}
		// A broken tracking connection wakes the waiters; they watch again
		// over a new one and keep waiting.
		lock.KillTracking(tb.l)
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("a waiter returned while its lock was held: %v", err)
		default:
		}
		// They watch again over a new connection, promptly; a loaded
		// machine may take more than the 100ms above to dial it.
		for again := time.Now().Add(5 * time.Second); lock.TrackingConns(tb.l) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(again) {
				t.Fatal("waiters did not watch again over a new connection")
			}
		}
		start := time.Now()
		for _, h := range holders {
			if err := h.Release(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if took := time.Since(start); took > wakeLimit(b) {
			t.Fatalf("waiters took %v after the releases", took)
		}
		if lock.TrackingConns(tb.l) != 0 {
			t.Fatalf("%d tracking connections left", lock.TrackingConns(tb.l))
		}
	})
}

// TestFenceSurvivesLostWrites: a server that lost the counter's last
// writes (an AOF tail lost in a crash, a failover to a lagging replica)
// must still number the next lease above every fence it handed out before.
// Issue 13, point 8: the counter went back and fences were reused.
func TestFenceSurvivesLostWrites(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		m, err := tb.l.Mutex("lost", lock.WithTTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var fences []int64
		for range 3 {
			lease, err := m.Acquire(tb.ctx)
			if err != nil {
				t.Fatal(err)
			}
			fences = append(fences, lease.Fence())
			if err := lease.Release(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if fences[0] >= fences[1] || fences[1] >= fences[2] {
			t.Fatalf("fences %v do not rise", fences)
		}
		// The server comes back with the counter as it was after the first
		// lease: the last two increments are lost.
		if err := b.Client.Do(tb.ctx, b.Client.B().Set().Key(fenceKey(b, "lost")).Value(strconv.FormatInt(fences[0], 10)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		lease, err := m.Acquire(tb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = lease.Release(tb.ctx) }()
		if lease.Fence() <= fences[2] {
			t.Fatalf("fence %d after a lost write, but %v went out before", lease.Fence(), fences)
		}
		if got, err := tb.l.Fence(tb.ctx, "lost"); err != nil || got != lease.Fence() {
			t.Fatalf("Locker.Fence = %d, %v; want %d", got, err, lease.Fence())
		}
	})
}
