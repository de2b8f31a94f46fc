package pool_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// TestCallsEndingEarlyRunNothing: every call of the pool with a nil ctx
// returns an ErrInvalid error (no panic), and with an already-cancelled
// ctx the ctx's error; neither runs a script: no member is taken, no
// fence advanced, no binding written (every key's DUMP is unchanged).
func TestCallsEndingEarlyRunNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c", "d")
		held := tb.malloc(t, pool.LeaseTTL(time.Hour))
		ad := tb.p.Admin()
		err2 := func(_ any, err error) error { return err }
		err3 := func(_, _ any, err error) error { return err }
		sess := newFakeSession("early-1", time.Minute)
		defer sess.cancel(nil)
		mt, err := pool.NewMaintainer(ad, pool.WithSource(func(context.Context) ([]pool.Record, error) {
			return []pool.Record{{Key: "e"}}, nil
		}, time.Second, true))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := pool.NewScaler(tb.p, func(context.Context, int) ([]pool.Provisioned[proxy], error) {
			return []pool.Provisioned[proxy]{{Key: "e"}}, nil
		}, func(context.Context, []string) error { return nil }, pool.WithWaterMarks(10, 20))
		if err != nil {
			t.Fatal(err)
		}
		redisxtest.EndsEarly(t, b, pool.ErrInvalid, map[string]func(ctx context.Context) error{
			"Malloc":          func(ctx context.Context) error { return err2(tb.p.Malloc(ctx)) },
			"MallocBind":      func(ctx context.Context) error { return err2(tb.p.Malloc(ctx, pool.Bind("n", time.Hour))) },
			"MallocWait":      func(ctx context.Context) error { return err2(tb.p.Malloc(ctx, pool.Wait())) },
			"MallocSession":   func(ctx context.Context) error { return err2(tb.p.Malloc(ctx, pool.InSession(sess))) },
			"MallocKeepAlive": func(ctx context.Context) error { return err2(tb.p.Malloc(ctx, pool.KeepAlive(0))) },
			"MallocN":         func(ctx context.Context) error { return err2(tb.p.MallocN(ctx, 2)) },
			"MallocMember":    func(ctx context.Context) error { return err2(tb.p.MallocMember(ctx, "c")) },
			"Add":             func(ctx context.Context) error { return err2(tb.p.Add(ctx, map[string]proxy{"e": {}})) },
			"AddKeys":         func(ctx context.Context) error { return err2(tb.p.AddKeys(ctx, []string{"e"})) },
			"Assign":          func(ctx context.Context) error { return err3(tb.p.Assign(ctx, map[string]proxy{"e": {}})) },
			"AssignKeys":      func(ctx context.Context) error { return err3(tb.p.AssignKeys(ctx, []string{"e"})) },
			"Remove":          func(ctx context.Context) error { return err2(tb.p.Remove(ctx, "a")) },
			"Len":             func(ctx context.Context) error { return err2(tb.p.Len(ctx)) },
			"Contains":        func(ctx context.Context) error { return err2(tb.p.Contains(ctx, "a")) },
			"Keys":            func(ctx context.Context) error { return err2(tb.p.Keys(ctx)) },
			"Get":             func(ctx context.Context) error { return err2(tb.p.Get(ctx, "a")) },
			"ProbeTargets":    func(ctx context.Context) error { return err3(tb.p.ProbeTargets(ctx)) },
			"ProbeHold":       func(ctx context.Context) error { _, _, _, err := tb.p.ProbeHold(ctx, "c", time.Second); return err },
			"PoolRelease":     func(ctx context.Context) error { return tb.p.Release(ctx, held) },
			"LeaseRelease":    func(ctx context.Context) error { return held.Release(ctx) },
			"LeaseRefresh":    func(ctx context.Context) error { return held.Refresh(ctx, time.Minute) },
			"ReportUnhealthy": func(ctx context.Context) error { return held.ReportUnhealthy(ctx, time.Minute) },
			"AdminUpdate":     func(ctx context.Context) error { return ad.Update(ctx, []string{"a"}, pool.Priority(3)) },
			"AdminClear":      func(ctx context.Context) error { return err2(ad.Clear(ctx)) },
			"AdminExport":     func(ctx context.Context) error { return err2(ad.Export(ctx)) },
			"AdminImport":     func(ctx context.Context) error { return err2(ad.Import(ctx, []pool.Record{{Key: "e"}})) },
			"AdminBind":       func(ctx context.Context) error { return ad.Bind(ctx, "n", "a", time.Hour) },
			"AdminUnbind":     func(ctx context.Context) error { return err2(ad.Unbind(ctx, "n")) },
			"AdminGC":         func(ctx context.Context) error { return err2(ad.GC(ctx, 10)) },
			"AdminForceRelease": func(ctx context.Context) error {
				return err2(ad.ForceRelease(ctx, map[string]int64{held.Key: held.Fence()}))
			},
			"AdminQuarantine": func(ctx context.Context) error { return ad.Quarantine(ctx, "a", time.Minute) },
			"Snapshot":        func(ctx context.Context) error { return err2(ad.Snapshot(ctx)) },
			"MaintainerRun":   mt.Run,
			"ScalerStep":      func(ctx context.Context) error { return err2(sc.Step(ctx)) },
			"ScalerRun":       sc.Run,
			"Stats":           func(ctx context.Context) error { return err2(ad.Stats(ctx)) },
		})
		if !held.Valid() {
			t.Fatal("a call that ended early ended the lease")
		}
	})
}

// TestWaitingMallocConnectionError: a waiting Malloc whose connection
// breaks returns the connection's error, not one matching ErrEmpty (the
// pool was never found empty by a working server). On miniredis only:
// the test stops the server, which a shared real server cannot afford.
func TestWaitingMallocConnectionError(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tb := setup(t, b, pool.WithWaitPoll(20*time.Second))
	tb.extend(t, "only")
	tb.malloc(t, pool.LeaseTTL(time.Hour))
	errc := make(chan error, 1)
	go func() {
		_, err := tb.p.Malloc(tb.ctx, pool.Wait())
		errc <- err
	}()
	redisallocatortest.WaitFor(t, 5*time.Second, func() bool {
		s, err := tb.p.Admin().Stats(tb.ctx)
		return err == nil && s.Waiters == 1
	})
	b.Mini.Close()
	select {
	case err := <-errc:
		if err == nil || errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc(Wait) on a broken connection = %v, want the connection error, not ErrEmpty", err)
		}
		t.Logf("Malloc(Wait) = %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the waiting Malloc did not return after its connection broke")
	}
}

// TestReportUnhealthyAfterRemove: once the member was removed from the
// pool, the lease is gone: ReportUnhealthy answers ErrNotHeld, as Refresh
// and Release do, and the lease ends.
func TestReportUnhealthyAfterRemove(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a")
		a := tb.malloc(t, pool.LeaseTTL(time.Hour))
		if n, err := tb.p.Remove(tb.ctx, "a"); err != nil || n != 1 {
			t.Fatalf("Remove = %d, %v", n, err)
		}
		if err := a.ReportUnhealthy(tb.ctx, time.Minute); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("ReportUnhealthy after Remove = %v, want ErrNotHeld", err)
		}
		if a.Valid() || a.Context().Err() == nil {
			t.Fatal("the lease of a removed member is still valid")
		}
		if err := a.Refresh(tb.ctx, 0); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Refresh after Remove = %v, want ErrNotHeld", err)
		}
		if err := a.Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Release after Remove = %v, want ErrNotHeld", err)
		}
		tb.healthy(t)
	})
}
