package pool_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// margin is the lease keeper's drift margin (internal/lease.Margin).
func margin(ttl time.Duration) time.Duration { return ttl/100 + 2*time.Millisecond }

// TestLeaseValidEndsBeforeHandover: a second client polling for the member
// around the first lease's expiry never gets it while the first lease still
// reports Valid, and the first lease's Context has ended by then. The
// server's clock counts whole milliseconds and starts the TTL after the
// malloc was sent, so a lease that counted its TTL from the send time
// without a margin would still be valid when the member changed hands.
func TestLeaseValidEndsBeforeHandover(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		rounds := 20
		if b.Real() {
			rounds = 200
		}
		tb := setup(t, b)
		tb.extend(t, "m")
		other, err := pool.New[proxy](b.NewClient(t), b.Prefix, "proxies")
		if err != nil {
			t.Fatal(err)
		}
		const ttl = 50 * time.Millisecond
		for round := range rounds {
			a := tb.malloc(t, pool.LeaseTTL(ttl))
			ctx := a.Context()
			time.Sleep(time.Until(a.Deadline()) - 3*time.Millisecond)
			var got *pool.Allocation[proxy]
			for got == nil {
				got, err = other.Malloc(tb.ctx)
				if err != nil && !errors.Is(err, pool.ErrEmpty) {
					t.Fatalf("round %d: second client: %v", round, err)
				}
			}
			handed := time.Now() // the server handed the member over before this
			if a.Valid() {
				t.Fatalf("round %d: a second client got %q while the first lease still reports Valid", round, got.Key)
			}
			if dl := a.Deadline(); dl.After(handed) {
				t.Fatalf("round %d: the first lease's context ends %v after the member changed hands", round, dl.Sub(handed))
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				t.Fatalf("round %d: the first lease's context did not end", round)
			}
			if !errors.Is(context.Cause(ctx), pool.ErrNotHeld) {
				t.Fatalf("round %d: cause %v", round, context.Cause(ctx))
			}
			if err := got.Release(tb.ctx); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		tb.healthy(t)
	})
}

// These run on miniredis inside a synctest bubble: time is fake and every
// timing exact.

func fakePool(t *testing.T, b *redisxtest.Backend, keys ...string) *pool.Pool[proxy] {
	t.Helper()
	p, err := pool.New[proxy](b.Client, b.Prefix, "proxies")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddKeys(context.Background(), keys); err != nil {
		t.Fatal(err)
	}
	return p
}

// The local deadline is the malloc's send time + TTL − (TTL/100 + 2ms),
// and the context ends exactly there, with a cause matching ErrNotHeld.
func TestSynctestLeaseDeadline(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		p := fakePool(t, b, "a")
		const ttl = 10 * time.Second
		sent := time.Now()
		a, err := p.Malloc(context.Background(), pool.LeaseTTL(ttl))
		if err != nil {
			t.Fatal(err)
		}
		want := sent.Add(ttl - margin(ttl))
		if !a.Deadline().Equal(want) {
			t.Fatalf("Deadline = send + %v, want send + %v", a.Deadline().Sub(sent), want.Sub(sent))
		}
		ctx := a.Context()
		time.Sleep(time.Until(want) - time.Nanosecond)
		synctest.Wait()
		if ctx.Err() != nil || !a.Valid() {
			t.Fatalf("ended before the local deadline: %v, valid %v", context.Cause(ctx), a.Valid())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !errors.Is(context.Cause(ctx), pool.ErrNotHeld) || a.Valid() {
			t.Fatalf("at the local deadline: cause %v, valid %v", context.Cause(ctx), a.Valid())
		}
		// The server still has it for the margin: nobody else can get it yet.
		if _, err := p.Malloc(context.Background()); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("member handed out within the margin: %v", err)
		}
		time.Sleep(margin(ttl))
		if _, err := p.Malloc(context.Background()); err != nil {
			t.Fatalf("member not handed out after the server's deadline: %v", err)
		}
	})
}

// A holder that stalls past its local deadline, though not past the
// server's, finds its lease invalid the moment it resumes (no timer has
// run: nobody asked for the context), and a Refresh then does not revive
// it although the server would still have accepted it.
func TestSynctestStallInvalidatesLease(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		p := fakePool(t, b, "a")
		const ttl = 10 * time.Second
		a, err := p.Malloc(context.Background(), pool.LeaseTTL(ttl))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl - margin(ttl)/2) // the stall
		if a.Valid() {
			t.Fatal("lease valid right after a stall past its local deadline")
		}
		if err := a.Refresh(context.Background(), 0); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Refresh after the stall = %v, want ErrNotHeld", err)
		}
		if a.Valid() || !errors.Is(context.Cause(a.Context()), pool.ErrNotHeld) {
			t.Fatal("a refresh after the stall revived the lease")
		}
		// The refresh never reached the server: the lease lapses there on time.
		time.Sleep(margin(ttl))
		if next, err := p.Malloc(context.Background()); err != nil || next.Key != "a" {
			t.Fatalf("member not handed out after the server's deadline: %v", err)
		}
	})
}

