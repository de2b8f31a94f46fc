package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

type proxy struct {
	Addr    string    `json:"addr" msgpack:"addr" cbor:"addr"`
	Latency int       `json:"latency" msgpack:"latency" cbor:"latency"`
	Since   time.Time `json:"since" msgpack:"since" cbor:"since"`
}

type bundle struct {
	b   *redisxtest.Backend
	p   *pool.Pool[proxy]
	ctx context.Context
}

func setup(t *testing.T, b *redisxtest.Backend, opts ...pool.Option) *bundle {
	t.Helper()
	p, err := pool.New[proxy](b.Client, b.Prefix, "proxies", opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &bundle{b: b, p: p, ctx: ctx}
}

// healthy fails the test when the pool's snapshot shows a violation.
func (tb *bundle) healthy(t *testing.T) *pool.Snapshot {
	t.Helper()
	s, err := tb.p.Admin().Snapshot(tb.ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if len(s.Violations) > 0 {
		t.Fatalf("invariant violations: %q", s.Violations)
	}
	return s
}

// statsAgree reports how st differs from what snap implies; both must be
// read at the same server time.
func statsAgree(st *pool.Stats, snap *pool.Snapshot) error {
	want := pool.Stats{
		Time: snap.Time, Fence: snap.Fence, Allocations: snap.Allocations, Counts: snap.Counts, Waiters: snap.Waiters,
		Bindings: len(snap.Bindings), DueTimers: snap.DueTimers, DueSampled: snap.DueTimers > 1000,
		LapsedLeases: snap.LapsedLeases, ExpiredMembers: snap.ExpiredMembers,
	}
	for _, m := range snap.Members {
		if m.Lease == nil {
			continue
		}
		if m.Lease.Session != "" {
			want.SessionLeases++
		}
		if dl := m.Lease.Deadline; !dl.IsZero() && !dl.After(snap.Time) && (want.OldestLapsed.IsZero() || dl.Before(want.OldestLapsed)) {
			want.OldestLapsed = dl
		}
	}
	for _, dl := range snap.Sessions {
		if !dl.After(snap.Time) {
			want.DeadSessions++
			if want.OldestDeadSession.IsZero() || dl.Before(want.OldestDeadSession) {
				want.OldestDeadSession = dl
			}
		}
	}
	if !st.Time.Equal(want.Time) || !st.OldestLapsed.Equal(want.OldestLapsed) || !st.OldestDeadSession.Equal(want.OldestDeadSession) {
		return fmt.Errorf("stats times %v/%v/%v, snapshot implies %v/%v/%v", st.Time, st.OldestLapsed, st.OldestDeadSession, want.Time, want.OldestLapsed, want.OldestDeadSession)
	}
	st2 := *st
	st2.Time, st2.OldestLapsed, st2.OldestDeadSession = want.Time, want.OldestLapsed, want.OldestDeadSession
	if st2 != want {
		return fmt.Errorf("stats %+v, snapshot implies %+v", *st, want)
	}
	return nil
}

func (tb *bundle) extend(t *testing.T, keys ...string) {
	t.Helper()
	if _, err := tb.p.AddKeys(tb.ctx, keys); err != nil {
		t.Fatalf("Extend: %v", err)
	}
}

func (tb *bundle) malloc(t *testing.T, opts ...pool.MallocOption) *pool.Allocation[proxy] {
	t.Helper()
	a, err := tb.p.Malloc(tb.ctx, opts...)
	if err != nil {
		t.Fatalf("Malloc: %v", err)
	}
	return a
}

func (tb *bundle) state(t *testing.T, key string) pool.State {
	t.Helper()
	st, err := tb.p.Admin().State(tb.ctx, key)
	if err != nil {
		t.Fatalf("State(%q): %v", key, err)
	}
	return st
}

func TestMallocAndFree(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		before := time.Now()
		a := tb.malloc(t, pool.LeaseTTL(time.Minute))
		// A fence is at least the server's clock in microseconds, so it
		// stays above the fences of a server that lost writes (the server
		// runs on this host: a second of slack).
		if a.Key != "a" || a.Token() == "" || a.Fence() < before.Add(-time.Second).UnixMicro() || a.HasValue {
			t.Fatalf("allocation %+v", a)
		}
		if d := a.Deadline().Sub(before); d < 59*time.Second || d > 61*time.Second {
			t.Errorf("deadline %v from now, want about a minute", d)
		}
		if st := tb.state(t, "a"); st != pool.StateHeld {
			t.Errorf("state %s, want held", st)
		}
		s := tb.healthy(t)
		if s.Counts != (pool.Counts{Free: 2, Held: 1}) || s.Fence != a.Fence() {
			t.Errorf("snapshot counts %+v fence %d", s.Counts, s.Fence)
		}
		time.Sleep(3 * time.Millisecond) // least recently used is kept at ms resolution
		if err := a.Release(tb.ctx); err != nil {
			t.Fatalf("Free: %v", err)
		}
		if err := a.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Errorf("second Free = %v, want ErrNotHeld", err)
		}
		if st := tb.state(t, "a"); st != pool.StateFree {
			t.Errorf("state after free %s", st)
		}
		// The freed member goes behind the others (least recently used).
		s = tb.healthy(t)
		if !slices.Equal(s.FreeOrder, []string{"b", "c", "a"}) {
			t.Errorf("free order %q", s.FreeOrder)
		}
		a2 := tb.malloc(t)
		if a2.Fence() <= a.Fence() {
			t.Errorf("second fence %d, first %d", a2.Fence(), a.Fence())
		}
		if err := a2.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEmptyPool(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		if _, err := tb.p.Malloc(tb.ctx); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc on an empty pool = %v, want ErrEmpty", err)
		}
		if ks := b.Keys(t); len(ks) != 0 {
			t.Errorf("a failed malloc wrote %q", ks)
		}
		tb.extend(t, "only")
		a := tb.malloc(t)
		if _, err := tb.p.Malloc(tb.ctx); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc with all members held = %v, want ErrEmpty", err)
		}
		_ = a.Release(tb.ctx)
	})
}

func TestPriorityThenLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		if _, err := tb.p.AddKeys(tb.ctx, []string{"slow1", "slow2"}, pool.Priority(-5)); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.AddKeys(tb.ctx, []string{"fast"}, pool.Priority(100)); err != nil {
			t.Fatal(err)
		}
		tb.extend(t, "mid")
		var got []string
		for range 4 {
			got = append(got, tb.malloc(t).Key)
		}
		if want := []string{"fast", "mid", "slow1", "slow2"}; !slices.Equal(got, want) {
			t.Fatalf("order %q, want %q", got, want)
		}
		// Freed members of one priority come back least recently used first.
		for _, k := range []string{"slow2", "slow1"} {
			if _, err := tb.p.Admin().ForceReleaseKeys(tb.ctx, k); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Millisecond) // distinct free times (ms resolution)
		}
		if k := tb.malloc(t).Key; k != "slow2" {
			t.Errorf("got %q, want slow2 (freed first)", k)
		}
		// SetPriority moves a free member at once.
		if err := tb.p.Admin().Update(tb.ctx, []string{"slow1"}, pool.Priority(2000)); err != nil {
			t.Fatal(err)
		}
		s := tb.healthy(t)
		if s.FreeOrder[0] != "slow1" {
			t.Errorf("free order %q after raising slow1", s.FreeOrder)
		}
		if err := tb.p.Admin().Update(tb.ctx, []string{"nope"}, pool.Priority(1)); !errors.Is(err, pool.ErrNotMember) {
			t.Errorf("SetPriority of a non-member = %v", err)
		}
	})
}

// TestStaleFreeCannotReleaseNewHolder is the reference's stale-free bug:
// a holder whose lease lapsed must not free the next holder's lease.
func TestStaleFreeCannotReleaseNewHolder(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "m")
		old := tb.malloc(t, pool.LeaseTTL(40*time.Millisecond))
		time.Sleep(80 * time.Millisecond)
		cur := tb.malloc(t) // reclaims the lapsed lease first
		if cur.Key != "m" || cur.Fence() <= old.Fence() {
			t.Fatalf("new allocation %v after %v", cur, old)
		}
		if err := old.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("stale Free = %v, want ErrNotHeld", err)
		}
		if err := old.Refresh(tb.ctx, time.Minute); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("stale Refresh = %v, want ErrNotHeld", err)
		}
		if err := old.ReportUnhealthy(tb.ctx, time.Minute); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("stale ReportUnhealthy = %v, want ErrNotHeld", err)
		}
		if st := tb.state(t, "m"); st != pool.StateHeld {
			t.Fatalf("new holder lost the member: %s", st)
		}
		if err := cur.Release(tb.ctx); err != nil {
			t.Fatalf("new holder's Free: %v", err)
		}
		tb.healthy(t)
	})
}

// TestReAddWhileHeldKeepsHolder: the reference made a re-added held member
// free again, breaking exclusivity.
func TestReAddWhileHeldKeepsHolder(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a")
		a := tb.malloc(t)
		if n, err := tb.p.AddKeys(tb.ctx, []string{"a", "b"}, pool.Priority(3)); err != nil || n != 1 {
			t.Fatalf("Extend = %d, %v; want 1 new", n, err)
		}
		if _, _, err := tb.p.AssignKeys(tb.ctx, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		if st := tb.state(t, "a"); st != pool.StateHeld {
			t.Fatalf("re-added held member is %s", st)
		}
		if k := tb.malloc(t).Key; k != "b" {
			t.Fatalf("malloc handed out %q while a is held", k)
		}
		if err := a.Release(tb.ctx); err != nil {
			t.Fatalf("holder's Free after re-add: %v", err)
		}
		s := tb.healthy(t)
		if s.Members[0].Priority != 3 {
			t.Errorf("priority given while held was lost: %+v", s.Members[0])
		}
	})
}

