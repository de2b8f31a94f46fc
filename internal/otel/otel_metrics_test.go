package otel_test

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/redisallocator/redisallocator/internal/otel"
)

func TestBucketsAscend(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]float64{"DurationBuckets": otel.DurationBuckets, "TaskDurationBuckets": otel.TaskDurationBuckets} {
		for i := 1; i < len(b); i++ {
			if b[i] <= b[i-1] {
				t.Errorf("%s %v: want strictly ascending", name, b)
			}
		}
	}
	// A script round trip (~100µs) and a one-minute wait land in their own buckets.
	if otel.DurationBuckets[0] > 0.0001 || otel.DurationBuckets[len(otel.DurationBuckets)-1] < 60 {
		t.Errorf("DurationBuckets %v do not span 100µs to a minute", otel.DurationBuckets)
	}
}

// The helpers build instruments with the given unit and buckets, and the
// option slices carry their attributes.
func TestInstrumentHelpers(t *testing.T) {
	t.Parallel()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m := otel.NewProviders(nil, mp).Meter()
	ctx := context.Background()

	otel.Counter(m, "test.count", "{thing}", "things").Add(ctx, 2, otel.AddOpts(otel.AttrPoolName.String("p"))...)
	otel.Histogram(m, "test.duration", "durations", otel.DurationBuckets).Record(ctx, 0.0003,
		otel.RecordOpts(otel.AttrOutcome.String("ok"))...)
	g := otel.ObservedCount(m, "test.gauge", "{member}", "members")
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 7, otel.ObserveOpts(otel.AttrQueueName.String("q"))...)
		return nil
	}, g)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()

	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			got[mm.Name] = mm
		}
	}
	if c := got["test.count"]; c.Unit != "{thing}" || c.Data.(metricdata.Sum[int64]).DataPoints[0].Value != 2 {
		t.Errorf("counter %+v", c)
	} else if v, _ := c.Data.(metricdata.Sum[int64]).DataPoints[0].Attributes.Value(otel.AttrPoolName); v.AsString() != "p" {
		t.Errorf("counter attributes %v", c.Data.(metricdata.Sum[int64]).DataPoints[0].Attributes)
	}
	h := got["test.duration"]
	hp := h.Data.(metricdata.Histogram[float64]).DataPoints[0]
	if h.Unit != "s" || !slices.Equal(hp.Bounds, otel.DurationBuckets) || hp.BucketCounts[2] != 1 {
		t.Errorf("histogram unit %q bounds %v counts %v", h.Unit, hp.Bounds, hp.BucketCounts)
	}
	gs := got["test.gauge"].Data.(metricdata.Sum[int64])
	if gs.IsMonotonic || gs.DataPoints[0].Value != 7 {
		t.Errorf("observed count %+v", gs)
	}
}
