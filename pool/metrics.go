package pool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Metric names; docs/metrics.md describes each one.
const (
	metricMembers     = "redisallocator.pool.members"
	metricWaiters     = "redisallocator.pool.waiters"
	metricMallocDur   = "redisallocator.pool.malloc.duration"
	metricFreeDur     = "redisallocator.pool.free.duration"
	metricMallocEmpty = "redisallocator.pool.malloc.empty"
	metricMallocWaits = "redisallocator.pool.malloc.waits"
	metricGCReclaims  = "redisallocator.pool.gc.reclaims"
)

// Attribute keys of the pool's metrics besides otel.AttrPoolName and
// otel.AttrOutcome.
const (
	attrMemberState = attribute.Key("redisallocator.pool.member.state")
	attrGCKind      = attribute.Key("redisallocator.pool.gc.kind")
)

// outcome is the value of otel.AttrOutcome of a malloc or a free.
type outcome int

const (
	outcomeOK       outcome = iota
	outcomeEmpty            // malloc: too few free members (ErrEmpty)
	outcomeNotHeld          // free: a lease was no longer held
	outcomeCanceled         // ctx ended
	outcomeError            // anything else: Redis unreachable, a bad reply
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "empty", "not_held", "canceled", "error"}

// GC result kinds, in GCResult's order.
var gcKinds = [4]string{"lease", "member_expired", "quarantine_ended", "binding_expired"}

// metrics are one pool's instruments with their attribute sets built once,
// so recording on the malloc and free paths allocates nothing.
type metrics struct {
	meter       metric.Meter
	mallocDur   metric.Float64Histogram
	freeDur     metric.Float64Histogram
	empty       metric.Int64Counter
	waits       metric.Int64Counter
	reclaims    metric.Int64Counter
	outcomeOpts [numOutcomes][]metric.RecordOption
	poolOpts    []metric.AddOption
	gcOpts      [len(gcKinds)][]metric.AddOption
	registered  atomic.Bool // RegisterMetrics is active
}

func newMetrics(p *otel.Providers, name string) *metrics {
	m := p.Meter()
	pm := &metrics{
		meter: m,
		mallocDur: otel.Histogram(m, metricMallocDur,
			"Duration of Malloc, MallocN and MallocMember calls, waiting included, by outcome.",
			otel.DurationBuckets),
		freeDur: otel.Histogram(m, metricFreeDur,
			"Duration of releases (Lease.Release, Pool.Release) that reached Redis, by outcome.", otel.DurationBuckets),
		empty: otel.Counter(m, metricMallocEmpty, "{malloc}",
			"Mallocs that found too few free members on their first try, whether they then failed or waited."),
		waits: otel.Counter(m, metricMallocWaits, "{malloc}",
			"Mallocs that waited for a member to be freed (the Wait option on an empty pool)."),
		reclaims: otel.Counter(m, metricGCReclaims, "{item}",
			"What GC passes and mallocs on their way did, by kind: leases reclaimed, members expired, quarantines ended, bindings expired."),
	}
	pool := otel.AttrPoolName.String(name)
	for o := range numOutcomes {
		pm.outcomeOpts[o] = otel.RecordOpts(pool, otel.AttrOutcome.String(outcomeNames[o]))
	}
	pm.poolOpts = otel.AddOpts(pool)
	for i, k := range gcKinds {
		pm.gcOpts[i] = otel.AddOpts(pool, attrGCKind.String(k))
	}
	return pm
}

// outcomeOf classifies the error a caller got, by the sentinel it matches.
func outcomeOf(err error) outcome {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrEmpty):
		return outcomeEmpty
	case errors.Is(err, ErrNotHeld):
		return outcomeNotHeld
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeCanceled
	}
	return outcomeError
}

// malloced records one malloc call. Calls rejected as invalid sent nothing
// and are not recorded.
func (m *metrics) malloced(ctx context.Context, start time.Time, err error) {
	if errors.Is(err, ErrInvalid) {
		return
	}
	m.mallocDur.Record(ctx, time.Since(start).Seconds(), m.outcomeOpts[outcomeOf(err)]...)
}

