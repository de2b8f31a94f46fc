package task_test

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
	"github.com/redisallocator/redisallocator/task"
)

// meterReader is a meter provider whose metrics a test collects.
type meterReader struct {
	mp *sdkmetric.MeterProvider
	r  *sdkmetric.ManualReader
}

func newMeterReader(t *testing.T) *meterReader {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &meterReader{mp: mp, r: r}
}

func (m *meterReader) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			out[mm.Name] = mm
		}
	}
	return out
}

var allowedAttrs = map[attribute.Key]bool{
	otel.AttrQueueName: true, otel.AttrOutcome: true,
	"redisallocator.task.where": true, "redisallocator.task.state": true,
}

// byAttrs sums the int64 points, or counts the histogram points, of name
// by "where/outcome/state" (each empty when absent). Every point must
// belong to queue and carry only low-cardinality attributes.
func byAttrs(t *testing.T, ms map[string]metricdata.Metrics, name, queue string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	key := func(set attribute.Set) string {
		if v, _ := set.Value(otel.AttrQueueName); v.AsString() != queue {
			t.Errorf("%s point %v is not of queue %q", name, set.ToSlice(), queue)
		}
		for _, kv := range set.ToSlice() {
			if !allowedAttrs[kv.Key] {
				t.Errorf("%s carries attribute %s", name, kv.Key)
			}
		}
		w, _ := set.Value("redisallocator.task.where")
		o, _ := set.Value(otel.AttrOutcome)
		s, _ := set.Value("redisallocator.task.state")
		return w.AsString() + "/" + o.AsString() + "/" + s.AsString()
	}
	switch d := ms[name].Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] += p.Value
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] += int64(p.Count)
			if !slices.Equal(p.Bounds, otel.TaskDurationBuckets) {
				t.Errorf("%s bounds %v", name, p.Bounds)
			}
			if mn, ok := p.Min.Value(); ok && mn < 0 {
				t.Errorf("%s has a negative value %v", name, mn)
			}
		}
	case nil:
	default:
		t.Fatalf("%s: unexpected data %T", name, d)
	}
	return out
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func TestMetricsRunsAndOutcomes(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		mr := newMeterReader(t)
		tb := setup(t, b, task.WithMeterProvider(mr.mp))

		// A task whose deadline passes before any worker listens: the
		// first claim's housekeeping ends it.
		if _, err := tb.q.Submit(tb.ctx, "late", job{N: 9}, task.Timeout(20*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)

		wh := newHandler("worker")
		wq, err := task.New[job, *res](secondClient(t, b), b.Prefix, "work",
			task.WithBackoff(func(int, error) time.Duration { return 10 * time.Millisecond }),
			task.WithMeterProvider(mr.mp))
		if err != nil {
			t.Fatal(err)
		}
		listen(t, wq, wh.Handle)

		if _, err := tb.q.Query(tb.ctx, "ok", job{N: 1}, task.Remote()); err != nil {
			t.Fatalf("ok: %v", err)
		}
		_, err = tb.q.Query(tb.ctx, "fails", job{N: 2, Mode: modeFail}, task.Remote(), task.MaxAttempts(2))
		if !errors.Is(err, task.ErrHandler) {
			t.Fatalf("fails: %v", err)
		}
		_, err = tb.q.Query(tb.ctx, "hopeless", job{N: 3, Mode: modeSkip}, task.Remote(), task.MaxAttempts(5))
		if !errors.Is(err, task.ErrHandler) {
			t.Fatalf("hopeless: %v", err)
		}
		if _, err := tb.q.Query(tb.ctx, "here", job{N: 4}, task.Local()); err != nil {
			t.Fatalf("local: %v", err)
		}
		if _, err := tb.q.Query(tb.ctx, "here-fails", job{N: 5, Mode: modeFail}, task.Local()); !errors.Is(err, task.ErrHandler) {
			t.Fatalf("local fails: %v", err)
		}

		// A worker records a run after the caller has been woken.
		var ms map[string]metricdata.Metrics
		waitFor(t, "four remote runs recorded", func() bool {
			ms = mr.collect(t)
			n := int64(0)
			for k, v := range byAttrs(t, ms, "redisallocator.task.runs", "work") {
				if k[:len("remote/")] == "remote/" {
					n += v
				}
			}
			return n == 4
		})
		runs := byAttrs(t, ms, "redisallocator.task.runs", "work")
		want := map[string]int64{
			"remote/succeeded/": 1, "remote/retried/": 1, "remote/dead/": 2,
			"local/succeeded/": 1, "local/failed/": 1,
		}
		if !equalCounts(runs, want) {
			t.Errorf("runs %v, want %v", runs, want)
		}
		if dur := byAttrs(t, ms, "redisallocator.task.duration", "work"); !equalCounts(dur, want) {
			t.Errorf("duration counts %v, want %v", dur, want)
		}
		if n := total(byAttrs(t, ms, "redisallocator.task.submitted", "work")); n != 4 {
			t.Errorf("submitted %d, want 4 (late, ok, fails, hopeless)", n)
		}
		// First attempts only: the retry of "fails" is not a queue wait.
		if n := total(byAttrs(t, ms, "redisallocator.task.queue.wait", "work")); n != 3 {
			t.Errorf("queue.wait count %d, want 3", n)
		}
		if h, ok := ms["redisallocator.task.queue.wait"].Data.(metricdata.Histogram[float64]); ok {
			for _, p := range h.DataPoints {
				if mx, _ := p.Max.Value(); mx > 10 {
					t.Errorf("a queue wait of %vs", mx)
				}
			}
		}
		if n := total(byAttrs(t, ms, "redisallocator.task.reaped", "work")); n != 1 {
			t.Errorf("reaped %d, want 1 (late)", n)
		}
	})
}

