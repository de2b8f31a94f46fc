// Package otel (internal) wires redisallocator into OpenTelemetry: it resolves the
// tracer and meter providers a component was given (or the global ones) and
// names and describes the span of every script run.
//
// Every atomic operation is one Lua script, and every script run is one
// CLIENT span named "EVALSHA <script>" (or "EVALSHA_RO <script>" for
// read-only scripts), a child of the caller's span, with the attributes of
// the current database semantic conventions:
//
//	db.system.name           redis
//	db.operation.name        EVALSHA | EVALSHA_RO
//	db.stored_procedure.name the script name, for example lock_acquire
//	server.address/port      the Redis node, when the client has exactly one
//	error.type               on failure: the Redis error prefix, our script
//	                         error code, "timeout", "canceled" or "_OTHER"
//	db.response.status_code  on failure, for errors the server returned
//
// Keys and arguments are never recorded: they may carry user data.
//
// For metrics the package holds what the packages share: the attribute keys
// (AttrPoolName, AttrQueueName, AttrOutcome), the histogram bucket
// boundaries (DurationBuckets, TaskDurationBuckets) and helpers that build
// instruments and reusable attribute options. docs/metrics.md in the
// repository lists every metric.
//
// A nil provider means the global one, and it is looked up again whenever
// the global changes, so a component built before the application calls
// go.opentelemetry.io/otel.SetTracerProvider still reports to it. The
// package uses only the OpenTelemetry API; the SDK is a test dependency.
//
// The package is named otel like the upstream module; inside this module the
// upstream import is aliased gotel.
package otel