// TestEvictedMemberFreedDoesNotReturn: after Assign removes a held member,
// its holder's Free must not bring it back (the reference's zombie fix).
func TestEvictedMemberFreedDoesNotReturn(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		a := tb.malloc(t)
		added, removed, err := tb.p.AssignKeys(tb.ctx, []string{"x", "y"})
		if err != nil || added != 2 || removed != 2 {
			t.Fatalf("Assign = %d, %d, %v", added, removed, err)
		}
		if err := a.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Free of an evicted member = %v, want ErrNotHeld", err)
		}
		keys, err := tb.p.Keys(tb.ctx)
		if err != nil || !slices.Equal(keys, []string{"x", "y"}) {
			t.Fatalf("Keys = %q, %v; want exactly x, y", keys, err)
		}
		tb.healthy(t)
	})
}

func TestLeaseTTLs(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		// Sub-second leases stay sub-second, never permanent.
		a := tb.malloc(t, pool.LeaseTTL(500*time.Millisecond))
		if d := time.Until(a.Deadline()); d <= 0 || d > time.Second {
			t.Errorf("500ms lease ends in %v", d)
		}
		p := tb.malloc(t, pool.LeaseTTL(pool.Permanent))
		if !p.Deadline().IsZero() {
			t.Errorf("permanent lease has deadline %v", p.Deadline())
		}
		for _, bad := range []time.Duration{0, -time.Second, time.Microsecond, 10*time.Millisecond - 1, pool.MaxTTL + time.Hour} {
			if _, err := tb.p.Malloc(tb.ctx, pool.LeaseTTL(bad)); !errors.Is(err, pool.ErrInvalid) {
				t.Errorf("LeaseTTL(%v) = %v, want ErrInvalidDuration", bad, err)
			}
		}
		s := tb.healthy(t)
		if s.Counts.Held != 2 {
			t.Errorf("held %d", s.Counts.Held)
		}
		for _, m := range s.Members {
			if m.Key == p.Key && !m.Lease.Deadline.IsZero() {
				t.Errorf("permanent lease shows deadline %v", m.Lease.Deadline)
			}
		}
		if err := tb.p.Release(tb.ctx, a, p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSoftBinding(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		w1 := tb.malloc(t, pool.Bind("worker-1", time.Hour))
		if err := w1.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		// "a" is now last in the free order, but the binding brings it back.
		if again := tb.malloc(t, pool.Bind("worker-1", time.Hour)); again.Key != w1.Key {
			t.Fatalf("bound malloc got %q, want %q", again.Key, w1.Key)
		} else {
			// Held by worker-1: worker-2 bound to the same member gets another.
			if err := tb.p.Admin().Bind(tb.ctx, "worker-2", w1.Key, 0); err != nil {
				t.Fatal(err)
			}
			other := tb.malloc(t, pool.Bind("worker-2", time.Hour))
			if other.Key == w1.Key {
				t.Fatal("bound malloc handed out a held member")
			}
			if k, ok, err := softBind(t, tb, "worker-2"); err != nil || !ok || k != other.Key {
				t.Fatalf("worker-2 was not rebound: %q %v %v", k, ok, err)
			}
			_ = tb.p.Release(tb.ctx, again, other)
		}
		names, err := tb.p.Admin().Bindings(tb.ctx, w1.Key)
		if err != nil || !slices.Equal(names, []string{"worker-1"}) {
			t.Fatalf("Bindings(%s) = %q, %v", w1.Key, names, err)
		}
		// A binding to a removed member is dropped; malloc falls back.
		if _, err := tb.p.Remove(tb.ctx, w1.Key); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := softBind(t, tb, "worker-1"); ok {
			t.Error("binding to a removed member survived")
		}
		if a := tb.malloc(t, pool.Bind("worker-1", time.Hour)); a.Key == w1.Key {
			t.Error("malloc handed out a removed member")
		}
		if ok, err := tb.p.Admin().Unbind(tb.ctx, "worker-1"); err != nil || !ok {
			t.Errorf("Unbind = %v, %v", ok, err)
		}
		if ok, _ := tb.p.Admin().Unbind(tb.ctx, "worker-1"); ok {
			t.Error("second Unbind found a binding")
		}
		if err := tb.p.Admin().Bind(tb.ctx, "w", "nope", 0); !errors.Is(err, pool.ErrNotMember) {
			t.Errorf("binding to a non-member = %v", err)
		}
		tb.healthy(t)
	})
}

func TestBindingExpires(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		if err := tb.p.Admin().Bind(tb.ctx, "w", "b", 30*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
		if _, ok, _ := softBind(t, tb, "w"); ok {
			t.Error("expired binding still answered")
		}
		if a := tb.malloc(t, pool.Bind("w", 0)); a.Key != "a" {
			t.Errorf("expired binding still steered malloc to %q", a.Key)
		}
		s := tb.healthy(t)
		if len(s.Bindings) != 1 || s.Bindings[0].Key != "a" || !s.Bindings[0].Expiry.IsZero() {
			t.Errorf("bindings %+v, want w -> a forever", s.Bindings)
		}
	})
}

