package lease_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/lease/leasetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errGone = errors.New("gone")

func isGone(err error) bool { return errors.Is(err, errGone) }

func newKeeper(t *testing.T, sent time.Time, cfg lease.Config) *lease.Keeper {
	t.Helper()
	k, err := lease.New(sent, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMargin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ttl, want time.Duration }{
		{10 * time.Millisecond, 2*time.Millisecond + 100*time.Microsecond},
		{time.Second, 12 * time.Millisecond},
		{30 * time.Second, 302 * time.Millisecond},
	} {
		if got := lease.Margin(tc.ttl); got != tc.want {
			t.Errorf("Margin(%v) = %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	ok := func(context.Context, time.Duration) error { return nil }
	for name, cfg := range map[string]lease.Config{
		"NoRenew":        {TTL: time.Second},
		"TTLUnderMargin": {TTL: 2 * time.Millisecond, Renew: ok},
		"NegativeEvery":  {TTL: time.Second, Renew: ok, Every: -1},
		"NegativeTTL":    {TTL: -time.Second, Renew: ok},
	} {
		if _, err := lease.New(time.Now(), cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// The context ends exactly at sent + TTL − margin, not a nanosecond before,
// with ErrExpired, and Valid agrees with it at every instant.
func TestContextEndsAtLocalDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Second
		sent := time.Now()
		time.Sleep(5 * time.Millisecond) // the grant's round trip
		var ended atomic.Int32
		k := newKeeper(t, sent, lease.Config{
			TTL: ttl, Renew: func(context.Context, time.Duration) error { return nil },
			OnEnd: func(error) { ended.Add(1) },
		})
		want := sent.Add(ttl - 102*time.Millisecond)
		if got := k.Deadline(); !got.Equal(want) {
			t.Fatalf("Deadline = %v, want %v", got, want)
		}
		ctx := k.Context()
		time.Sleep(time.Until(want) - time.Nanosecond)
		synctest.Wait()
		if ctx.Err() != nil || !k.Valid() {
			t.Fatalf("ended 1ns early: %v valid=%v", ctx.Err(), k.Valid())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !errors.Is(context.Cause(ctx), lease.ErrExpired) || k.Valid() {
			t.Fatalf("at the deadline: cause %v valid=%v", context.Cause(ctx), k.Valid())
		}
		if ended.Load() != 1 {
			t.Fatalf("OnEnd called %d times", ended.Load())
		}
	})
}

// Valid reads the clock: it is false past the deadline even when nobody
// asked for the context (no timer exists) and nothing ran meanwhile.
func TestValidWithoutContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := newKeeper(t, time.Now(), lease.Config{TTL: time.Second, Renew: func(context.Context, time.Duration) error { return nil }})
		time.Sleep(time.Second - 12*time.Millisecond - 1)
		if !k.Valid() {
			t.Fatal("invalid before the deadline")
		}
		time.Sleep(time.Nanosecond) // synctest: the smallest step past the deadline
		if k.Valid() {
			t.Fatal("valid at the deadline")
		}
		// Asking for the context of an expired lease gives an ended one.
		if ctx := k.Context(); !errors.Is(context.Cause(ctx), lease.ErrExpired) {
			t.Fatalf("cause %v", context.Cause(ctx))
		}
	})
}

// A renewal counts from when it was SENT, not from when it was confirmed.
func TestRenewCountsFromSendTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl, rtt = time.Second, 300 * time.Millisecond
		k := newKeeper(t, time.Now(), lease.Config{TTL: ttl, Renew: func(context.Context, time.Duration) error {
			time.Sleep(rtt)
			return nil
		}})
		ctx := k.Context()
		time.Sleep(500 * time.Millisecond)
		sent := time.Now()
		if err := k.Renew(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := k.Deadline(), lease.Deadline(sent, ttl); !got.Equal(want) {
			t.Fatalf("Deadline = %v, want %v (send time + ttl − margin)", got, want)
		}
		time.Sleep(time.Until(k.Deadline()) - 1)
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatal("context did not follow the renewed deadline")
		}
		time.Sleep(time.Nanosecond) // synctest: the smallest step past the deadline
		synctest.Wait()
		if ctx.Err() == nil {
			t.Fatal("context outlived the renewed deadline")
		}
	})
}

// A renewal confirmed after the local deadline does not revive the lease,
// even though sent + TTL is still ahead: the work was already told to stop.
func TestLateRenewalDoesNotRevive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Second
		k := newKeeper(t, time.Now(), lease.Config{TTL: ttl, Renew: func(context.Context, time.Duration) error {
			time.Sleep(ttl) // a reply that arrives long after (a stall)
			return nil
		}})
		time.Sleep(ttl / 2)
		err := k.Renew(context.Background())
		if !errors.Is(err, lease.ErrEnded) || !errors.Is(err, lease.ErrExpired) {
			t.Fatalf("late renewal: %v, want ErrEnded and ErrExpired", err)
		}
		if k.Valid() || !errors.Is(context.Cause(k.Context()), lease.ErrExpired) {
			t.Fatal("a late renewal revived the lease")
		}
	})
}

