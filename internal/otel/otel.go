package otel

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	names "github.com/redisallocator/redisallocator/otel"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every tracer and meter the
// module creates.
const ScopeName = names.ScopeName

// Version is the instrumentation version reported with the scope.
const Version = "0.1.0"

// Providers resolves tracers and meters. The zero value and a nil pointer
// use the global providers. It is safe for concurrent use.
type Providers struct {
	tp trace.TracerProvider // nil: follow the global provider
	mp metric.MeterProvider // nil: follow the global provider

	tracer atomic.Pointer[tracerEntry]
	meter  atomic.Pointer[meterEntry]
}

type tracerEntry struct {
	from trace.TracerProvider
	t    trace.Tracer
}

type meterEntry struct {
	from metric.MeterProvider
	m    metric.Meter
}

// NewProviders returns Providers for the given tracer and meter providers;
// either may be nil to follow the global one.
func NewProviders(tp trace.TracerProvider, mp metric.MeterProvider) *Providers {
	return &Providers{tp: tp, mp: mp}
}

// Tracer returns the module's tracer from the configured provider, or from
// the current global provider.
func (p *Providers) Tracer() trace.Tracer {
	var tp trace.TracerProvider
	if p != nil {
		tp = p.tp
	}
	if tp == nil {
		tp = gotel.GetTracerProvider()
	}
	if p == nil {
		return newTracer(tp)
	}
	if e := p.tracer.Load(); e != nil && e.from == tp {
		return e.t
	}
	e := &tracerEntry{from: tp, t: newTracer(tp)}
	p.tracer.Store(e)
	return e.t
}

// Meter returns the module's meter from the configured provider, or from the
// current global provider.
func (p *Providers) Meter() metric.Meter {
	var mp metric.MeterProvider
	if p != nil {
		mp = p.mp
	}
	if mp == nil {
		mp = gotel.GetMeterProvider()
	}
	if p == nil {
		return newMeter(mp)
	}
	if e := p.meter.Load(); e != nil && e.from == mp {
		return e.m
	}
	e := &meterEntry{from: mp, m: newMeter(mp)}
	p.meter.Store(e)
	return e.m
}

func newTracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL))
}

func newMeter(mp metric.MeterProvider) metric.Meter {
	return mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(semconv.SchemaURL))
}

// Server is the Redis node a span reports as server.address and
// server.port. The zero value reports nothing.
type Server struct {
	Address string
	Port    int
}

// Operation names of script runs, as sent to Redis.
const (
	OpEvalSHA   = "EVALSHA"
	OpEvalSHARO = "EVALSHA_RO"
)

// StartScript starts the span of one script run as a child of the span in
// ctx. End it with [EndScript].
func StartScript(ctx context.Context, t trace.Tracer, scriptName string, readOnly bool, srv Server, extra ...trace.SpanStartOption) (context.Context, trace.Span) {
	k := spanKey{scriptName, readOnly, srv}
	v, ok := spanCache.Load(k)
	if !ok {
		v, _ = spanCache.LoadOrStore(k, newSpanStart(k))
	}
	s := v.(*spanStart)
	if len(extra) == 0 {
		return t.Start(ctx, s.name, s.opts...)
	}
	return t.Start(ctx, s.name, append(slices.Clip(s.opts), extra...)...)
}

// Span names and attributes depend only on the script and the server, so
// they are built once: every script run starts a span, recorded or not.
type spanKey struct {
	script   string
	readOnly bool
	srv      Server
}

type spanStart struct {
	name string
	opts []trace.SpanStartOption
}

var spanCache sync.Map // spanKey -> *spanStart

func newSpanStart(k spanKey) *spanStart {
	scriptName, srv := k.script, k.srv
	op := OpEvalSHA
	if k.readOnly {
		op = OpEvalSHARO
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs,
		semconv.DBSystemNameRedis,
		semconv.DBOperationName(op),
		semconv.DBStoredProcedureName(scriptName),
	)
	if srv.Address != "" {
		attrs = append(attrs, semconv.ServerAddress(srv.Address))
		// The conventions ask for the port only when it is not the default.
		if srv.Port != 0 && srv.Port != 6379 {
			attrs = append(attrs, semconv.ServerPort(srv.Port))
		}
	}
	return &spanStart{
		name: op + " " + scriptName,
		opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)},
	}
}

// Failure describes why a script run failed, for [EndScript].
type Failure struct {
	// ErrorType is error.type: a Redis error prefix, a script error code,
	// "timeout", "canceled" or "_OTHER".
	ErrorType string
	// StatusCode is db.response.status_code; set only when Redis itself
	// answered with an error.
	StatusCode string
}

// EndScript records the outcome of a script run and ends the span. A nil
// err ends the span as a success.
func EndScript(span trace.Span, err error, f Failure, opts ...trace.SpanEndOption) {
	if err != nil && span.IsRecording() {
		attrs := []attribute.KeyValue{semconv.ErrorTypeKey.String(f.ErrorType)}
		if f.StatusCode != "" {
			attrs = append(attrs, semconv.DBResponseStatusCode(f.StatusCode))
		}
		span.SetAttributes(attrs...)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(opts...)
}

// Batch describes one script run that served several callers at once
// (concurrent mallocs or frees merged into one script). Callers[0] is the
// parent of the run's span; the others are in their own traces.
type Batch struct {
	Callers []trace.SpanContext
}

// StartOptions are the options of the run's span: db.operation.batch.size
// and a link to every other traced caller's span (the SDK keeps 128 links
// per span by default; a batch has up to 256 callers, and every one still
// gets its follower span).
func (b Batch) StartOptions() []trace.SpanStartOption {
	links := make([]trace.Link, 0, len(b.Callers)-1)
	for _, sc := range b.Callers[1:] {
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(semconv.DBOperationBatchSize(len(b.Callers)))}
	if len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	return opts
}

// RecordFollowers gives every caller but the first a span of its own for
// the run, so each caller's trace shows the script that served it: a
// child of the caller's span with the run's name, times and outcome, kind
// internal (one script run stays one client span for span-derived
// metrics), linked to the run's span.
func (b Batch) RecordFollowers(t trace.Tracer, scriptName string, readOnly bool, srv Server, run trace.SpanContext,
	start, end time.Time, err error, f Failure, attrs ...attribute.KeyValue,
) {
	for _, sc := range b.Callers[1:] {
		if !sc.IsValid() || !sc.IsSampled() {
			continue
		}
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		_, span := StartScript(ctx, t, scriptName, readOnly, srv,
			trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(start),
			trace.WithLinks(trace.Link{SpanContext: run}),
			trace.WithAttributes(semconv.DBOperationBatchSize(len(b.Callers))), trace.WithAttributes(attrs...))
		EndScript(span, err, f, trace.WithTimestamp(end))
	}
}
