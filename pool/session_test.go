package pool_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// fakeSession is a worker session whose heartbeat the test drives by hand.
type fakeSession struct {
	id      string
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	beats   map[string]func(context.Context) error
}

func newFakeSession(id string, timeout time.Duration) *fakeSession {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &fakeSession{id: id, timeout: timeout, ctx: ctx, cancel: cancel, beats: map[string]func(context.Context) error{}}
}

func (s *fakeSession) ID() string               { return s.id }
func (s *fakeSession) Timeout() time.Duration   { return s.timeout }
func (s *fakeSession) Context() context.Context { return s.ctx }
func (s *fakeSession) Track(key string, beat func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beats[key] = beat
}

func (s *fakeSession) beat(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, b := range s.beats {
		errs = append(errs, b(ctx))
	}
	return errors.Join(errs...)
}

// TestSessionDeathReclaimsLeases: leases taken under a session come back
// when the session stops heartbeating, long before the leases would lapse.
func TestSessionDeathReclaimsLeases(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		// The live session's timeout is long, so that a loaded machine's
		// late beats cannot make it look dead.
		alive := newFakeSession("alive-1", 5*time.Second)
		dead := newFakeSession("dead-1", 300*time.Millisecond)
		defer alive.cancel(nil)
		defer dead.cancel(nil)
		la := tb.malloc(t, pool.InSession(alive), pool.LeaseTTL(time.Hour))
		ld := tb.malloc(t, pool.InSession(dead), pool.LeaseTTL(time.Hour))
		// The live session beats; the dead one has stopped.
		stop := time.Now().Add(900 * time.Millisecond)
		for time.Now().Before(stop) {
			if err := alive.beat(tb.ctx); err != nil {
				t.Fatalf("beat: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		r, err := tb.p.Admin().GC(tb.ctx, 100)
		if err != nil || r.LeasesReclaimed != 1 {
			t.Fatalf("GC = %+v, %v; want the dead session's lease reclaimed", r, err)
		}
		if st := tb.state(t, ld.Key); st != pool.StateFree {
			t.Fatalf("dead session's member is %s", st)
		}
		if st := tb.state(t, la.Key); st != pool.StateHeld {
			t.Fatalf("live session's member is %s", st)
		}
		if err := ld.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Errorf("Free by the dead session = %v", err)
		}
		// A session declared dead cannot revive its old leases.
		if err := dead.beat(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Errorf("beat of a dead session = %v, want ErrNotHeld", err)
		}
		// Ending the session ends its leases' contexts.
		alive.cancel(errors.New("worker stopping"))
		select {
		case <-la.Context().Done():
		case <-time.After(2 * time.Second):
			t.Fatal("lease context outlived its session")
		}
		if err := la.Release(tb.ctx); err != nil {
			t.Fatalf("Free after the session ended locally: %v", err)
		}
		tb.healthy(t)
	})
}

func TestMallocMember(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		a, err := tb.p.MallocMember(tb.ctx, "b")
		if err != nil || a.Key != "b" {
			t.Fatalf("MallocMember(b) = %v, %v", a, err)
		}
		if _, err := tb.p.MallocMember(tb.ctx, "b"); !errors.Is(err, pool.ErrEmpty) {
			t.Errorf("MallocMember of a held member = %v", err)
		}
		if _, err := tb.p.MallocMember(tb.ctx, "zz"); !errors.Is(err, pool.ErrNotMember) {
			t.Errorf("MallocMember of a non-member = %v", err)
		}
		if err := tb.p.Admin().Quarantine(tb.ctx, "a", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.MallocMember(tb.ctx, "a"); !errors.Is(err, pool.ErrEmpty) {
			t.Errorf("MallocMember of a quarantined member = %v", err)
		}
		_ = a.Release(tb.ctx)
		tb.healthy(t)
	})
}

// TestClearKeepsSessionsAlive: Clear removes members and leases but not the
// deadlines of worker sessions, which belong to the sessions: a session
// with a lease in the cleared pool must go on heart-beating, and the
// session index must not keep entries for the removed leases.
func TestClearKeepsSessionsAlive(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		s := newFakeSession("clear-1", 5*time.Second)
		defer s.cancel(nil)
		tb.malloc(t, pool.InSession(s), pool.LeaseTTL(time.Hour))
		for i := range 3 { // many sessions' timers: Clear keeps them all
			other := newFakeSession(fmt.Sprintf("other-%d", i), 5*time.Second)
			defer other.cancel(nil)
			tb.extend(t, fmt.Sprintf("x%d", i))
			tb.malloc(t, pool.InSession(other), pool.LeaseTTL(time.Hour))
		}
		if n, err := tb.p.Admin().Clear(tb.ctx); err != nil || n != 5 {
			t.Fatalf("Clear = %d, %v", n, err)
		}
		if err := s.beat(tb.ctx); err != nil {
			t.Fatalf("beat after Clear: %v (the session counts as dead)", err)
		}
		snap := tb.healthy(t) // no session-index entry without its lease
		if len(snap.Sessions) != 4 || snap.Counts.Free+snap.Counts.Held+snap.Counts.Unhealthy != 0 {
			t.Fatalf("after Clear: %d sessions, %d members", len(snap.Sessions), snap.Counts.Free+snap.Counts.Held+snap.Counts.Unhealthy)
		}
	})
}

