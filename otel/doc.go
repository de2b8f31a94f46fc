// Package otel names what redisallocator reports to OpenTelemetry, for
// users who build dashboards, alerts and collector rules on it.
//
// The constructors of lock, pool, task and health take a tracer and a meter
// provider (WithTracerProvider, WithMeterProvider); without them the global providers are used, looked up
// again whenever they change, so a component built before the application
// calls go.opentelemetry.io/otel.SetTracerProvider still reports to it. The
// module uses only the OpenTelemetry API; the application picks the SDK.
//
// Every atomic operation is one Lua script, and every script run is one
// CLIENT span named "EVALSHA <script>" (or "EVALSHA_RO <script>" for
// read-only scripts; the names are those of package script), a child of the
// caller's span, with the attributes of the database semantic conventions:
//
//	db.system.name           redis
//	db.operation.name        EVALSHA | EVALSHA_RO
//	db.stored_procedure.name the script name, for example lock_acquire
//	server.address/port      the Redis node, when the client has exactly one
//	error.type               on failure: the Redis error prefix, the script's
//	                         error code, "timeout", "canceled" or "_OTHER"
//	db.response.status_code  on failure, for errors the server returned
//
// Keys and arguments are never recorded: they may carry user data.
//
// Tracers and meters use the scope [ScopeName]. Metrics carry the shared
// attributes [AttrPoolName], [AttrQueueName] and [AttrOutcome]; docs/metrics.md
// in the repository lists every metric with its unit and attributes.
package otel
