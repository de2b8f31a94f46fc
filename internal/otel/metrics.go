package otel

import (
	"sync"

	names "github.com/redisallocator/redisallocator/otel"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric attribute keys shared by the packages; the public package names
// them for users.
const (
	AttrPoolName  = names.AttrPoolName
	AttrQueueName = names.AttrQueueName
	AttrOutcome   = names.AttrOutcome
)

// DurationBuckets are the explicit histogram boundaries, in seconds, for
// Redis-backed operations: 100µs to a minute, so a single script round trip
// (tens to hundreds of µs), a batched one and a long wait all land in
// distinct buckets. The SDK's default boundaries start at 5 (meant for
// milliseconds) and would put every script run in the first bucket.
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// TaskDurationBuckets are the boundaries, in seconds, for task handler
// runs and queue waits: 1ms to an hour.
var TaskDurationBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	30, 60, 120, 300, 600, 1800, 3600,
}

// Counter returns an Int64Counter, or a no-op one when m refuses it (only
// an invalid name or unit can make it fail, and ours are constants), so
// callers never check instruments for nil.
func Counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		return noop.Int64Counter{}
	}
	return c
}

// Histogram returns a Float64Histogram of durations in seconds with the
// given bucket boundaries, or a no-op one when m refuses it.
func Histogram(m metric.Meter, name, desc string, buckets []float64) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(buckets...))
	if err != nil {
		return noop.Float64Histogram{}
	}
	return h
}

// ObservedCount returns an Int64ObservableUpDownCounter, the instrument
// for a count read from Redis at collection time (members by state, tasks
// by state): an up-down counter rather than a gauge because the counts add
// up across states, as in the semantic conventions' connection counts. It
// returns a no-op instrument when m refuses it.
func ObservedCount(m metric.Meter, name, unit, desc string) metric.Int64ObservableUpDownCounter {
	g, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		return noop.Int64ObservableUpDownCounter{}
	}
	return g
}

// AddOpts returns the options that attach attrs to a counter increment.
// Build them once and reuse them: the attribute set is then hashed and
// sorted once, and recording allocates nothing for it.
func AddOpts(attrs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}

// RecordOpts is AddOpts for histogram recordings.
func RecordOpts(attrs ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}

// ObserveOpts is AddOpts for observations in a callback.
func ObserveOpts(attrs ...attribute.KeyValue) []metric.ObserveOption {
	return []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}

// OnceRegistration wraps reg so that Unregister stops the callback once,
// then calls done (which lets the owner accept a new registration);
// calling Unregister again does nothing.
func OnceRegistration(reg metric.Registration, done func()) metric.Registration {
	return &onceRegistration{Registration: reg, done: done}
}

type onceRegistration struct {
	metric.Registration
	once sync.Once
	done func()
}

func (r *onceRegistration) Unregister() error {
	var err error
	r.once.Do(func() {
		err = r.Registration.Unregister()
		r.done()
	})
	return err
}
