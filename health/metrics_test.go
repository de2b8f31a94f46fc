package health_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestCheckerMetrics: probes and quarantine events are counted with the
// module's attribute names.
func TestCheckerMetrics(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		p, _ := pool.New[string](b.Client, b.Prefix, "probed")
		if _, err := p.Add(ctx, map[string]string{"good": "x", "bad": "y"}); err != nil {
			t.Fatal(err)
		}
		probe := func(_ context.Context, key, _ string) error {
			if key == "bad" {
				return errors.New("refused")
			}
			return nil
		}
		ck, err := health.NewChecker(b.Client, b.Prefix, p, probe, health.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ck.CheckOnce(ctx); err != nil {
			t.Fatal(err)
		}
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{} // metric|attributes → value
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				sum, ok := m.Data.(metricdata.Sum[int64])
				if !ok {
					continue
				}
				for _, dp := range sum.DataPoints {
					got[m.Name+"|"+attrString(dp.Attributes)] += dp.Value
				}
			}
		}
		want := map[string]int64{
			"redisallocator.health.probes|redisallocator.outcome=ok,redisallocator.pool.name=probed":                           1,
			"redisallocator.health.probes|redisallocator.outcome=failed,redisallocator.pool.name=probed":                       1,
			"redisallocator.health.events|redisallocator.health.event.kind=member_quarantined,redisallocator.pool.name=probed": 1,
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
			}
		}
	})
}

func attrString(s attribute.Set) string {
	out := ""
	for i, kv := range s.ToSlice() {
		if i > 0 {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.String()
	}
	return out
}
