package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// metered is a pool whose metrics go to a manual reader.
type metered struct {
	*bundle
	reader *sdkmetric.ManualReader
}

func setupMetered(t *testing.T, b *redisxtest.Backend, opts ...pool.Option) *metered {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &metered{bundle: setup(t, b, append(opts, pool.WithMeterProvider(mp))...), reader: r}
}

// collect returns the metrics recorded so far by name.
func (m *metered) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(m.ctx, &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otel.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otel.ScopeName)
		}
		for _, mm := range sm.Metrics {
			out[mm.Name] = mm
		}
	}
	return out
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum adds the int64 points (counter or up-down counter) of metric name
// whose attributes include want.
func sum(t *testing.T, ms map[string]metricdata.Metrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, want Sum[int64]", name, m.Data)
	}
	var n int64
	for _, p := range s.DataPoints {
		if hasAll(p.Attributes, want) {
			n += p.Value
		}
	}
	return n
}

// count adds the counts of the histogram points of name whose attributes
// include want.
func count(t *testing.T, ms map[string]metricdata.Metrics, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, want Histogram[float64]", name, m.Data)
	}
	var n uint64
	for _, p := range h.DataPoints {
		if hasAll(p.Attributes, want) {
			n += p.Count
			if !slices.Equal(p.Bounds, otel.DurationBuckets) {
				t.Errorf("%s bounds %v, want otel.DurationBuckets", name, p.Bounds)
			}
		}
	}
	return n
}

// checkAttrs fails when a point of a pool metric lacks the pool's name or
// carries an attribute outside the low-cardinality set.
func checkAttrs(t *testing.T, ms map[string]metricdata.Metrics) {
	t.Helper()
	allowed := map[attribute.Key]bool{
		otel.AttrPoolName: true, otel.AttrOutcome: true,
		"redisallocator.pool.member.state": true, "redisallocator.pool.gc.kind": true,
	}
	check := func(name string, set attribute.Set) {
		if v, _ := set.Value(otel.AttrPoolName); v.AsString() != "proxies" {
			t.Errorf("%s point %v lacks the pool name", name, set.ToSlice())
		}
		for _, kv := range set.ToSlice() {
			if !allowed[kv.Key] {
				t.Errorf("%s has attribute %s", name, kv.Key)
			}
		}
	}
	for name, m := range ms {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				check(name, p.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				check(name, p.Attributes)
			}
		default:
			t.Errorf("%s: unexpected data %T", name, m.Data)
		}
	}
}

var (
	outOK       = otel.AttrOutcome.String("ok")
	outEmpty    = otel.AttrOutcome.String("empty")
	outNotHeld  = otel.AttrOutcome.String("not_held")
	outCanceled = otel.AttrOutcome.String("canceled")
)

func TestMetricsMallocAndFree(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setupMetered(t, b, pool.WithWaitPoll(20*time.Millisecond))
		tb.extend(t, "a", "b", "c")
		var allocs []*pool.Allocation[proxy]
		for range 3 {
			allocs = append(allocs, tb.malloc(t))
		}
		// Empty: the batched path, the all-or-none path, and a wait that
		// runs out.
		if _, err := tb.p.Malloc(tb.ctx); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc on an empty pool: %v", err)
		}
		if _, err := tb.p.MallocN(tb.ctx, 2); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("MallocN on an empty pool: %v", err)
		}
		wctx, cancel := context.WithTimeout(tb.ctx, 100*time.Millisecond)
		_, err := tb.p.Malloc(wctx, pool.Wait())
		cancel()
		if !errors.Is(err, pool.ErrEmpty) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waiting Malloc: %v", err)
		}
		// A malloc whose ctx is already over: canceled, or empty when the
		// batched script's answer wins the race with ctx.
		dead, cancelDead := context.WithCancel(tb.ctx)
		cancelDead()
		if _, err := tb.p.Malloc(dead); err == nil {
			t.Fatal("Malloc with a cancelled ctx succeeded")
		}
		// Invalid input sends nothing and is not recorded.
		if _, err := tb.p.Malloc(tb.ctx, pool.LeaseTTL(-time.Second)); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("Malloc(LeaseTTL(-1s)): %v", err)
		}

		if err := allocs[0].Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if err := tb.p.Release(tb.ctx, allocs[1], allocs[2]); err != nil {
			t.Fatal(err)
		}
		if err := allocs[0].Release(tb.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("second Free: %v", err)
		}

		ms := tb.collect(t)
		checkAttrs(t, ms)
		canceled := count(t, ms, "redisallocator.pool.malloc.duration", outCanceled)
		if canceled > 1 {
			t.Errorf("malloc.duration{canceled} count %d, want at most 1", canceled)
		}
		for _, c := range []struct {
			outcome attribute.KeyValue
			want    uint64
		}{{outOK, 3}, {outEmpty, 3 + 1 - canceled}} {
			if got := count(t, ms, "redisallocator.pool.malloc.duration", c.outcome); got != c.want {
				t.Errorf("malloc.duration{%s} count %d, want %d", c.outcome.Value.AsString(), got, c.want)
			}
		}
		if got := count(t, ms, "redisallocator.pool.malloc.duration"); got != 7 {
			t.Errorf("malloc.duration count %d, want 7 (the invalid call is not recorded)", got)
		}
		if got := sum(t, ms, "redisallocator.pool.malloc.empty"); got != int64(4-canceled) {
			t.Errorf("malloc.empty %d, want %d", got, 4-canceled)
		}
		if got := sum(t, ms, "redisallocator.pool.malloc.waits"); got != 1 {
			t.Errorf("malloc.waits %d, want 1", got)
		}
		if got := count(t, ms, "redisallocator.pool.free.duration", outOK); got != 2 {
			t.Errorf("free.duration{ok} count %d, want 2 (one Lease.Free, one Pool.Free of two)", got)
		}
		if got := count(t, ms, "redisallocator.pool.free.duration", outNotHeld); got != 1 {
			t.Errorf("free.duration{not_held} count %d, want 1", got)
		}
		if _, ok := ms["redisallocator.pool.members"]; ok {
			t.Error("pool.members reported without RegisterMetrics")
		}
	})
}