// The ctx a renewal gets ends at the current local deadline.
func TestRenewBoundedByDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got time.Time
		k := newKeeper(t, time.Now(), lease.Config{TTL: time.Second, Renew: func(ctx context.Context, _ time.Duration) error {
			got, _ = ctx.Deadline()
			<-ctx.Done()
			return ctx.Err()
		}})
		if err := k.Renew(context.Background()); !errors.Is(err, lease.ErrExpired) {
			t.Fatalf("Renew = %v", err)
		}
		if want := k.Deadline(); !got.Equal(want) {
			t.Fatalf("renew ctx deadline %v, want %v", got, want)
		}
	})
}

func TestRenewLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var causes []error
		k := newKeeper(t, time.Now(), lease.Config{
			TTL: time.Second, IsLost: isGone,
			Renew: func(context.Context, time.Duration) error { return errGone },
			Lost:  func(err error) error { return fmt.Errorf("taken: %w", err) },
			OnEnd: func(c error) { causes = append(causes, c) },
		})
		ctx := k.Context()
		if err := k.Renew(context.Background()); !errors.Is(err, errGone) {
			t.Fatalf("Renew = %v", err)
		}
		if k.Valid() || !errors.Is(context.Cause(ctx), errGone) || len(causes) != 1 {
			t.Fatalf("valid=%v cause=%v OnEnd=%v", k.Valid(), context.Cause(ctx), causes)
		}
		if err := k.Renew(context.Background()); !errors.Is(err, lease.ErrEnded) {
			t.Fatalf("Renew after loss = %v", err)
		}
	})
}

// A transient error keeps the deadline where it was.
func TestRenewTransientKeepsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := newKeeper(t, time.Now(), lease.Config{TTL: time.Second, Renew: func(context.Context, time.Duration) error { return errGone }})
		before := k.Deadline()
		time.Sleep(100 * time.Millisecond)
		if err := k.Renew(context.Background()); !errors.Is(err, errGone) {
			t.Fatal(err)
		}
		if !k.Deadline().Equal(before) || !k.Valid() {
			t.Fatal("a failed renewal moved the deadline or ended the lease")
		}
	})
}

func TestEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errReleased := errors.New("released")
		var onEnd atomic.Int32
		k := newKeeper(t, time.Now(), lease.Config{
			TTL: time.Second, Renew: func(context.Context, time.Duration) error { return nil },
			OnEnd: func(error) { onEnd.Add(1) },
		})
		ctx := k.Context()
		done := make(chan error)
		go func() { done <- k.Run(context.Background()) }()
		time.Sleep(100 * time.Millisecond)
		if !k.End(errReleased) {
			t.Fatal("End of a held lease reported false")
		}
		if k.End(errReleased) {
			t.Fatal("second End reported true")
		}
		if err := <-done; !errors.Is(err, errReleased) {
			t.Fatalf("Run = %v", err)
		}
		if !errors.Is(context.Cause(ctx), errReleased) || k.Valid() || !errors.Is(k.Err(), errReleased) {
			t.Fatal("End did not end the lease")
		}
		if onEnd.Load() != 0 {
			t.Fatal("OnEnd called for End")
		}
	})
}

func TestEndAfterDeadlineIsExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := newKeeper(t, time.Now(), lease.Config{TTL: time.Second, Renew: func(context.Context, time.Duration) error { return nil }})
		time.Sleep(time.Second)
		if k.End(errors.New("released")) {
			t.Fatal("End past the deadline reported the lease held")
		}
		if !errors.Is(k.Err(), lease.ErrExpired) {
			t.Fatalf("cause %v", k.Err())
		}
	})
}

// Run keeps a lease alive for a long time, renewing every third of the TTL.
func TestRunKeepsAlive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl = 3 * time.Second
		var renewals atomic.Int32
		k := newKeeper(t, time.Now(), lease.Config{TTL: ttl, Renew: func(context.Context, time.Duration) error {
			renewals.Add(1)
			time.Sleep(10 * time.Millisecond)
			return nil
		}})
		lctx := k.Context()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- k.Run(ctx) }()
		for range 600 { // 10 minutes, checked every second
			time.Sleep(time.Second)
			if !k.Valid() {
				t.Fatal("lease lapsed under Run")
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		if n := renewals.Load(); n < 590 || n > 610 {
			t.Fatalf("%d renewals in 10 minutes, want about 600", n)
		}
		// Run's ctx ending leaves the lease to lapse on its own.
		if lctx.Err() != nil {
			t.Fatal("ending Run ended the lease")
		}
		<-lctx.Done()
		if !errors.Is(context.Cause(lctx), lease.ErrExpired) {
			t.Fatal(context.Cause(lctx))
		}
	})
}