// KeepAlive keeps a lease for a long time with the keeper's loop; Release
// stops it (the goroutine leak check at the end of the package sees it).
func TestSynctestKeepAlive(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		p := fakePool(t, b, "a")
		a, err := p.Malloc(context.Background(), pool.LeaseTTL(3*time.Second), pool.KeepAlive(0))
		if err != nil {
			t.Fatal(err)
		}
		ctx := a.Context()
		time.Sleep(20 * time.Minute)
		if !a.Valid() || ctx.Err() != nil {
			t.Fatalf("kept-alive lease lost: %v", context.Cause(ctx))
		}
		if left := time.Until(a.Deadline()); left < 2*time.Second-margin(3*time.Second) {
			t.Fatalf("deadline %v ahead: not renewed every third of the TTL", left)
		}
		if err := a.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a.Valid() || !errors.Is(context.Cause(ctx), pool.ErrNotHeld) {
			t.Fatal("Release did not end the lease")
		}
	})
}

// A permanent lease has no deadline: valid until released; Refresh(0)
// keeps it so, a TTL gives it a deadline its context then ends at.
func TestSynctestPermanentLease(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		p := fakePool(t, b, "a", "b")
		a, err := p.Malloc(context.Background(), pool.LeaseTTL(pool.Permanent))
		if err != nil {
			t.Fatal(err)
		}
		ctx := a.Context()
		time.Sleep(time.Hour)
		if !a.Valid() || ctx.Err() != nil || !a.Deadline().IsZero() {
			t.Fatalf("permanent lease: valid %v, ctx %v, deadline %v", a.Valid(), ctx.Err(), a.Deadline())
		}
		if err := a.Refresh(context.Background(), 0); err != nil || !a.Deadline().IsZero() {
			t.Fatalf("Refresh(0): %v, deadline %v", err, a.Deadline())
		}
		sent := time.Now()
		if err := a.Refresh(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
		if want := sent.Add(time.Second - margin(time.Second)); !a.Deadline().Equal(want) {
			t.Fatalf("Deadline after Refresh(1s) = send + %v", a.Deadline().Sub(sent))
		}
		<-ctx.Done()
		if took := time.Since(sent); took != time.Second-margin(time.Second) || a.Valid() {
			t.Fatalf("context ended %v after the refresh, valid %v", took, a.Valid())
		}
		// Release ends a permanent lease.
		c, err := p.Malloc(context.Background(), pool.LeaseTTL(pool.Permanent))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Release(context.Background()); err != nil || c.Valid() {
			t.Fatalf("Release: %v, valid %v", err, c.Valid())
		}
	})
}

// validSession is a fake session with the synchronous check health.Session
// has.
type validSession struct {
	*fakeSession
	valid bool
}

func (s *validSession) Valid() bool { return s.valid }

// A lease taken InSession is valid only while its session is: it asks the
// session's Valid when there is one (right after a stall, before the
// session's timers have run), else its context; and its Context ends with
// the session's.
func TestSessionLeaseValid(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		vs := &validSession{fakeSession: newFakeSession("v-1", time.Minute), valid: true}
		defer vs.cancel(nil)
		a := tb.malloc(t, pool.InSession(vs), pool.LeaseTTL(time.Hour))
		if !a.Valid() {
			t.Fatal("lease of a valid session invalid")
		}
		vs.valid = false // stalled past its timeout; its context not ended yet
		if a.Valid() {
			t.Fatal("lease valid although its session is not")
		}
		if err := a.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		fs := newFakeSession("f-1", time.Minute)
		l := tb.malloc(t, pool.InSession(fs), pool.LeaseTTL(time.Hour))
		fs.cancel(errors.New("worker stopping"))
		if l.Valid() {
			t.Fatal("lease valid after its session ended")
		}
		select {
		case <-l.Context().Done():
		case <-time.After(2 * time.Second):
			t.Fatal("lease context outlived its session")
		}
		if !errors.Is(context.Cause(l.Context()), pool.ErrNotHeld) {
			t.Fatalf("cause %v", context.Cause(l.Context()))
		}
		if err := l.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
	})
}