func TestSharedMode(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithShared())
		tb.extend(t, "a", "b", "c")
		var got []string
		for range 6 {
			a := tb.malloc(t)
			if a.Token() != "" || a.Fence() != 0 {
				t.Fatalf("shared allocation holds something: %+v", a.Lease)
			}
			if err := a.Release(tb.ctx); err != nil {
				t.Fatal(err)
			}
			got = append(got, a.Key)
			time.Sleep(2 * time.Millisecond)
		}
		if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(got, want) {
			t.Errorf("round robin %q, want %q", got, want)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.LeaseTTL(pool.Permanent)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("LeaseTTL(Permanent) on a shared pool = %v", err)
		}
		// MallocN hands out distinct members, all or none, the bound one
		// included.
		if err := tb.p.Admin().Bind(tb.ctx, "job", "b", 0); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			all, err := tb.p.MallocN(tb.ctx, 3, pool.Bind("job", 0))
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{all[0].Key, all[1].Key, all[2].Key}
			if slices.Sort(keys); !slices.Equal(keys, []string{"a", "b", "c"}) || all[0].Key != "b" {
				t.Fatalf("shared MallocN(3) of a, b, c bound to b = %q", []string{all[0].Key, all[1].Key, all[2].Key})
			}
		}
		// An unhealthy mark takes a shared member out of rotation.
		if err := tb.p.Admin().Quarantine(tb.ctx, "a", time.Hour); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if a := tb.malloc(t); a.Key == "a" {
				t.Fatal("quarantined member handed out")
			}
		}
		if all, err := tb.p.MallocN(tb.ctx, 3); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("shared MallocN(3) with two members in rotation = %v, %v; want ErrEmpty", all, err)
		}
		tb.healthy(t)
	})
}

func TestQuarantine(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		if err := tb.p.Admin().Quarantine(tb.ctx, "a", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if st := tb.state(t, "a"); st != pool.StateUnhealthy {
			t.Fatalf("state %s", st)
		}
		held := tb.malloc(t)
		if held.Key != "b" {
			t.Fatalf("got %q while a is quarantined", held.Key)
		}
		// A holder reports its member: quarantined when the lease ends.
		if err := held.ReportUnhealthy(tb.ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if st := tb.state(t, "b"); st != pool.StateHeld {
			t.Fatalf("reported member taken from its holder: %s", st)
		}
		if err := held.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if st := tb.state(t, "b"); st != pool.StateUnhealthy {
			t.Fatalf("reported member went back as %s", st)
		}
		time.Sleep(350 * time.Millisecond)
		r, err := tb.p.Admin().GC(tb.ctx, 10)
		if err != nil || r.MembersRecovered != 1 {
			t.Fatalf("GC = %+v, %v; want a recovered", r, err)
		}
		if st := tb.state(t, "a"); st != pool.StateFree {
			t.Fatalf("a after quarantine: %s", st)
		}
		if err := tb.p.Admin().Quarantine(tb.ctx, "b", 0); err != nil {
			t.Fatal(err)
		}
		if st := tb.state(t, "b"); st != pool.StateFree {
			t.Fatalf("b after SetHealthy: %s", st)
		}
		if err := tb.p.Admin().Quarantine(tb.ctx, "zz", time.Hour); !errors.Is(err, pool.ErrNotMember) {
			t.Errorf("SetUnhealthy of a non-member = %v", err)
		}
		tb.healthy(t)
	})
}

func TestLapsedLeasesAreReclaimed(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithTimerBudget(0)) // only GC reclaims here
		tb.extend(t, "a", "b")
		for range 2 {
			tb.malloc(t, pool.LeaseTTL(30*time.Millisecond)) // a crashed holder never frees
		}
		time.Sleep(60 * time.Millisecond)
		s := tb.healthy(t)
		if s.LapsedLeases != 2 {
			t.Errorf("snapshot sees %d lapsed leases, want 2", s.LapsedLeases)
		}
		r, err := tb.p.Admin().GC(tb.ctx, 1)
		if err != nil || r.LeasesReclaimed != 1 || r.Pending != 1 {
			t.Fatalf("GC(1) = %+v, %v", r, err)
		}
		r, err = tb.p.Admin().GC(tb.ctx, 10)
		if err != nil || r.LeasesReclaimed != 1 || r.Pending != 0 {
			t.Fatalf("GC(10) = %+v, %v", r, err)
		}
		if c, _ := tb.p.Admin().Counts(tb.ctx); c.Free != 2 {
			t.Fatalf("counts %+v after GC", c)
		}
		tb.healthy(t)
	})
}

func TestMemberExpiry(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		if _, err := tb.p.AddKeys(tb.ctx, []string{"a", "b"}, pool.MemberTTL(200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		held := tb.malloc(t, pool.LeaseTTL(time.Minute))
		time.Sleep(250 * time.Millisecond)
		// The free member expired: gone. The held one expired too: it stays
		// with its holder and leaves when freed.
		if _, err := tb.p.Malloc(tb.ctx); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc = %v, want ErrEmpty", err)
		}
		if st := tb.state(t, held.Key); st != pool.StateHeld {
			t.Fatalf("expired member taken from its holder: %s", st)
		}
		tb.healthy(t)
		if err := held.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := tb.p.Len(tb.ctx); n != 0 {
			t.Fatalf("Len = %d after the expired member was freed", n)
		}
		// The two counters stay, so that fences and the count of leases
		// keep rising if the pool fills again.
		if ks := b.Keys(t); len(ks) != 2 || !slices.ContainsFunc(ks, func(k string) bool { return strings.HasSuffix(k, ":fence") }) ||
			!slices.ContainsFunc(ks, func(k string) bool { return strings.HasSuffix(k, ":allocs") }) {
			t.Errorf("keys left behind: %q (want only the fence and allocation counters)", ks)
		}
	})
}