func TestMetricsRegisterReportsCounts(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setupMetered(t, b, pool.WithWaitPoll(20*time.Millisecond))
		tb.extend(t, "a", "b", "c", "d", "e")
		tb.malloc(t)
		held := tb.malloc(t)
		if err := tb.p.Admin().Quarantine(tb.ctx, "e", time.Minute); err != nil {
			t.Fatal(err)
		}
		reg, err := tb.p.Admin().RegisterMetrics()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.Admin().RegisterMetrics(); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("second RegisterMetrics: %v, want ErrInvalidOption", err)
		}
		counts, err := tb.p.Admin().Counts(tb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts != (pool.Counts{Free: 2, Held: 2, Unhealthy: 1}) {
			t.Fatalf("Counts %+v", counts)
		}
		ms := tb.collect(t)
		checkAttrs(t, ms)
		state := func(s pool.State) attribute.KeyValue {
			return attribute.String("redisallocator.pool.member.state", string(s))
		}
		for s, want := range map[pool.State]int{
			pool.StateFree: counts.Free, pool.StateHeld: counts.Held, pool.StateUnhealthy: counts.Unhealthy,
		} {
			if got := sum(t, ms, "redisallocator.pool.members", state(s)); got != int64(want) {
				t.Errorf("members{%s} = %d, want %d", s, got, want)
			}
		}
		if got := sum(t, ms, "redisallocator.pool.waiters"); got != 0 {
			t.Errorf("waiters = %d, want 0", got)
		}

		// A waiting malloc shows up as a waiter, and as held once woken.
		tb.malloc(t)
		tb.malloc(t)
		done := make(chan error, 1)
		go func() {
			a, err := tb.p.Malloc(tb.ctx, pool.Wait())
			if err == nil {
				err = a.Release(tb.ctx)
			}
			done <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for sum(t, tb.collect(t), "redisallocator.pool.waiters") != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the waiting malloc never showed as a waiter")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := held.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("waiting malloc: %v", err)
		}

		if err := reg.Unregister(); err != nil {
			t.Fatal(err)
		}
		if err := reg.Unregister(); err != nil {
			t.Errorf("second Unregister: %v", err)
		}
		ms = tb.collect(t)
		if got := sum(t, ms, "redisallocator.pool.members"); got != 0 {
			t.Errorf("members still reported after Unregister: %d", got)
		}
		reg, err = tb.p.Admin().RegisterMetrics()
		if err != nil {
			t.Fatalf("RegisterMetrics after Unregister: %v", err)
		}
		if got := sum(t, tb.collect(t), "redisallocator.pool.members"); got != 5 {
			t.Errorf("members after registering again = %d, want 5", got)
		}
		if err := reg.Unregister(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMetricsGCReclaims(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setupMetered(t, b, pool.WithTimerBudget(0)) // only GC reclaims here
		tb.extend(t, "a", "b", "c")
		for range 2 {
			tb.malloc(t, pool.LeaseTTL(30*time.Millisecond)) // a crashed holder never frees
		}
		if _, err := tb.p.AddKeys(tb.ctx, []string{"x"}, pool.MemberTTL(30*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
		var total pool.GCResult
		for {
			r, err := tb.p.Admin().GC(tb.ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			total.LeasesReclaimed += r.LeasesReclaimed
			total.MembersExpired += r.MembersExpired
			if r.Pending == 0 {
				break
			}
		}
		if total.LeasesReclaimed != 2 || total.MembersExpired != 1 {
			t.Fatalf("GC reclaimed %+v, want 2 leases and 1 member", total)
		}
		ms := tb.collect(t)
		checkAttrs(t, ms)
		kind := func(k string) attribute.KeyValue { return attribute.String("redisallocator.pool.gc.kind", k) }
		if got := sum(t, ms, "redisallocator.pool.gc.reclaims", kind("lease")); got != 2 {
			t.Errorf("gc.reclaims{lease} = %d, want 2", got)
		}
		if got := sum(t, ms, "redisallocator.pool.gc.reclaims", kind("member_expired")); got != 1 {
			t.Errorf("gc.reclaims{member_expired} = %d, want 1", got)
		}
		if got := sum(t, ms, "redisallocator.pool.gc.reclaims"); got != 3 {
			t.Errorf("gc.reclaims = %d, want 3", got)
		}
	})
}

// TestMetricsLazyReclaims checks that what mallocs reclaim on the way
// (due timers, with the default budget) counts in gc.reclaims like a GC
// pass: through the batched script (a simple malloc) and the general one
// (a malloc with a binding).
func TestMetricsLazyReclaims(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setupMetered(t, b)
		tb.extend(t, "a", "b", "c", "d", "e")
		kind := func(k string) attribute.KeyValue { return attribute.String("redisallocator.pool.gc.kind", k) }
		for i, opt := range []pool.MallocOption{pool.LeaseTTL(time.Minute), pool.Bind("lazy", time.Minute)} {
			for range 2 {
				tb.malloc(t, pool.LeaseTTL(30*time.Millisecond)) // a crashed holder never frees
			}
			if _, err := tb.p.AddKeys(tb.ctx, []string{fmt.Sprintf("x%d", i)}, pool.MemberTTL(30*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(60 * time.Millisecond)
			a := tb.malloc(t, opt)
			ms := tb.collect(t)
			if got := sum(t, ms, "redisallocator.pool.gc.reclaims", kind("lease")); got != int64(2*(i+1)) {
				t.Errorf("malloc %d: gc.reclaims{lease} = %d, want %d", i, got, 2*(i+1))
			}
			if got := sum(t, ms, "redisallocator.pool.gc.reclaims", kind("member_expired")); got != int64(i+1) {
				t.Errorf("malloc %d: gc.reclaims{member_expired} = %d, want %d", i, got, i+1)
			}
			if err := a.Release(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkMallocFreeMetered is BenchmarkMallocFree at one goroutine with
// the SDK recording every metric: compare allocs/op with
// BenchmarkMallocFree/goroutines=1 (no SDK) to see what recording costs.
func BenchmarkMallocFreeMetered(b *testing.B) {
	for _, sdk := range []bool{false, true} {
		b.Run(fmt.Sprintf("sdk=%v", sdk), func(b *testing.B) {
			c := benchClient(b, throughputOptions(b)...)
			var opts []pool.Option
			if sdk {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
				opts = append(opts, pool.WithMeterProvider(mp))
			}
			prefix := benchPrefix()
			p, err := pool.New[int](c, prefix, "metered", opts...)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.Cleanup(func() {
				// Clear, then what Clear keeps (fencing counter, wake-up keys).
				_, _ = p.Admin().Clear(ctx)
				ns, _ := redisx.NewNamespace(prefix, "pool", "metered")
				if left := scanKeys(ctx, b, c, ns); len(left) > 0 {
					_ = c.Do(ctx, c.B().Del().Key(left...).Build()).Error()
				}
			})
			if _, err := p.AddKeys(ctx, []string{"a", "b", "c", "d"}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				a, err := p.Malloc(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Release(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Report a pool's members by state from one process, next to the malloc
// and free metrics every process records.
func ExampleAdmin_RegisterMetrics() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	reader := sdkmetric.NewManualReader() // in production: a periodic reader and an exporter
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(ctx) }()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "proxies", pool.WithMeterProvider(mp))
	_, _ = p.AddKeys(ctx, []string{"p1", "p2", "p3"})
	a, _ := p.Malloc(ctx)
	defer func() { _ = a.Release(ctx) }()

	reg, err := p.Admin().RegisterMetrics()
	if err != nil {
		panic(err)
	}
	defer func() { _ = reg.Unregister() }()

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			if m.Name != "redisallocator.pool.members" {
				continue
			}
			byState := map[string]int64{}
			for _, pt := range d.DataPoints {
				s, _ := pt.Attributes.Value("redisallocator.pool.member.state")
				byState[s.AsString()] = pt.Value
			}
			fmt.Println(m.Name, byState)
		case metricdata.Histogram[float64]:
			fmt.Println(m.Name, d.DataPoints[0].Count)
		}
	}
	// Output:
	// redisallocator.pool.malloc.duration 1
	// redisallocator.pool.members map[free:2 held:1 unhealthy:0]
}