// With the server unreachable Run retries, then gives up at the deadline.
func TestRunUnreachable(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Second
		var tries atomic.Int32
		start := time.Now()
		k := newKeeper(t, start, lease.Config{TTL: ttl, Retry: 50 * time.Millisecond, Renew: func(context.Context, time.Duration) error {
			tries.Add(1)
			return errGone // transient: IsLost is not set
		}})
		err := k.Run(context.Background())
		if !errors.Is(err, lease.ErrExpired) {
			t.Fatalf("Run = %v", err)
		}
		if got, want := time.Since(start), lease.Deadline(start, ttl).Sub(start); got != want {
			t.Fatalf("ended after %v, want %v", got, want)
		}
		// First try at ttl/3, then every 50ms until the deadline.
		if n := tries.Load(); n < 12 || n > 14 {
			t.Fatalf("%d tries", n)
		}
	})
}

// A Renew from outside reschedules Run's next renewal.
func TestRunFollowsExternalRenew(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		k := newKeeper(t, start, lease.Config{TTL: 3 * time.Second, Renew: func(context.Context, time.Duration) error {
			at = append(at, time.Since(start))
			return nil
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- k.Run(ctx) }()
		time.Sleep(500 * time.Millisecond)
		if err := k.Renew(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1600 * time.Millisecond)
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want nil or context.Canceled", err)
		}
		want := []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}
		if fmt.Sprint(at) != fmt.Sprint(want) {
			t.Fatalf("renewals at %v, want %v", at, want)
		}
	})
}

// TestStallSIGSTOP stops a real child process for longer than its lease:
// when it resumes, Valid is false at the first look, and the context ends
// within a few milliseconds, although its Run renews the lease for ever.
func TestStallSIGSTOP(t *testing.T) {
	if leasetest.Child("LEASE_STALL_CHILD") {
		stallChild()
		return
	}
	got := leasetest.Stall(t, "TestStallSIGSTOP", "LEASE_STALL_CHILD", 100*time.Millisecond, 600*time.Millisecond) // the lease is 200ms
	if got != "valid=false ctx=ended" {
		t.Fatalf("after the stall the child saw %q, want valid=false ctx=ended", got)
	}
}

func stallChild() {
	const ttl = 200 * time.Millisecond
	renew := func(context.Context, time.Duration) error { return nil } // the server always answers
	k, err := lease.New(time.Now(), lease.Config{TTL: ttl, Renew: renew})
	if err != nil {
		panic(err)
	}
	ctx := k.Context()
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = k.Run(runCtx) }()
	fmt.Println("ready")
	leasetest.AwaitStall(3 * ttl / 2)
	valid := k.Valid()
	state := "live"
	select {
	case <-ctx.Done():
		state = "ended"
	case <-time.After(5 * time.Millisecond):
	}
	fmt.Printf("valid=%v ctx=%s\n", valid, state)
}

// RenewTTL changes the TTL: the renew function gets it, the deadline
// follows it (earlier for a shorter TTL), and Run renews at a third of it.
func TestRenewTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got []time.Duration
		k := newKeeper(t, time.Now(), lease.Config{TTL: time.Minute, Renew: func(_ context.Context, ttl time.Duration) error {
			got = append(got, ttl)
			return nil
		}})
		sent := time.Now()
		if err := k.RenewTTL(context.Background(), 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if !k.Deadline().Equal(lease.Deadline(sent, 3*time.Second)) || k.TTL() != 3*time.Second {
			t.Fatalf("deadline %v ttl %v after a shorter renewal", k.Deadline().Sub(sent), k.TTL())
		}
		if err := k.RenewTTL(context.Background(), time.Millisecond); err == nil {
			t.Fatal("a TTL under its margin was accepted")
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- k.Run(ctx) }()
		time.Sleep(2500 * time.Millisecond)
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want nil or context.Canceled", err)
		}
		want := []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("renewed with %v, want %v", got, want)
		}
	})
}

// End stops a renewal in flight: its answer could not count any more.
func TestEndStopsRenewalInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := newKeeper(t, time.Now(), lease.Config{TTL: time.Minute, Renew: func(ctx context.Context, _ time.Duration) error {
			<-ctx.Done()
			return ctx.Err()
		}})
		done := make(chan error)
		go func() { done <- k.Renew(context.Background()) }()
		time.Sleep(time.Second)
		errReleased := errors.New("released")
		endAt := time.Now()
		k.End(errReleased)
		if err := <-done; !errors.Is(err, lease.ErrEnded) || !errors.Is(err, errReleased) {
			t.Fatalf("Renew = %v", err)
		}
		if d := time.Since(endAt); d != 0 {
			t.Fatalf("the renewal ran on %v after End", d)
		}
	})
}