func TestMallocN(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		as, err := tb.p.MallocN(tb.ctx, 2)
		if err != nil || len(as) != 2 || as[0].Fence() >= as[1].Fence() {
			t.Fatalf("MallocN(2) = %v, %v", as, err)
		}
		if _, err := tb.p.MallocN(tb.ctx, 2); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("MallocN(2) with one free = %v, want ErrEmpty", err)
		}
		if c, _ := tb.p.Admin().Counts(tb.ctx); c.Free != 1 {
			t.Fatalf("a failed MallocN took members: %+v", c)
		}
		for _, n := range []int{0, -1, pool.MaxBatch + 1} {
			if _, err := tb.p.MallocN(tb.ctx, n); !errors.Is(err, pool.ErrInvalid) {
				t.Errorf("MallocN(%d) = %v", n, err)
			}
		}
		if err := tb.p.Release(tb.ctx, as...); err != nil {
			t.Fatal(err)
		}
		tb.healthy(t)
	})
}

func TestWaitingMalloc(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		// A long poll bound proves the waiter is woken by the free itself.
		tb := setup(t, b, pool.WithWaitPoll(20*time.Second))
		tb.extend(t, "only")
		held := tb.malloc(t)
		got := make(chan *pool.Allocation[proxy], 1)
		errc := make(chan error, 1)
		go func() {
			a, err := tb.p.Malloc(tb.ctx, pool.Wait())
			errc <- err
			got <- a
		}()
		// Let the waiter register, then free.
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := tb.healthy(t)
			if s.Waiters == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("waiter never registered")
			}
			time.Sleep(5 * time.Millisecond)
		}
		freed := time.Now()
		if err := held.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("waiting Malloc: %v", err)
		}
		a := <-got
		if wake := time.Since(freed); wake > 2*time.Second {
			t.Errorf("waiter woke %v after the free", wake)
		}
		if a.Key != "only" {
			t.Fatalf("waiter got %q", a.Key)
		}
		// A waiter whose ctx ends gets ErrEmpty and the ctx error, and
		// leaves the waiter count.
		ctx, cancel := context.WithTimeout(tb.ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := tb.p.Malloc(ctx, pool.Wait()); !errors.Is(err, pool.ErrEmpty) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("timed-out wait = %v", err)
		}
		// When the wait ends before the detached malloc script was even
		// sent (its goroutine scheduled late under -race on a loaded
		// machine), Malloc returns at once and the script registers the
		// waiter after Malloc's own unwait; it is taken off in the
		// background once the script's reply arrives (mallocOnce). So the
		// count must drop to 0 soon, not necessarily by the time Malloc
		// returns; a waiter nobody takes off stays and fails this.
		deadline = time.Now().Add(5 * time.Second)
		for s := tb.healthy(t); s.Waiters != 0; s = tb.healthy(t) {
			if time.Now().After(deadline) {
				t.Fatalf("waiters %d, 5s after the wait ended", s.Waiters)
			}
			time.Sleep(5 * time.Millisecond)
		}
		_ = a.Release(tb.ctx)
	})
}

func TestValues(t *testing.T) {
	t.Parallel()
	for _, c := range []codec.Codec{codec.JSON, codec.MsgPack, codec.CBOR} {
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
				tb := setup(t, b, pool.WithCodec(c))
				since := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
				want := proxy{Addr: "10.0.0.1:3128", Latency: 42, Since: since}
				if n, err := tb.p.Add(tb.ctx, map[string]proxy{"p1": want}); err != nil || n != 1 {
					t.Fatalf("Put = %d, %v", n, err)
				}
				a := tb.malloc(t)
				if !a.HasValue || a.Value.Addr != want.Addr || a.Value.Latency != 42 || !a.Value.Since.Equal(since) {
					t.Fatalf("value %+v", a.Value)
				}
				v, err := tb.p.Get(tb.ctx, "p1")
				if err != nil || v.Addr != want.Addr {
					t.Fatalf("Get = %+v, %v", v, err)
				}
				if _, err := tb.p.Get(tb.ctx, "nope"); !errors.Is(err, pool.ErrNotMember) {
					t.Errorf("Get of a member without value = %v", err)
				}
				_ = a.Release(tb.ctx)
			})
		})
	}
}

