package lock_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2/server"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// These tests run on miniredis inside a synctest bubble: time is fake, so
// hours of lease life take milliseconds, and every timing is exact.

func fakeSetup(t *testing.T, b *redisxtest.Backend, opts ...lock.Option) (*lock.Locker, context.Context) {
	t.Helper()
	l, err := lock.New(b.Client, b.Prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l, context.Background()
}

func TestSynctestWatchdogKeepsLeaseForLong(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b, lock.WithWatchdog(true))
		m := must(l.Mutex("dog", lock.WithTTL(10*time.Second))).get(t)
		lease := must(m.TryAcquire(ctx)).get(t)
		lctx := lease.Context()
		time.Sleep(20 * time.Minute) // 120 TTLs
		if lctx.Err() != nil {
			t.Fatalf("lease lost: %v", context.Cause(lctx))
		}
		if in := must(l.Info(ctx, "dog")).get(t); in.Owner != lock.LeaseToken(lease) || in.TTL > 10*time.Second || in.TTL < 6*time.Second {
			t.Fatalf("Info = %+v: want ours with a TTL renewed within the last third", in)
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSynctestLeaseEndsBeforeServerTTL(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b)
		const ttl = 10 * time.Second
		m := must(l.Mutex("exp", lock.WithTTL(ttl))).get(t)
		start := time.Now()
		lease := must(m.TryAcquire(ctx)).get(t)
		lctx := lease.Context()
		<-lctx.Done()
		took := time.Since(start)
		// Drift margin: 1% + 2ms.
		if want := ttl - ttl/100 - 2*time.Millisecond; took != want {
			t.Fatalf("context ended after %v, want %v", took, want)
		}
		if !errors.Is(context.Cause(lctx), lock.ErrLost) || lease.Valid() {
			t.Fatalf("cause %v, valid %v", context.Cause(lctx), lease.Valid())
		}
		synctest.Wait()
		// The lease deleted its lock on the way out.
		if must(isLocked(ctx, l, "exp")).get(t) {
			t.Fatal("lock left after the lease ended")
		}
	})
}

func TestSynctestStalledRenewalEndsLeaseInTime(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b, lock.WithWatchdog(true))
		const ttl = 9 * time.Second
		m := must(l.Mutex("stall", lock.WithTTL(ttl))).get(t)
		faults := &lock.Faults{}
		lock.InjectFaults(m, faults)
		var (
			mu        sync.Mutex
			lastRenew time.Time // when the last renewal that went through was sent
			stalled   bool
			atRelease *lock.Info // the lock as the lease gives it up
		)
		faults.SetRefresh(func(ctx context.Context) error {
			mu.Lock()
			if !stalled {
				lastRenew = time.Now()
				mu.Unlock()
				return nil
			}
			mu.Unlock()
			// Renewals hang, as with an unresponsive server or a
			// partition, until the lease gives up on them.
			<-ctx.Done()
			return ctx.Err()
		})
		faults.SetRelease(func(context.Context) error {
			in, err := l.Info(ctx, "stall")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				atRelease = &in
			}
			return nil
		})
		lease := must(m.TryAcquire(ctx)).get(t)
		lctx := lease.Context()
		time.Sleep(2*ttl + time.Second) // renewals work: still ours
		if lctx.Err() != nil {
			t.Fatalf("lost while renewals worked: %v", context.Cause(lctx))
		}
		mu.Lock()
		stalled = true
		mu.Unlock()
		<-lctx.Done()
		lostAt := time.Now()
		if !errors.Is(context.Cause(lctx), lock.ErrLost) {
			t.Fatalf("cause %v", context.Cause(lctx))
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		// The deadline counts from when the last good renewal was sent,
		// less the drift margin, so the lease ends before the server's TTL
		// (which started no earlier) can run out.
		if want := lastRenew.Add(ttl - ttl/100 - 2*time.Millisecond); !lostAt.Equal(want) {
			t.Fatalf("lease ended %v after the last renewal, want %v", lostAt.Sub(lastRenew), want.Sub(lastRenew))
		}
		if atRelease == nil || atRelease.Owner != lock.LeaseToken(lease) || atRelease.TTL <= 0 {
			t.Fatalf("lock at the end of the lease: %+v; want still ours", atRelease)
		}
		// And the lease then gave the lock up.
		if must(isLocked(ctx, l, "stall")).get(t) {
			t.Fatal("lock left after the lease ended")
		}
	})
}

