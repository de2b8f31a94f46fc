package health

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisallocator/redisallocator/internal/otel"
)

// EventKind says what happened.
type EventKind string

// Event kinds.
const (
	// MemberQuarantined: a probe failed and the member left rotation.
	MemberQuarantined EventKind = "member_quarantined"
	// MemberRecovered: a quarantined member passed its probe and is back.
	MemberRecovered EventKind = "member_recovered"
	// WorkerDied: a reaper removed a session whose heartbeat stopped; the
	// pools it held leases in reclaim them (their next malloc or GC).
	WorkerDied EventKind = "worker_died"
	// SessionLost: this process's own session missed its heartbeat
	// deadline; its Context is cancelled.
	SessionLost EventKind = "session_lost"
)

// Event is one state change, for logs and alerts.
type Event struct {
	Kind EventKind
	// Pool is the pool's name for member events.
	Pool string
	// Key is the member for member events, the session id for worker and
	// session events.
	Key string
	// Cooldown is the quarantine for MemberQuarantined.
	Cooldown time.Duration
	// Strikes counts failed probes in a row for MemberQuarantined.
	Strikes int64
	// Err is the probe's error, or why a session was lost.
	Err error
	// Worker describes the session for WorkerDied.
	Worker *Worker
}

// counters are the package's OpenTelemetry instruments.
type counters struct {
	events metric.Int64Counter
	probes metric.Int64Counter
}

// attrEventKind names an event's Kind on redisallocator.health.events.
const attrEventKind = attribute.Key("redisallocator.health.event.kind")

func newCounters(p *otel.Providers) *counters {
	m := p.Meter()
	c := &counters{}
	// Instrument creation only fails on invalid names; ours are constants.
	c.events, _ = m.Int64Counter("redisallocator.health.events",
		metric.WithDescription("Health state changes by kind: quarantined, recovered, worker died, session lost."),
		metric.WithUnit("{event}"))
	c.probes, _ = m.Int64Counter("redisallocator.health.probes",
		metric.WithDescription("Probes run, by outcome (ok, failed)."),
		metric.WithUnit("{probe}"))
	return c
}

func (c *counters) event(ctx context.Context, e Event, f func(Event)) {
	attrs := []attribute.KeyValue{attrEventKind.String(string(e.Kind))}
	if e.Pool != "" {
		attrs = append(attrs, otel.AttrPoolName.String(e.Pool))
	}
	c.events.Add(ctx, 1, metric.WithAttributes(attrs...))
	if f != nil {
		f(e)
	}
}

func (c *counters) probe(ctx context.Context, pool string, ok bool) {
	outcome := "failed"
	if ok {
		outcome = "ok"
	}
	c.probes.Add(ctx, 1, metric.WithAttributes(otel.AttrPoolName.String(pool), otel.AttrOutcome.String(outcome)))
}