func TestUndecodableValue(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithCodec(codec.JSON))
		tb.extend(t, "broken")
		ns, _ := redisx.NewNamespace(b.Prefix, "pool", "proxies")
		if err := b.Client.Do(tb.ctx, b.Client.B().Hset().Key(ns.Key("values")).FieldValue().FieldValue("broken", "{not json").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		_, err := tb.p.Malloc(tb.ctx)
		if !errors.Is(err, codec.ErrDecode) {
			t.Fatalf("Malloc of an undecodable member = %v, want codec.ErrDecode", err)
		}
		if !strings.Contains(err.Error(), `"broken"`) {
			t.Errorf("error %q does not name the member", err)
		}
		// The member went back; the pool keeps working.
		if st := tb.state(t, "broken"); st != pool.StateFree {
			t.Errorf("undecodable member left %s", st)
		}
		// A good value makes it usable again.
		if _, err := tb.p.Add(tb.ctx, map[string]proxy{"broken": {Addr: "fixed"}}); err != nil {
			t.Fatal(err)
		}
		l, err := tb.p.Malloc(tb.ctx)
		if err != nil || l.Key != "broken" || l.Value.Addr != "fixed" {
			t.Fatalf("Malloc after the fix = %v, %v", l, err)
		}
		_ = l.Release(tb.ctx)
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		long := make([]byte, 2000)
		for i := range long {
			long[i] = 'k'
		}
		badKeys := [][]string{{""}, {"ok", ""}, {"a\x00b"}, {string(long)}, {"\xff"}}
		for _, keys := range badKeys {
			if _, err := tb.p.AddKeys(tb.ctx, keys); !errors.Is(err, pool.ErrInvalid) || !errors.Is(err, redisx.ErrInvalidName) {
				t.Errorf("Extend(%q) = %v", keys, err)
			}
		}
		if _, err := tb.p.AddKeys(tb.ctx, []string{"a"}, pool.Priority(5000)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("priority 5000: %v", err)
		}
		if _, err := tb.p.AddKeys(tb.ctx, []string{"a"}, pool.MemberTTL(-time.Second)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("negative expiry: %v", err)
		}
		if _, err := tb.p.AddKeys(tb.ctx, []string{"a"}, nil); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("nil option: %v", err)
		}
		if _, err := tb.p.Add(tb.ctx, map[string]proxy{"": {}}); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("Put with empty key: %v", err)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.Bind("", time.Hour)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("Bind(\"\"): %v, want ErrInvalid", err)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.KeepAlive(-time.Second)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("KeepAlive(-1s): %v, want ErrInvalid", err)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.Bind("n", -time.Second)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("Bind with a negative TTL: %v, want ErrInvalid", err)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.InSession(newFakeSession("has space", time.Second))); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("bad session: %v", err)
		}
		if _, err := tb.p.Admin().GC(tb.ctx, 0); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("GC(0): %v", err)
		}
		if err := tb.p.Admin().Quarantine(tb.ctx, "a", -time.Second); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("Quarantine(-1s): %v", err)
		}
		if _, err := tb.p.Admin().ForceRelease(tb.ctx, map[string]int64{"a": -1}); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("ForceRelease with a negative fence: %v", err)
		}
		if ks := b.Keys(t); len(ks) != 0 {
			t.Fatalf("bad input wrote %q", ks)
		}
		var nilLease *pool.Lease
		if err := nilLease.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Errorf("nil lease Free: %v", err)
		}
	})
}

func TestNewRejectsBadInput(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	cases := map[string]func() error{
		"NilClient":   func() error { _, err := pool.New[int](nil, "p", "n"); return err },
		"EmptyName":   func() error { _, err := pool.New[int](b.Client, "p", ""); return err },
		"BraceName":   func() error { _, err := pool.New[int](b.Client, "p", "a{b"); return err },
		"EmptyPrefix": func() error { _, err := pool.New[int](b.Client, "", "n"); return err },
		"NilCodec":    func() error { _, err := pool.New[int](b.Client, "p", "n", pool.WithCodec(nil)); return err },
		"ZeroTTL":     func() error { _, err := pool.New[int](b.Client, "p", "n", pool.WithLeaseTTL(0)); return err },
		"NilOption":   func() error { _, err := pool.New[int](b.Client, "p", "n", nil); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestClearKeepsFencesRising(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a")
		a := tb.malloc(t)
		if n, err := tb.p.Admin().Clear(tb.ctx); err != nil || n != 1 {
			t.Fatalf("Clear = %d, %v", n, err)
		}
		if err := a.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Errorf("Free after Clear = %v", err)
		}
		tb.extend(t, "a")
		if b2 := tb.malloc(t); b2.Fence() <= a.Fence() {
			t.Errorf("fence %d after Clear, earlier %d", b2.Fence(), a.Fence())
		}
		tb.healthy(t)
	})
}