// freed records one free that reached Redis.
func (m *metrics) freed(ctx context.Context, start time.Time, err error) {
	if errors.Is(err, ErrInvalid) {
		return
	}
	m.freeDur.Record(ctx, time.Since(start).Seconds(), m.outcomeOpts[outcomeOf(err)]...)
}

// foundEmpty records a malloc that found too few free members; waited says
// it goes on to wait.
func (m *metrics) foundEmpty(ctx context.Context, waited bool) {
	m.empty.Add(ctx, 1, m.poolOpts...)
	if waited {
		m.waits.Add(ctx, 1, m.poolOpts...)
	}
}

func (m *metrics) gc(ctx context.Context, r GCResult) {
	for i, n := range [len(gcKinds)]int{r.LeasesReclaimed, r.MembersExpired, r.MembersRecovered, r.BindingsExpired} {
		if n > 0 {
			m.reclaims.Add(ctx, int64(n), m.gcOpts[i]...)
		}
	}
}

// RegisterMetrics starts reporting the pool's state through the meter
// provider (WithMeterProvider): redisallocator.pool.members by state (free,
// held, unhealthy) and redisallocator.pool.waiters, the mallocs waiting in
// every process. Each collection reads them with one read-only script, so
// they are always consistent with each other.
//
// It is opt-in because the numbers are the pool's in Redis, the same for
// every process that opens it: register in one process (or a few), not in
// every one, or each collection runs the script once per process and the
// backend stores identical series. Call Unregister on the result when the
// pool is no longer used: until then the meter provider keeps the pool
// reachable and reads it at every collection.
//
// A second RegisterMetrics on the same Pool value before Unregister
// returns an error matching errInvalidOption, since it would report every
// count twice. The other malloc, free and GC metrics need no registration.
// A collection whose read fails reports nothing for the pool and returns
// the error to the SDK, which hands it to the OpenTelemetry error handler.
func (a *Inspector) RegisterMetrics() (metric.Registration, error) {
	p := a
	m := p.c.met
	if !m.registered.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: pool %s: metrics already registered", errInvalidOption, p.c.name)
	}
	members := otel.ObservedCount(m.meter, metricMembers, "{member}",
		"Members of the pool by state (free, held, unhealthy), read from Redis at each collection.")
	waiters := otel.ObservedCount(m.meter, metricWaiters, "{malloc}",
		"Mallocs waiting for a free member, in every process, read from Redis at each collection.")
	pool := otel.AttrPoolName.String(p.c.name)
	var stateOpts [3][]metric.ObserveOption
	for i, s := range []State{StateFree, StateHeld, StateUnhealthy} {
		stateOpts[i] = otel.ObserveOpts(pool, attrMemberState.String(string(s)))
	}
	poolOpts := otel.ObserveOpts(pool)
	reg, err := m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		counts, waiting, err := p.c.load(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(members, int64(counts.Free), stateOpts[0]...)
		o.ObserveInt64(members, int64(counts.Held), stateOpts[1]...)
		o.ObserveInt64(members, int64(counts.Unhealthy), stateOpts[2]...)
		o.ObserveInt64(waiters, int64(waiting), poolOpts...)
		return nil
	}, members, waiters)
	if err != nil {
		m.registered.Store(false)
		return nil, fmt.Errorf("pool %s: register metrics: %w", p.c.name, err)
	}
	return otel.OnceRegistration(reg, func() { m.registered.Store(false) }), nil
}

// load reads the counts by state and the number of waiting mallocs in one
// script.
func (c *core) load(ctx context.Context) (Counts, int, error) {
	msg, err := c.runScript(ctx, script.PoolInspect, []string{"load", ""})
	if err != nil {
		return Counts{}, 0, err
	}
	r, err := msg.AsIntSlice()
	if err != nil || len(r) != 4 {
		return Counts{}, 0, fmt.Errorf("pool %s: load: unexpected reply: %w", c.name, err)
	}
	return Counts{Free: int(r[0]), Held: int(r[1]), Unhealthy: int(r[2])}, int(r[3]), nil
}