// TestRestartedSessionKeepsNoOldLeases: a worker restarted under its old
// session ID (allowed once the old session closed) must not take over the
// old session's leases: they come back when the old session's timeout
// passes, while the new session's lease stays.
func TestRestartedSessionKeepsNoOldLeases(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		opts := []health.SessionOption{health.WithID("worker-1"), health.WithInterval(50 * time.Millisecond), health.WithTimeout(400 * time.Millisecond)}
		s1, err := health.NewSession(tb.ctx, b.Client, b.Prefix, opts...)
		if err != nil {
			t.Fatal(err)
		}
		old := tb.malloc(t, pool.InSession(s1), pool.LeaseTTL(time.Hour))
		if err := s1.Close(tb.ctx); err != nil {
			t.Fatal(err)
		}
		s2, err := health.NewSession(tb.ctx, b.Client, b.Prefix, opts...)
		if err != nil {
			t.Fatal(err)
		}
		beating := make(chan struct{})
		go func() { defer close(beating); _ = s2.Run(tb.ctx) }()
		defer func() { _ = s2.Close(tb.ctx); <-beating }()
		if s2.ID() != s1.ID() || s2.Incarnation() == s1.Incarnation() {
			t.Fatalf("ids %s/%s, incarnations %s/%s", s1.ID(), s2.ID(), s1.Incarnation(), s2.Incarnation())
		}
		cur := tb.malloc(t, pool.InSession(s2), pool.LeaseTTL(time.Hour))
		deadline := time.Now().Add(10 * time.Second)
		for tb.state(t, old.Key) != pool.StateFree {
			if time.Now().After(deadline) {
				t.Fatalf("the closed session's member %s is still %s: the restarted session took it over", old.Key, tb.state(t, old.Key))
			}
			if _, err := tb.p.Admin().GC(tb.ctx, 100); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st := tb.state(t, cur.Key); st != pool.StateHeld {
			t.Fatalf("the live session's member is %s", st)
		}
		tb.healthy(t)
	})
}

// TestClosedSessionAllocatesNothing: Malloc, MallocN and MallocMember
// under a closed session answer an error matching pool.ErrInvalid and the
// session's cause (health.ErrClosed) and write nothing; in particular they
// do not re-arm the dead session's deadline, so the lease it held comes
// back once its timeout has passed since the close.
func TestClosedSessionAllocatesNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		const timeout = 300 * time.Millisecond
		s, err := health.NewSession(tb.ctx, b.Client, b.Prefix, health.WithInterval(50*time.Millisecond), health.WithTimeout(timeout))
		if err != nil {
			t.Fatal(err)
		}
		held := tb.malloc(t, pool.InSession(s), pool.LeaseTTL(time.Hour))
		if err := s.Close(tb.ctx); err != nil {
			t.Fatal(err)
		}
		closed := time.Now()
		before := b.KeyDump(t)
		for time.Since(closed) < 2*timeout {
			_, err1 := tb.p.Malloc(tb.ctx, pool.InSession(s))
			_, err2 := tb.p.MallocN(tb.ctx, 2, pool.InSession(s))
			_, err3 := tb.p.MallocMember(tb.ctx, "c", pool.InSession(s))
			for _, err := range []error{err1, err2, err3} {
				if !errors.Is(err, pool.ErrInvalid) || !errors.Is(err, health.ErrClosed) {
					t.Fatalf("malloc under a closed session = %v, want ErrInvalid and health.ErrClosed", err)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if after := b.KeyDump(t); !maps.Equal(before, after) {
			t.Fatal("a malloc under a closed session wrote to Redis")
		}
		// More than the timeout has passed since the close: the lease is due.
		if r, err := tb.p.Admin().GC(tb.ctx, 100); err != nil || r.LeasesReclaimed != 1 {
			t.Fatalf("GC = %+v, %v; want the closed session's lease reclaimed", r, err)
		}
		if st := tb.state(t, held.Key); st != pool.StateFree {
			t.Fatalf("the closed session's member is %s", st)
		}
		tb.healthy(t)
	})
}
