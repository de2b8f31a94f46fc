package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// provider hands out numbered members and records what was retired.
type provider struct {
	mu      sync.Mutex
	next    int
	retired []string
}

func (pr *provider) provision(_ context.Context, n int) ([]pool.Provisioned[proxy], error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := make([]pool.Provisioned[proxy], n)
	for i := range out {
		pr.next++
		key := fmt.Sprintf("new-%d", pr.next)
		out[i] = pool.Provisioned[proxy]{Key: key, Priority: 1, Value: proxy{Addr: key}, HasValue: true}
	}
	return out, nil
}

func (pr *provider) retire(_ context.Context, keys []string) error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.retired = append(pr.retired, keys...)
	return nil
}

func TestScalerProvisionsWhenLow(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b")
		pr := &provider{}
		sc, err := pool.NewScaler(tb.p, pr.provision, nil, pool.WithWaterMarks(2, 10), pool.WithSizeBounds(0, 5), pool.WithCooldown(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := sc.Step(tb.ctx); err != nil || ev != nil {
			t.Fatalf("Step with enough free members = %+v, %v", ev, err)
		}
		tb.malloc(t)
		tb.malloc(t) // load: nothing free
		ev, err := sc.Step(tb.ctx)
		if err != nil || ev == nil || ev.Action != "provision" || len(ev.Keys) != 2 {
			t.Fatalf("Step under load = %+v, %v", ev, err)
		}
		a := tb.malloc(t)
		if !a.HasValue || a.Value.Addr != a.Key {
			t.Fatalf("provisioned member %+v lacks its value", a)
		}
		time.Sleep(5 * time.Millisecond)
		// Max 5: with 4 members, one more at most.
		ev, err = sc.Step(tb.ctx)
		if err != nil || ev == nil || len(ev.Keys) != 1 {
			t.Fatalf("Step near Max = %+v, %v", ev, err)
		}
		if n, _ := tb.p.Len(tb.ctx); n != 5 {
			t.Fatalf("pool size %d, want Max 5", n)
		}
		time.Sleep(5 * time.Millisecond)
		if ev, err := sc.Step(tb.ctx); err != nil || ev != nil {
			t.Fatalf("Step at Max = %+v, %v", ev, err)
		}
		tb.healthy(t)
	})
}

func TestScalerServesWaitingMallocs(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithWaitPoll(20*time.Second))
		pr := &provider{}
		sc, _ := pool.NewScaler(tb.p, pr.provision, nil, pool.WithCooldown(time.Millisecond))
		got := make(chan error, 1)
		go func() {
			a, err := tb.p.Malloc(tb.ctx, pool.Wait())
			if err == nil {
				err = a.Release(tb.ctx)
			}
			got <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for tb.healthy(t).Waiters == 0 {
			if time.Now().After(deadline) {
				t.Fatal("waiter never registered")
			}
			time.Sleep(5 * time.Millisecond)
		}
		ev, err := sc.Step(tb.ctx)
		if err != nil || ev == nil || ev.Action != "provision" || ev.Waiting != 1 {
			t.Fatalf("Step with a waiter = %+v, %v", ev, err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiting malloc not served by the provisioned member")
		}
	})
}

func TestScalerRetiresIdleSurplusNeverHeld(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		keys := make([]string, 10)
		for i := range keys {
			keys[i] = fmt.Sprintf("m%02d", i)
		}
		tb.extend(t, keys...)
		held := []*pool.Allocation[proxy]{tb.malloc(t), tb.malloc(t)}
		pr := &provider{}
		sc, _ := pool.NewScaler(tb.p, pr.provision, pr.retire,
			pool.WithWaterMarks(0, 3), pool.WithSizeBounds(5, 0),
			// IdleAfter leaves a loaded -race run ample time for setup before
			// the first Step; 100ms was exceeded in CI-like runs.
			pool.WithIdleAfter(2*time.Second), pool.WithCooldown(time.Millisecond),
		)
		// Not idle long enough yet: nothing goes.
		if ev, err := sc.Step(tb.ctx); err != nil || ev != nil {
			t.Fatalf("Step before IdleAfter = %+v, %v", ev, err)
		}
		// Poll rather than sleep a fixed time: the first non-nil Step must retire.
		var ev *pool.ScaleEvent
		var err error
		for deadline := time.Now().Add(10 * time.Second); ev == nil && err == nil; {
			if time.Now().After(deadline) {
				t.Fatal("idle members never retired")
			}
			time.Sleep(50 * time.Millisecond)
			ev, err = sc.Step(tb.ctx)
		}
		if err != nil || ev == nil || ev.Action != "retire" || len(ev.Keys) != 5 {
			t.Fatalf("Step = %+v, %v; want 5 retired (8 free - high water 3, 10 total - min 5)", ev, err)
		}
		for _, h := range held {
			if st := tb.state(t, h.Key); st != pool.StateHeld {
				t.Fatalf("held member %s is %s after retiring", h.Key, st)
			}
			for _, k := range ev.Keys {
				if k == h.Key {
					t.Fatalf("held member %s retired", k)
				}
			}
		}
		if len(pr.retired) != 5 {
			t.Fatalf("Retire told %d keys", len(pr.retired))
		}
		if n, _ := tb.p.Len(tb.ctx); n != 5 {
			t.Fatalf("pool size %d, want Min 5", n)
		}
		tb.healthy(t)
	})
}

