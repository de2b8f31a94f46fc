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

// TestNewAdminWithoutType: an Admin opened from client, prefix and name
// alone (as the CLI does) sees and changes the same pool as a typed Pool.
func TestNewAdminWithoutType(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		if _, err := tb.p.Add(tb.ctx, map[string]proxy{"a": {Addr: "1"}, "b": {Addr: "2"}}); err != nil {
			t.Fatal(err)
		}
		held := tb.malloc(t, pool.LeaseTTL(time.Hour))
		a, err := pool.NewAdmin(b.Client, b.Prefix, "proxies")
		if err != nil {
			t.Fatal(err)
		}
		s, err := a.Snapshot(tb.ctx)
		if err != nil || s.Counts != (pool.Counts{Free: 1, Held: 1}) || len(s.Violations) > 0 {
			t.Fatalf("Snapshot = %+v, %v", s, err)
		}
		// A stale fence ends nothing; fence 0 ends whatever lease there is.
		if n, err := a.ForceRelease(tb.ctx, map[string]int64{held.Key: held.Fence() + 1}); err != nil || n != 0 {
			t.Fatalf("ForceRelease of another fence = %d, %v", n, err)
		}
		if n, err := a.ForceRelease(tb.ctx, map[string]int64{held.Key: 0}); err != nil || n != 1 {
			t.Fatalf("ForceRelease of any holder = %d, %v", n, err)
		}
		if err := held.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("holder's Release after ForceRelease = %v, want ErrNotHeld", err)
		}
		// Quarantine d takes a member out; Quarantine 0 brings it back.
		if err := a.Quarantine(tb.ctx, "a", time.Hour); err != nil {
			t.Fatal(err)
		}
		if st, _ := a.State(tb.ctx, "a"); st != pool.StateUnhealthy {
			t.Fatalf("after Quarantine: %s", st)
		}
		if err := a.Quarantine(tb.ctx, "a", 0); err != nil {
			t.Fatal(err)
		}
		if st, _ := a.State(tb.ctx, "a"); st != pool.StateFree {
			t.Fatalf("after Quarantine(0): %s", st)
		}
		// Update changes existing members only, all or nothing.
		if err := a.Update(tb.ctx, []string{"b"}, pool.Priority(7)); err != nil {
			t.Fatal(err)
		}
		if err := a.Update(tb.ctx, []string{"a", "nope"}, pool.Priority(9)); !errors.Is(err, pool.ErrNotMember) {
			t.Fatalf("Update of a non-member = %v", err)
		}
		s = tb.healthy(t)
		if s.FreeOrder[0] != "b" || s.Members[0].Priority != 0 || s.Members[1].Priority != 7 {
			t.Fatalf("after Update: order %q members %+v", s.FreeOrder, s.Members)
		}
		if n, _ := tb.p.Len(tb.ctx); n != 2 {
			t.Fatalf("Update added members: Len %d", n)
		}
		// Export reads the values as stored without knowing T.
		recs, err := a.Export(tb.ctx)
		if err != nil || len(recs) != 2 || !recs[0].HasValue || recs[1].Priority != 7 {
			t.Fatalf("Export = %+v, %v", recs, err)
		}
		in, err := pool.NewInspector(b.Client, b.Prefix, "proxies")
		if err != nil {
			t.Fatal(err)
		}
		if st, err := in.Stats(tb.ctx); err != nil || st.Counts != (pool.Counts{Free: 2}) || st.Fence != held.Fence() {
			t.Fatalf("Inspector.Stats = %+v, %v", st, err)
		}
		if _, err := pool.NewInspector(nil, b.Prefix, "proxies"); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("NewInspector with a nil client = %v", err)
		}
		if _, err := pool.NewAdmin(b.Client, b.Prefix, ""); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("NewAdmin with a bad name = %v", err)
		}
		if _, err := pool.NewAdmin(b.Client, b.Prefix, "x", nil); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("NewAdmin with a nil option = %v", err)
		}
	})
}

// TestMaintainerRun: the loop reclaims lapsed leases and applies its
// source, reports failed passes to its handler and ends with ctx.
func TestMaintainerRun(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithTimerBudget(0))
		tb.extend(t, "a")
		_ = tb.malloc(t, pool.LeaseTTL(10*time.Millisecond)) // never released (the shortest lease)
		time.Sleep(20 * time.Millisecond)                    // the lease lapses (miniredis uses the real clock here)
		var mu sync.Mutex
		var errs []error
		calls := 0
		src := func(context.Context) ([]pool.Record, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return []pool.Record{{Key: "a"}, {Key: "s1", Priority: 3}}, nil
			}
			return nil, errors.New("inventory down")
		}
		m, err := pool.NewMaintainer(tb.p.Admin(), pool.WithMaintainInterval(5*time.Millisecond),
			pool.WithSource(src, time.Millisecond, false),
			pool.WithErrorFunc(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(tb.ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := len(errs)
			mu.Unlock()
			c, _ := tb.p.Admin().Counts(tb.ctx)
			if n > 0 && c == (pool.Counts{Free: 2}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("maintainer: counts %+v, %d errors", c, n)
			}
			time.Sleep(10 * time.Millisecond)
			if b.Mini != nil {
				b.Mini.FastForward(10 * time.Millisecond) // the source's claim expires
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		s := tb.healthy(t)
		if s.FreeOrder[0] != "s1" {
			t.Fatalf("source member not added with its priority: %q", s.FreeOrder)
		}
		for _, bad := range [][]pool.MaintainerOption{{nil}, {pool.WithMaintainInterval(0)}, {pool.WithSource(src, 0, true)}} {
			if _, err := pool.NewMaintainer(tb.p.Admin(), bad...); !errors.Is(err, pool.ErrInvalid) {
				t.Errorf("NewMaintainer(%v) = %v", bad, err)
			}
		}
		if _, err := pool.NewMaintainer(nil); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("NewMaintainer(nil) = %v", err)
		}
	})
}
