package lock_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// collectMetrics returns what r holds, by metric name.
func collectMetrics(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// points returns the int64 sum or the histogram count of name's points,
// keyed by "operation/outcome" (outcome empty for counters), and fails
// on any attribute outside that low-cardinality pair.
func points(t *testing.T, ms map[string]metricdata.Metrics, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	key := func(set attribute.Set) string {
		for _, kv := range set.ToSlice() {
			if kv.Key != "redisallocator.lock.operation" && kv.Key != otel.AttrOutcome {
				t.Errorf("%s carries attribute %s", name, kv.Key)
			}
		}
		op, _ := set.Value("redisallocator.lock.operation")
		out, _ := set.Value(otel.AttrOutcome)
		return op.AsString() + "/" + out.AsString()
	}
	switch d := ms[name].Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] += p.Value
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] += int64(p.Count)
			if !slices.Equal(p.Bounds, otel.DurationBuckets) {
				t.Errorf("%s bounds %v", name, p.Bounds)
			}
		}
	case nil:
	default:
		t.Fatalf("%s: unexpected data %T", name, d)
	}
	return out
}

func TestMetricsAcquireAndContention(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		r := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
		t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		tb := setup(t, b, lock.WithMeterProvider(mp), lock.WithPollInterval(5*time.Millisecond, 20*time.Millisecond))
		ctx := tb.ctx
		m := must(tb.l.Mutex("job")).get(t)

		lease := must(m.TryAcquire(ctx)).get(t)
		if _, err := m.TryAcquire(ctx); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("second TryAcquire: %v", err)
		}
		// A waiting Acquire that gives up: at least one contended attempt.
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := m.Acquire(wctx)
		cancel()
		if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire while held: %v", err)
		}
		if ok := must(tb.l.Lock(ctx, "job", "someone", time.Minute)).get(t); ok {
			t.Fatal("Lock took a held key")
		}
		if n := must(tb.l.RLock(ctx, "job", "someone", time.Minute)).get(t); n != 0 {
			t.Fatal("RLock took a held key")
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
		lease = must(m.Acquire(ctx)).get(t)
		// Lost: the lock is deleted under the lease, and Refresh finds out.
		must(tb.l.ForceUnlock(ctx, "job")).get(t)
		if err := lease.Refresh(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Refresh after ForceUnlock: %v", err)
		}
		if !must(tb.l.Lock(ctx, "free", "me", time.Minute)).get(t) {
			t.Fatal("Lock of a free key failed")
		}
		if n := must(tb.l.RLock(ctx, "free", "me", time.Minute)).get(t); n != 2 {
			t.Fatalf("RLock by the holder = %d holds, want 2", n)
		}
		// Bad input is refused before anything is sent or recorded.
		if _, err := tb.l.Lock(ctx, "job", "me", -time.Second); !errors.Is(err, lock.ErrInvalid) {
			t.Fatalf("Lock with a negative TTL: %v", err)
		}

		ms := collectMetrics(t, r)
		got := points(t, ms, "redisallocator.lock.acquire.duration")
		want := map[string]int64{
			"try_acquire/acquired": 1, "try_acquire/not_acquired": 1,
			"acquire/canceled": 1, "acquire/acquired": 1,
			"lock/not_acquired": 1, "lock/acquired": 1,
			"rlock/not_acquired": 1, "rlock/acquired": 1,
		}
		if !equalMaps(got, want) {
			t.Errorf("acquire.duration counts %v, want %v", got, want)
		}
		cont := points(t, ms, "redisallocator.lock.contention")
		if cont["try_acquire/"] != 1 || cont["lock/"] != 1 || cont["rlock/"] != 1 || cont["acquire/"] < 1 {
			t.Errorf("contention %v, want 1 for try_acquire, lock and rlock and at least 1 for acquire", cont)
		}
		if lost := points(t, ms, "redisallocator.lock.lost"); lost["/"] != 1 {
			t.Errorf("lost %v, want 1", lost)
		}
		if _, ok := ms["redisallocator.lock.wait"]; ok {
			t.Error("the replaced redisallocator.lock.wait is still recorded")
		}
	})
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
