package otel

import "go.opentelemetry.io/otel/attribute"

// ScopeName is the instrumentation scope of every tracer and meter the
// module creates: filter on it in a collector or a metric view.
const ScopeName = "github.com/redisallocator/redisallocator"

// Metric attribute keys shared by the packages. Every value they take is
// drawn from a small fixed set or names a pool or queue; member keys, lock
// names, tokens and task ids never become attributes, since they are
// unbounded and would explode the number of series.
const (
	// AttrPoolName is the pool's name.
	AttrPoolName = attribute.Key("redisallocator.pool.name")
	// AttrQueueName is the queue's name.
	AttrQueueName = attribute.Key("redisallocator.queue.name")
	// AttrOutcome is how an operation ended; each metric documents its
	// values.
	AttrOutcome = attribute.Key("redisallocator.outcome")
)