func TestSynctestFailingRenewalsEndLeaseInTime(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b, lock.WithWatchdog(true))
		const ttl = 6 * time.Second
		m := must(l.Mutex("gone", lock.WithTTL(ttl))).get(t)
		faults := &lock.Faults{}
		lock.InjectFaults(m, faults)
		lease := must(m.TryAcquire(ctx)).get(t)
		lctx := lease.Context()
		time.Sleep(ttl)
		// Every renewal now fails at once, as when Redis refuses
		// connections; the watchdog keeps retrying until the deadline.
		var mu sync.Mutex
		tries := 0
		faults.SetRefresh(func(context.Context) error {
			mu.Lock()
			tries++
			mu.Unlock()
			return errors.New("dial tcp: connection refused")
		})
		down := time.Now()
		<-lctx.Done()
		if d := time.Since(down); d > ttl {
			t.Fatalf("lease outlived its TTL by %v with Redis down", d-ttl)
		}
		if !errors.Is(context.Cause(lctx), lock.ErrLost) {
			t.Fatalf("cause %v", context.Cause(lctx))
		}
		mu.Lock()
		defer mu.Unlock()
		if tries < 2 {
			t.Fatalf("%d renewal attempts before giving up", tries)
		}
		if err := lease.Release(ctx); err != nil && !errors.Is(err, lock.ErrNotHeld) {
			t.Fatal(err)
		}
	})
}

func TestSynctestWaiterGetsLockAtHolderExpiry(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b)
		crashed := must(l.Mutex("slow", lock.WithTTL(time.Hour))).get(t)
		start := time.Now()
		must(crashed.TryAcquire(ctx)).get(t) // never released
		// Long polls, so that the hour passes in few attempts.
		m := must(l.Mutex("slow", lock.WithPollInterval(time.Second, 5*time.Minute))).get(t)
		lease := must(m.Acquire(ctx)).get(t)
		// Polling is capped by the holder's remaining TTL, so the waiter
		// tries again right when the lock expires.
		if took := time.Since(start); took < time.Hour || took > time.Hour+2*time.Millisecond {
			t.Fatalf("acquired after %v, want just after 1h", took)
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSynctestPollingBacksOff(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b)
		must(l.Lock(ctx, "held", "other", lock.Permanent)).get(t)
		m := must(l.Mutex("held", lock.WithPollInterval(time.Millisecond, 64*time.Millisecond))).get(t)
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var mu sync.Mutex
		attempts := 0
		b.Mini.Server().SetPreHook(func(_ *server.Peer, cmd string, _ ...string) bool {
			if cmd == "EVALSHA" || cmd == "EVAL" {
				mu.Lock()
				attempts++
				mu.Unlock()
			}
			return false
		})
		if _, err := m.Acquire(actx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire: %v", err)
		}
		// With delays doubling to 64ms, jittered to at least 32ms, ten
		// seconds take at most ~320 attempts, not thousands.
		mu.Lock()
		defer mu.Unlock()
		if attempts > 10*1000/32+10 || attempts < 10*1000/64 {
			t.Fatalf("%d attempts in 10s of polling", attempts)
		}
	})
}

// TestSynctestLateRefreshDoesNotRevive: a Refresh stalled past the lease's
// local deadline (a stall: GC, SIGSTOP, a hung server) fails with
// ErrNotHeld and leaves the lease ended; Deadline follows the send time.
// (That a renewal confirmed after the deadline never revives a lease is
// tested on the keeper itself, internal/lease.)
func TestSynctestLateRefreshDoesNotRevive(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		l, ctx := fakeSetup(t, b)
		const ttl = 10 * time.Second
		m := must(l.Mutex("late", lock.WithTTL(ttl))).get(t)
		faults := &lock.Faults{}
		lock.InjectFaults(m, faults)
		sent := time.Now()
		lease := must(m.TryAcquire(ctx)).get(t)
		if want := sent.Add(ttl - ttl/100 - 2*time.Millisecond); !lease.Deadline().Equal(want) {
			t.Fatalf("Deadline = %v after the send, want %v", lease.Deadline().Sub(sent), want.Sub(sent))
		}
		lctx := lease.Context()
		time.Sleep(ttl / 2)
		faults.SetRefresh(func(context.Context) error {
			time.Sleep(ttl) // the call comes back long after the deadline
			return nil
		})
		if err := lease.Refresh(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("late Refresh = %v, want ErrNotHeld", err)
		}
		if lease.Valid() || !errors.Is(context.Cause(lctx), lock.ErrLost) {
			t.Fatalf("late renewal revived the lease: valid %v, cause %v", lease.Valid(), context.Cause(lctx))
		}
	})
}