func TestScalersNeverActTogether(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		pr := &provider{}
		opts := []pool.ScalerOption{pool.WithWaterMarks(1, 1), pool.WithCooldown(time.Millisecond)}
		a, _ := pool.NewScaler(tb.p, pr.provision, nil, opts...)
		other := setup(t, b) // another process's Pool value on the same pool
		bsc, _ := pool.NewScaler(other.p, pr.provision, nil, opts...)
		ev, err := a.Step(tb.ctx)
		if err != nil || ev == nil {
			t.Fatalf("first scaler = %+v, %v", ev, err)
		}
		tb.malloc(t) // low again
		if ev, err := bsc.Step(tb.ctx); err != nil || ev != nil {
			t.Fatalf("second scaler acted while the first holds the claim: %+v, %v", ev, err)
		}
		// The first scaler's claim lapses (it paused); the second takes over.
		if err := b.Client.Do(tb.ctx, b.Client.B().Del().Key(a.ClaimKey()).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		ev, err = bsc.Step(tb.ctx)
		if err != nil || ev == nil || ev.Fence <= 1 {
			t.Fatalf("second scaler after takeover = %+v, %v", ev, err)
		}
		// The stale scaler wakes up with its old fence: it cannot act.
		before, _ := tb.p.Len(tb.ctx)
		if _, err := a.RetireWithFence(tb.ctx, 1, 10); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("stale scaler's retire = %v, want ErrNotHeld", err)
		}
		if after, _ := tb.p.Len(tb.ctx); after != before {
			t.Fatalf("stale scaler changed the pool: %d -> %d", before, after)
		}
	})
}

// TestScalerKeepsClaimThroughSlowProvision: a Provision that outlasts the
// claim (5 s) keeps it, renewed meanwhile: no other scaler acts in between,
// and what it brings is added.
func TestScalerKeepsClaimThroughSlowProvision(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		pr := &provider{}
		other := setup(t, b)
		otherPr := &provider{}
		otherScaler, _ := pool.NewScaler(other.p, otherPr.provision, nil, pool.WithWaterMarks(1, 5))
		var otherActed error
		slow := func(ctx context.Context, n int) ([]pool.Provisioned[proxy], error) {
			time.Sleep(5500 * time.Millisecond) // past the 5 s claim
			if ev, err := otherScaler.Step(ctx); ev != nil || err != nil {
				otherActed = fmt.Errorf("the other scaler acted during the provision: %+v, %w", ev, err)
			}
			return pr.provision(ctx, n)
		}
		sc, _ := pool.NewScaler(tb.p, slow, pr.retire, pool.WithWaterMarks(1, 5))
		ev, err := sc.Step(tb.ctx)
		if err != nil || ev == nil || ev.Action != "provision" || len(ev.Keys) != 1 {
			t.Fatalf("slow provision = %+v, %v", ev, err)
		}
		if otherActed != nil {
			t.Fatal(otherActed)
		}
		if n, _ := tb.p.Len(tb.ctx); n != 1 || len(pr.retired) != 0 {
			t.Fatalf("pool size %d, retired %v", n, pr.retired)
		}
	})
}

// TestScalerRetiresWhatItCouldNotAdd: when the claim is lost while
// Provision runs, the add fails (ErrNotHeld) and what was provisioned goes
// to Retire, so nothing bought upstream leaks.
func TestScalerRetiresWhatItCouldNotAdd(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		pr := &provider{}
		var sc *pool.Scaler[proxy]
		stolen := func(ctx context.Context, n int) ([]pool.Provisioned[proxy], error) {
			// Another scaler takes the claim over (ours lapsed, say).
			if err := b.Client.Do(ctx, b.Client.B().Set().Key(sc.ClaimKey()).Value("someone-else 99").Build()).Error(); err != nil {
				return nil, err
			}
			return pr.provision(ctx, n)
		}
		sc, _ = pool.NewScaler(tb.p, stolen, pr.retire, pool.WithWaterMarks(2, 5))
		ev, err := sc.Step(tb.ctx)
		if !errors.Is(err, pool.ErrNotHeld) || ev == nil || ev.Action != "error" || len(ev.Keys) != 2 {
			t.Fatalf("Step with the claim lost = %+v, %v", ev, err)
		}
		if !slices.Equal(pr.retired, ev.Keys) {
			t.Fatalf("retired %v, event keys %v", pr.retired, ev.Keys)
		}
		if n, _ := tb.p.Len(tb.ctx); n != 0 {
			t.Fatalf("pool size %d after a failed add", n)
		}
	})
}

func TestNewScalerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tb := setup(t, b)
	pr := &provider{}
	if _, err := pool.NewScaler(tb.p, nil, nil); !errors.Is(err, pool.ErrInvalid) {
		t.Errorf("NoProvision: %v", err)
	}
	for name, opt := range map[string]pool.ScalerOption{
		"Nil":      nil,
		"Marks":    pool.WithWaterMarks(5, 1),
		"Bounds":   pool.WithSizeBounds(5, 1),
		"Negative": pool.WithCooldown(-time.Second),
		"Idle":     pool.WithIdleAfter(-time.Second),
		"Interval": pool.WithScalerInterval(-time.Second),
	} {
		if _, err := pool.NewScaler(tb.p, pr.provision, nil, opt); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