func TestLeaseContextAndRefresh(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		a := tb.malloc(t, pool.LeaseTTL(300*time.Millisecond))
		ctx := a.Context()
		if err := a.Refresh(tb.ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatal("refreshed lease's context was cancelled at the old deadline")
		}
		// An administrator frees it: the holder learns on its next Refresh.
		if n, err := tb.p.Admin().ForceReleaseKeys(tb.ctx, a.Key); err != nil || n != 1 {
			t.Fatalf("FreeKeys = %d, %v", n, err)
		}
		if err := a.Refresh(tb.ctx, 0); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Refresh after FreeKeys = %v", err)
		}
		if !errors.Is(context.Cause(ctx), pool.ErrNotHeld) {
			t.Fatalf("context cause %v", context.Cause(ctx))
		}
		// Without refreshes the context ends by the lease deadline.
		l := tb.malloc(t, pool.LeaseTTL(50*time.Millisecond))
		select {
		case <-l.Context().Done():
		case <-time.After(2 * time.Second):
			t.Fatal("context outlived the lease")
		}
		if _, err := tb.p.Admin().ForceReleaseKeys(tb.ctx, "nope"); !errors.Is(err, pool.ErrNotMember) {
			t.Errorf("FreeKeys of a non-member = %v", err)
		}

		// A permanent lease stays permanent through Refresh(0); a TTL makes
		// it end, and its Context (asked for before) with it.
		p := tb.malloc(t, pool.LeaseTTL(pool.Permanent))
		pctx := p.Context()
		if err := p.Refresh(tb.ctx, 0); err != nil || !p.Deadline().IsZero() {
			t.Fatalf("Refresh(0) of a permanent lease: %v, deadline %v", err, p.Deadline())
		}
		if err := p.Refresh(tb.ctx, 100*time.Millisecond); err != nil || p.Deadline().IsZero() {
			t.Fatalf("Refresh(100ms) of a permanent lease: %v, deadline %v", err, p.Deadline())
		}
		select {
		case <-pctx.Done():
		case <-time.After(2 * time.Second):
			t.Fatal("a permanent lease refreshed to 100ms kept its context past the deadline")
		}
	})
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a")
		// Generous margins: the race detector and parallel tests on two
		// cores can delay a tick by a hundred milliseconds.
		a := tb.malloc(t, pool.LeaseTTL(500*time.Millisecond), pool.KeepAlive(100*time.Millisecond))
		time.Sleep(1500 * time.Millisecond) // more than three TTLs
		if a.Context().Err() != nil {
			t.Fatalf("kept-alive lease lost: %v", context.Cause(a.Context()))
		}
		if st := tb.state(t, "a"); st != pool.StateHeld {
			t.Fatalf("state %s", st)
		}
		if err := a.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.LeaseTTL(pool.Permanent), pool.KeepAlive(0)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("KeepAlive with LeaseTTL(Permanent) = %v", err)
		}
	})
}

// TestPermanentOnlyPerCall: Permanent is a per-call lease TTL; as a pool
// default or a refresh TTL it is refused, as lock.Permanent is by
// lock.WithTTL.
func TestPermanentOnlyPerCall(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		if _, err := pool.New[string](b.Client, b.Prefix, "perm", pool.WithLeaseTTL(pool.Permanent)); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("WithLeaseTTL(Permanent) = %v, want ErrInvalid", err)
		}
		tb := setup(t, b)
		tb.extend(t, "a")
		a, err := tb.p.Malloc(tb.ctx, pool.LeaseTTL(pool.Permanent))
		if err != nil {
			t.Fatal(err)
		}
		if !a.Deadline().IsZero() || !a.Valid() {
			t.Errorf("permanent lease: deadline %v, valid %v", a.Deadline(), a.Valid())
		}
		if err := a.Refresh(tb.ctx, pool.Permanent); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("Refresh(Permanent) = %v, want ErrInvalid", err)
		}
		if err := a.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRefreshFromSource(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		var mu sync.Mutex
		calls := 0
		inventory := []pool.Record{{Key: "p1", Priority: 5}, {Key: "p2"}}
		src := func(context.Context) ([]pool.Record, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return slices.Clone(inventory), nil
		}
		tb := setup(t, b)
		m1, err1 := pool.NewMaintainer(tb.p.Admin(), pool.WithSource(src, time.Hour, true))
		m2, err2 := pool.NewMaintainer(tb.p.Admin(), pool.WithSource(src, time.Hour, true))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if ok, err := m1.RefreshFromSource(tb.ctx); err != nil || !ok {
			t.Fatalf("first refresh = %v, %v", ok, err)
		}
		if ok, err := m2.RefreshFromSource(tb.ctx); err != nil || ok {
			t.Fatalf("second refresh within the interval = %v, %v", ok, err)
		}
		if calls != 1 {
			t.Fatalf("source called %d times", calls)
		}
		s := tb.healthy(t)
		if len(s.Members) != 2 || s.Members[0].Priority != 5 || s.FreeOrder[0] != "p1" {
			t.Fatalf("members %+v order %q", s.Members, s.FreeOrder)
		}
	})
}

// TestSourceValues: a source's records may carry values (an export of
// another pool is a source); records without one leave the value alone.
func TestSourceValues(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		if _, err := tb.p.Add(tb.ctx, map[string]proxy{"kept": {Addr: "old"}}); err != nil {
			t.Fatal(err)
		}
		other, err := pool.New[proxy](b.Client, b.Prefix, "elsewhere")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Add(tb.ctx, map[string]proxy{"moved": {Addr: "10.0.0.1:3128", Latency: 7}}, pool.Priority(2)); err != nil {
			t.Fatal(err)
		}
		src := func(ctx context.Context) ([]pool.Record, error) {
			recs, err := other.Admin().Export(ctx)
			return append(recs, pool.Record{Key: "kept"}), err
		}
		m, err := pool.NewMaintainer(tb.p.Admin(), pool.WithSource(src, time.Hour, false))
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := m.RefreshFromSource(tb.ctx); err != nil || !ok {
			t.Fatalf("refresh = %v, %v", ok, err)
		}
		if v, err := tb.p.Get(tb.ctx, "moved"); err != nil || v.Addr != "10.0.0.1:3128" || v.Latency != 7 {
			t.Fatalf("moved = %+v, %v", v, err)
		}
		if v, err := tb.p.Get(tb.ctx, "kept"); err != nil || v.Addr != "old" {
			t.Fatalf("kept = %+v, %v", v, err)
		}
		tb.healthy(t)
	})
}