func TestMetricsQueueDepth(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		mr := newMeterReader(t)
		tb := setup(t, b, task.WithMeterProvider(mr.mp))
		for _, id := range []string{"a", "b"} {
			if _, err := tb.q.Submit(tb.ctx, id, job{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tb.q.Submit(tb.ctx, "later", job{}, task.Delay(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.on("other").Submit(tb.ctx, "other", job{}); err != nil {
			t.Fatal(err)
		}
		reg, err := tb.q.RegisterMetrics()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.q.RegisterMetrics(); !errors.Is(err, task.ErrInvalid) {
			t.Errorf("second RegisterMetrics: %v, want ErrInvalid", err)
		}
		st, err := tb.insp("work").Stats(tb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Ready != 2 || st.Delayed != 1 {
			t.Fatalf("Stats %+v", st)
		}
		want := map[string]int64{
			"//ready": int64(st.Ready), "//delayed": int64(st.Delayed),
			"//running": int64(st.Running), "//dead": int64(st.Dead),
		}
		ms := mr.collect(t)
		if got := byAttrs(t, ms, "redisallocator.task.queue.depth", "work"); !equalCounts(got, want) {
			t.Errorf("depth %v, want %v", got, want)
		}
		if got := total(byAttrs(t, ms, "redisallocator.task.queue.workers", "work")); got != 0 {
			t.Errorf("workers %d, want 0", got)
		}
		if err := reg.Unregister(); err != nil {
			t.Fatal(err)
		}

		// Each queue reports its own depth, under its name.
		reg, err = tb.q.RegisterMetrics()
		if err != nil {
			t.Fatalf("RegisterMetrics after Unregister: %v", err)
		}
		defer func() { _ = reg.Unregister() }()
		reg2, err := tb.on("other").RegisterMetrics()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = reg2.Unregister() }()
		depth := mr.collect(t)["redisallocator.task.queue.depth"].Data.(metricdata.Sum[int64])
		perQueue := map[string]int64{}
		for _, p := range depth.DataPoints {
			v, _ := p.Attributes.Value(otel.AttrQueueName)
			perQueue[v.AsString()] += p.Value
		}
		if perQueue["work"] != 3 || perQueue["other"] != 1 || len(perQueue) != 2 {
			t.Errorf("depth per queue %v, want work 3, other 1", perQueue)
		}
	})
}

func equalCounts(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