// A TTL of 0 is a lease without a deadline: valid until it ends, no timer,
// Renew passes 0 on and keeps it without a deadline, Run never renews it.
func TestNoDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got []time.Duration
		k := newKeeper(t, time.Now(), lease.Config{TTL: 0, Renew: func(_ context.Context, ttl time.Duration) error {
			got = append(got, ttl)
			return nil
		}})
		if !k.Deadline().IsZero() || k.TTL() != 0 {
			t.Fatalf("deadline %v ttl %v", k.Deadline(), k.TTL())
		}
		ctx := k.Context()
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- k.Run(runCtx) }()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if !k.Valid() || ctx.Err() != nil {
			t.Fatalf("a lease without a deadline ended: valid=%v ctx=%v", k.Valid(), ctx.Err())
		}
		if len(got) != 0 {
			t.Fatalf("Run renewed a lease without a deadline: %v", got)
		}
		if err := k.Renew(context.Background()); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[0s]" || !k.Deadline().IsZero() {
			t.Fatalf("Renew passed %v, deadline %v", got, k.Deadline())
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		errReleased := errors.New("released")
		if !k.End(errReleased) || k.Valid() || !errors.Is(context.Cause(ctx), errReleased) {
			t.Fatal("End did not end a lease without a deadline")
		}
	})
}

// A lost renewal ends a lease without a deadline too.
func TestNoDeadlineLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := newKeeper(t, time.Now(), lease.Config{
			TTL: 0, IsLost: isGone,
			Renew: func(context.Context, time.Duration) error { return errGone },
		})
		ctx := k.Context()
		if err := k.Renew(context.Background()); !errors.Is(err, errGone) {
			t.Fatalf("Renew = %v", err)
		}
		if k.Valid() || !errors.Is(context.Cause(ctx), errGone) {
			t.Fatalf("valid=%v cause=%v", k.Valid(), context.Cause(ctx))
		}
	})
}

// RenewTTL gives a lease without a deadline one: its context (asked for
// before) ends at it, and Run, waiting meanwhile, starts renewing.
func TestNoDeadlineGetsOne(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl = 3 * time.Second
		var at []time.Duration
		start := time.Now()
		k := newKeeper(t, start, lease.Config{TTL: 0, Renew: func(context.Context, time.Duration) error {
			at = append(at, time.Since(start))
			return nil
		}})
		ctx := k.Context()
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- k.Run(runCtx) }()
		time.Sleep(time.Hour)
		sent := time.Now()
		if err := k.RenewTTL(context.Background(), ttl); err != nil {
			t.Fatal(err)
		}
		if !k.Deadline().Equal(lease.Deadline(sent, ttl)) || k.TTL() != ttl {
			t.Fatalf("deadline %v ttl %v", k.Deadline().Sub(sent), k.TTL())
		}
		time.Sleep(2500 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		want := []time.Duration{time.Hour, time.Hour + time.Second, time.Hour + 2*time.Second}
		if fmt.Sprint(at) != fmt.Sprint(want) {
			t.Fatalf("renewals at %v, want %v", at, want)
		}
		// Without Run the context ends at the last renewal's deadline.
		last := start.Add(want[2])
		time.Sleep(time.Until(lease.Deadline(last, ttl)) - time.Nanosecond)
		synctest.Wait()
		if ctx.Err() != nil || !k.Valid() {
			t.Fatal("ended before the deadline")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !errors.Is(context.Cause(ctx), lease.ErrExpired) || k.Valid() {
			t.Fatalf("at the deadline: cause %v valid %v", context.Cause(ctx), k.Valid())
		}
	})
}

// A Guard that fails makes the lease invalid at once, and the context's
// Err ends the lease with the guard's error there and then, without
// waiting for any timer or goroutine.
func TestGuard(t *testing.T) {
	t.Parallel()
	var gone atomic.Bool
	errGone := errors.New("session gone")
	k := newKeeper(t, time.Now(), lease.Config{
		TTL:   time.Hour,
		Renew: func(context.Context, time.Duration) error { return nil },
		Guard: func() error {
			if gone.Load() {
				return errGone
			}
			return nil
		},
	})
	ctx := k.Context()
	if !k.Valid() || ctx.Err() != nil {
		t.Fatal("a fresh lease with a passing guard is not valid")
	}
	gone.Store(true)
	if k.Valid() {
		t.Fatal("valid with a failing guard")
	}
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("ctx.Err() = %v, want context.Canceled at once", err)
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Err reported an end but Done is not closed")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, errGone) {
		t.Fatalf("cause %v, want the guard's error", cause)
	}
	if err := k.Renew(context.Background()); !errors.Is(err, lease.ErrEnded) {
		t.Fatalf("Renew after the guard ended it: %v", err)
	}
}
