package lock

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisallocator/redisallocator/internal/otel"
)

// Metric names; docs/metrics.md describes each one. No lock name, owner or
// token is ever an attribute: they are unbounded and would explode metric
// cardinality. redisallocator.lock.acquire.duration replaces the earlier
// redisallocator.lock.wait (the successful Acquire calls are its
// outcome=acquired, operation=acquire series).
const (
	metricAcquireDur = "redisallocator.lock.acquire.duration"
	metricContention = "redisallocator.lock.contention"
	metricLost       = "redisallocator.lock.lost"
)

// attrOperation names the call that tried to take a lock.
const attrOperation = attribute.Key("redisallocator.lock.operation")

// acquireOp is a way of taking a lock.
type acquireOp int

const (
	opAcquire    acquireOp = iota // Mutex.Acquire
	opTryAcquire                  // Mutex.TryAcquire
	opLock                        // Locker.Lock
	opRLock                       // Locker.RLock
	numOps
)

var acquireOpNames = [numOps]string{"acquire", "try_acquire", "lock", "rlock"}

// outcome is how an acquisition ended.
type outcome int

const (
	outcomeAcquired    outcome = iota
	outcomeNotAcquired         // held by another owner
	outcomeCanceled            // ctx ended first
	outcomeError               // Redis failed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"acquired", "not_acquired", "canceled", "error"}

// instruments are the package's metrics with every attribute set built
// once: an acquisition records without allocating.
type instruments struct {
	acquire     metric.Float64Histogram
	contention  metric.Int64Counter
	lost        metric.Int64Counter
	acquireOpts [numOps][numOutcomes][]metric.RecordOption
	opOpts      [numOps][]metric.AddOption
}

func newInstruments(p *otel.Providers) *instruments {
	m := p.Meter()
	in := &instruments{
		acquire: otel.Histogram(m, metricAcquireDur,
			"Duration of lock acquisitions (Mutex.Acquire waiting included, TryAcquire, Locker.Lock and RLock), by operation and outcome.",
			otel.DurationBuckets),
		contention: otel.Counter(m, metricContention, "{attempt}",
			"Acquisition attempts that found the lock held by another owner; a waiting Acquire counts each retry."),
		lost: otel.Counter(m, metricLost, "{lease}",
			"Leases lost before release: deleted, taken over, or not renewed within their TTL."),
	}
	for o := range numOps {
		opAttr := attrOperation.String(acquireOpNames[o])
		in.opOpts[o] = otel.AddOpts(opAttr)
		for r := range numOutcomes {
			in.acquireOpts[o][r] = otel.RecordOpts(opAttr, otel.AttrOutcome.String(outcomeNames[r]))
		}
	}
	return in
}

// acquired records one acquisition call that ended with err (nil: taken)
// or, with a nil err, not taken when ok is false.
func (in *instruments) acquired(ctx context.Context, o acquireOp, start time.Time, ok bool, err error) {
	r := outcomeAcquired
	switch {
	case err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		r = outcomeCanceled
	case err != nil:
		r = outcomeError
	case !ok:
		r = outcomeNotAcquired
	}
	in.acquire.Record(ctx, time.Since(start).Seconds(), in.acquireOpts[o][r]...)
}

// contended records an attempt that found the lock held.
func (in *instruments) contended(ctx context.Context, o acquireOp) {
	in.contention.Add(ctx, 1, in.opOpts[o]...)
}

func (in *instruments) lostLease() {
	in.lost.Add(context.Background(), 1)
}
