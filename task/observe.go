package task

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"

	"github.com/redisallocator/redisallocator/otel"
)

// Span attributes. Span names: task.query, task.submit, task.wait,
// task.claim and task.run (local runs too, with task.local=true).
var (
	attrName    = attribute.Key("task.name")
	attrID      = attribute.Key("task.id")
	attrAttempt = attribute.Key("task.attempt")
)

// traceContext carries the submitter's span context in the task record:
// W3C traceparent, then tracestate after a newline.
var traceContext = propagation.TraceContext{}

func injectTrace(ctx context.Context) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	tp := c.Get("traceparent")
	if tp == "" {
		return ""
	}
	if ts := c.Get("tracestate"); ts != "" {
		return tp + "\n" + ts
	}
	return tp
}

// extractTrace returns ctx with the remote span context stored by
// injectTrace, so spans started from it are children of the submitter's.
func extractTrace(ctx context.Context, s string) context.Context {
	if s == "" {
		return ctx
	}
	tp, ts, _ := strings.Cut(s, "\n")
	c := propagation.MapCarrier{"traceparent": tp}
	if ts != "" {
		c["tracestate"] = ts
	}
	return traceContext.Extract(ctx, c)
}

// Metric names. Task names are not attributes: they are unbounded in
// principle and would explode cardinality.
const (
	metricSubmitted = "redisallocator.task.submitted"
	metricRuns      = "redisallocator.task.runs"
	metricDuration  = "redisallocator.task.duration"
)

type instruments struct {
	submittedC metric.Int64Counter
	runs       metric.Int64Counter
	duration   metric.Float64Histogram
}

func newInstruments(p *otel.Providers) *instruments {
	m := p.Meter()
	in := &instruments{}
	var err error
	if in.submittedC, err = m.Int64Counter(metricSubmitted, metric.WithUnit("{task}"),
		metric.WithDescription("Tasks queued (joined submissions not counted).")); err != nil {
		in.submittedC = noop.Int64Counter{}
	}
	if in.runs, err = m.Int64Counter(metricRuns, metric.WithUnit("{run}"),
		metric.WithDescription("Handler runs by where (local, remote) and outcome (ok, error).")); err != nil {
		in.runs = noop.Int64Counter{}
	}
	if in.duration, err = m.Float64Histogram(metricDuration, metric.WithUnit("s"),
		metric.WithDescription("Handler run time.")); err != nil {
		in.duration = noop.Float64Histogram{}
	}
	return in
}

func (in *instruments) submitted(ctx context.Context) { in.submittedC.Add(ctx, 1) }

func (in *instruments) ran(ctx context.Context, where string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	set := metric.WithAttributes(attribute.String("task.where", where), attribute.String("task.outcome", outcome))
	in.runs.Add(ctx, 1, set)
	in.duration.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("task.where", where)))
}
