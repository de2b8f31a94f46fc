package lock

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/redisallocator/redisallocator/otel"
)

// Metric names. They carry no lock names as attributes: lock names are
// unbounded and would explode metric cardinality.
const (
	metricWait = "redisallocator.lock.wait"
	metricLost = "redisallocator.lock.lost"
)

// instruments are the package's metrics; the zero instruments are no-ops.
type instruments struct {
	wait metric.Float64Histogram
	lost metric.Int64Counter
}

func newInstruments(p *otel.Providers) *instruments {
	m := p.Meter()
	wait, err := m.Float64Histogram(metricWait,
		metric.WithUnit("s"),
		metric.WithDescription("Time a successful Mutex.Acquire waited for the lock."))
	if err != nil {
		wait = noop.Float64Histogram{}
	}
	lost, err := m.Int64Counter(metricLost,
		metric.WithUnit("{lease}"),
		metric.WithDescription("Leases lost before release: deleted, taken over, or not renewed within their TTL."))
	if err != nil {
		lost = noop.Int64Counter{}
	}
	return &instruments{wait: wait, lost: lost}
}

func (in *instruments) waited(d time.Duration) {
	in.wait.Record(context.Background(), d.Seconds())
}

func (in *instruments) lostLease() {
	in.lost.Add(context.Background(), 1)
}