// TestFreeKeysOneRun frees, in one script run, a mix that takes every
// path of pool_free: the same member twice, a member with a priority, one
// already free, a non-member, and a member past its expiry twice (it
// leaves the pool, so its second entry is not a member any more).
func TestFreeKeysOneRun(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "c")
		if _, err := tb.p.AddKeys(tb.ctx, []string{"b"}, pool.Priority(5)); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.AddKeys(tb.ctx, []string{"e"}, pool.MemberTTL(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "b", "e"} {
			if _, err := tb.p.MallocMember(tb.ctx, k, pool.LeaseTTL(time.Minute)); err != nil {
				t.Fatalf("MallocMember %s: %v", k, err)
			}
		}
		time.Sleep(400 * time.Millisecond) // e is past its expiry, still held
		n, err := tb.p.Admin().ForceReleaseKeys(tb.ctx, "a", "a", "b", "c", "zz", "e", "e")
		if n != 3 || !errors.Is(err, pool.ErrNotMember) {
			t.Fatalf("FreeKeys = %d, %v; want 3 and ErrNotMember", n, err)
		}
		if got := strings.Count(err.Error(), "not a member"); got != 2 {
			t.Errorf("%d members reported missing, want zz and the second e: %v", got, err)
		}
		for _, k := range []string{"a", "b", "c"} {
			if s := tb.state(t, k); s != pool.StateFree {
				t.Errorf("%s is %s, want free", k, s)
			}
		}
		if _, err := tb.p.Admin().State(tb.ctx, "e"); !errors.Is(err, pool.ErrNotMember) {
			t.Errorf("State(e) = %v, want ErrNotMember", err)
		}
		s := tb.healthy(t)
		if len(s.Members) != 3 {
			t.Errorf("%d members left, want 3", len(s.Members))
		}
		// b's priority puts it first.
		l := tb.malloc(t)
		if l.Key != "b" {
			t.Errorf("malloc after FreeKeys took %s, want b (priority 5)", l.Key)
		}
	})
}

// TestFreeKeysMaxBatch frees pool.MaxBatch held members in one run: the script
// passes them to Redis in slices (Lua's unpack stops near 8000 values).
func TestFreeKeysMaxBatch(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		if !b.Real() {
			t.Skip("the limit is real Redis's Lua; miniredis's takes seconds per 1,000 mallocs")
		}
		tb := setup(t, b)
		keys := make([]string, pool.MaxBatch)
		for i := range keys {
			keys[i] = fmt.Sprintf("m%05d", i)
		}
		tb.extend(t, keys...)
		if _, err := tb.p.MallocN(tb.ctx, pool.MaxBatch, pool.LeaseTTL(time.Minute)); err != nil {
			t.Fatalf("MallocN: %v", err)
		}
		if n, err := tb.p.Admin().ForceReleaseKeys(tb.ctx, keys...); n != pool.MaxBatch || err != nil {
			t.Fatalf("FreeKeys = %d, %v; want %d", n, err, pool.MaxBatch)
		}
		if c, err := tb.p.Admin().Counts(tb.ctx); err != nil || c.Free != pool.MaxBatch {
			t.Fatalf("Counts = %+v, %v; want every member free", c, err)
		}
	})
}

// softBind is the member name is bound to, from a snapshot: what a Malloc
// with Bind(name, …) would prefer.
func softBind(t *testing.T, tb *bundle, name string) (string, bool, error) {
	t.Helper()
	s, err := tb.p.Admin().Snapshot(tb.ctx)
	if err != nil {
		return "", false, err
	}
	for _, b := range s.Bindings {
		if b.Name == name && !b.Stale {
			return b.Key, true, nil
		}
	}
	return "", false, nil
}

// TestMallocNUndecodableGivesAllBack: MallocN is all or none, also when one
// of its members cannot be decoded: every member it took goes back, those
// decoded before the bad one included.
func TestMallocNUndecodableGivesAllBack(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithCodec(codec.JSON))
		if _, err := tb.p.Add(tb.ctx, map[string]proxy{"a": {Addr: "1"}, "b": {Addr: "2"}}, pool.Priority(5)); err != nil {
			t.Fatal(err)
		}
		tb.extend(t, "broken")
		ns, _ := redisx.NewNamespace(b.Prefix, "pool", "proxies")
		if err := b.Client.Do(tb.ctx, b.Client.B().Hset().Key(ns.Key("values")).FieldValue().FieldValue("broken", "{not json").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.MallocN(tb.ctx, 3); !errors.Is(err, codec.ErrDecode) {
			t.Fatalf("MallocN with an undecodable member = %v, want codec.ErrDecode", err)
		}
		if s := tb.healthy(t); s.Counts.Held != 0 || s.Counts.Free != 3 {
			t.Fatalf("after the failed MallocN: %+v, want every member free", s.Counts)
		}
	})
}
