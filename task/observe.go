package task

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"

	"github.com/redisallocator/redisallocator/internal/otel"
)

// Span attributes. Span names: task.query, task.submit, task.wait,
// task.claim and task.run (local runs too, with task.local=true).
var (
	attrName    = attribute.Key("task.name")
	attrID      = attribute.Key("task.id")
	attrAttempt = attribute.Key("task.attempt")
)

// traceContext carries the submitter's span context in the task record.
var traceContext = propagation.TraceContext{}

// The task record's trace field is lines: the W3C traceparent, the
// tracestate, then "key=value" lines; each may be empty. The keys are
// timeoutKey: the task's timeout in ms, from which a worker computes the
// time the task waited (see [instruments.waited]), and shapeKey: the
// submitter's shape, which a worker checks before it decodes the params. Readers that predate the
// third line see it as part of an unparsable tracestate, which the
// propagator drops without losing the traceparent.
const (
	timeoutKey = "timeout="
	shapeKey   = "shape="
)

func injectTrace(ctx context.Context, timeout, shape string) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	s := c.Get("traceparent") + "\n" + c.Get("tracestate") + "\n" + timeoutKey + timeout
	if shape != "" {
		s += "\n" + shapeKey + shape
	}
	return s
}

// traceShape returns the submitter's shape stored by injectTrace, or "".
func traceShape(s string) string {
	_, rest, _ := strings.Cut(s, "\n")
	_, ext, _ := strings.Cut(rest, "\n")
	for line := range strings.SplitSeq(ext, "\n") {
		if v, ok := strings.CutPrefix(line, shapeKey); ok {
			return v
		}
	}
	return ""
}

// extractTrace returns ctx with the remote span context stored by
// injectTrace, so spans started from it are children of the submitter's,
// and the task's timeout (0 when the record does not say).
func extractTrace(ctx context.Context, s string) (context.Context, time.Duration) {
	if s == "" {
		return ctx, 0
	}
	tp, rest, _ := strings.Cut(s, "\n")
	ts, ext, _ := strings.Cut(rest, "\n")
	var timeout time.Duration
	for line := range strings.SplitSeq(ext, "\n") {
		if v, ok := strings.CutPrefix(line, timeoutKey); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				timeout = time.Duration(n) * time.Millisecond
			}
		}
	}
	if tp == "" {
		return ctx, timeout
	}
	c := propagation.MapCarrier{"traceparent": tp}
	if ts != "" {
		c["tracestate"] = ts
	}
	return traceContext.Extract(ctx, c), timeout
}

// Metric names; docs/metrics.md describes each one. The task name is the
// queue's name and an attribute (redisallocator.queue.name): programs
// choose their task names the way they choose routes, so they are few. Task
// ids never are.
const (
	metricSubmitted = "redisallocator.task.submitted"
	metricRuns      = "redisallocator.task.runs"
	metricDuration  = "redisallocator.task.duration"
	metricWait      = "redisallocator.task.queue.wait"
	metricReaped    = "redisallocator.task.reaped"
	metricDepth     = "redisallocator.task.queue.depth"
	metricWorkers   = "redisallocator.task.queue.workers"
)

// Attribute keys besides otel.AttrQueueName and otel.AttrOutcome.
const (
	attrWhere = attribute.Key("redisallocator.task.where")
	attrState = attribute.Key("redisallocator.task.state")
)

// Where a handler ran.
const (
	whereLocal = iota
	whereRemote
	numWhere
)

var whereNames = [numWhere]string{"local", "remote"}

// runOutcome is the value of otel.AttrOutcome of a run.
type runOutcome int

const (
	runSucceeded runOutcome = iota
	runFailed               // a local run failed
	runRetried              // a remote run failed and the task will run again
	runDead                 // a remote run failed for good: dead-letter set
	runCanceled             // the task was canceled, or a local run's ctx ended
	runReleased             // the worker shut down and gave the task back
	runLost                 // the worker lost its claim
	runError                // the outcome could not be recorded in Redis
	numRunOutcomes
)

var runOutcomeNames = [numRunOutcomes]string{
	"succeeded", "failed", "retried", "dead", "canceled", "released", "lost", "error",
}

type instruments struct {
	meter      metric.Meter
	submittedC metric.Int64Counter
	runs       metric.Int64Counter
	duration   metric.Float64Histogram
	wait       metric.Float64Histogram
	reapedC    metric.Int64Counter
	registered atomic.Bool // RegisterMetrics is active

	// A map under a lock rather than a sync.Map: looking a string up in
	// a sync.Map boxes it, an allocation per recording.
	mu    sync.RWMutex
	names map[string]*nameOpts
}

// nameOpts are the attribute sets of one queue, built on first use so that
// recording allocates nothing.
type nameOpts struct {
	queue   []metric.AddOption
	wait    []metric.RecordOption
	runs    [numWhere][numRunOutcomes][]metric.AddOption
	runDur  [numWhere][numRunOutcomes][]metric.RecordOption
	states  [4][]metric.ObserveOption // ready, delayed, running, dead
	workers []metric.ObserveOption
}

var stateNames = [4]string{"ready", "delayed", "running", "dead"}

func newInstruments(p *otel.Providers) *instruments {
	m := p.Meter()
	return &instruments{
		meter: m,
		names: map[string]*nameOpts{},
		submittedC: otel.Counter(m, metricSubmitted, "{task}",
			"Tasks queued (submissions that joined a pending or running task are not counted)."),
		runs: otel.Counter(m, metricRuns, "{run}",
			"Task runs by where they ran (local, remote) and outcome."),
		duration: otel.Histogram(m, metricDuration,
			"Duration of task runs (decoding, handler, encoding), by where they ran and outcome.",
			otel.TaskDurationBuckets),
		wait: otel.Histogram(m, metricWait,
			"Time tasks waited in the queue: from when a task became due (submitted, or its delay ended) to its first claim by a worker.",
			otel.TaskDurationBuckets),
		reapedC: otel.Counter(m, metricReaped, "{task}",
			"Tasks housekeeping ended as failed: their deadline passed before a worker took them, or their last attempt's worker was lost."),
	}
}

func (in *instruments) opts(name string) *nameOpts {
	in.mu.RLock()
	o, ok := in.names[name]
	in.mu.RUnlock()
	if ok {
		return o
	}
	q := otel.AttrQueueName.String(name)
	o = &nameOpts{queue: otel.AddOpts(q), wait: otel.RecordOpts(q), workers: otel.ObserveOpts(q)}
	for w := range numWhere {
		where := attrWhere.String(whereNames[w])
		for r := range numRunOutcomes {
			out := otel.AttrOutcome.String(runOutcomeNames[r])
			o.runs[w][r] = otel.AddOpts(q, where, out)
			o.runDur[w][r] = otel.RecordOpts(q, where, out)
		}
	}
	for i, s := range stateNames {
		o.states[i] = otel.ObserveOpts(q, attrState.String(s))
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if prev, ok := in.names[name]; ok {
		return prev
	}
	in.names[name] = o
	return o
}

func (in *instruments) submitted(ctx context.Context, name string) {
	in.submittedC.Add(ctx, 1, in.opts(name).queue...)
}

func (in *instruments) ran(ctx context.Context, name string, where int, d time.Duration, r runOutcome) {
	o := in.opts(name)
	in.runs.Add(ctx, 1, o.runs[where][r]...)
	in.duration.Record(ctx, d.Seconds(), o.runDur[where][r]...)
}

// ranLocal records a local run, which has no retries: it succeeded, its
// caller's ctx ended, or it failed.
func (in *instruments) ranLocal(ctx context.Context, name string, d time.Duration, err error) {
	r := runSucceeded
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r = runCanceled
	default:
		r = runFailed
	}
	in.ran(ctx, name, whereLocal, d, r)
}

// finished maps what a worker asked task_finish to record (outcome) and
// what the script answered (status: the task's state after it, or an
// error) to the run's outcome.
func finished(outcome, status string, err error) runOutcome {
	switch {
	case errors.Is(err, ErrLost):
		return runLost
	case err != nil:
		return runError
	}
	switch status {
	case "s":
		return runSucceeded
	case "f":
		return runDead
	case "c":
		return runCanceled
	}
	if outcome == outcomeRelease {
		return runReleased
	}
	return runRetried
}

// waited records the queue wait of a first attempt. The deadline is the
// due time plus the timeout, and the claim reports the time left until it
// on the server's clock, so timeout - left is the wait on one clock, free
// of skew between the submitter's and the worker's. Later attempts are not
// recorded: their deadline still counts from the first due time.
func (in *instruments) waited(ctx context.Context, name string, attempt int, timeout, left time.Duration) {
	if attempt != 1 || timeout <= 0 || left > timeout {
		return
	}
	in.wait.Record(ctx, (timeout - left).Seconds(), in.opts(name).wait...)
}

func (in *instruments) reaped(ctx context.Context, name string, n int) {
	if n > 0 {
		in.reapedC.Add(ctx, int64(n), in.opts(name).queue...)
	}
}

// RegisterMetrics starts reporting the queue's depth through the meter
// provider ([WithMeterProvider]): redisallocator.task.queue.depth by state
// (ready, delayed, running, dead) and redisallocator.task.queue.workers.
// Every collection reads the queue's counts with one read-only script, so
// the states are consistent with each other.
//
// It is opt-in because the depths are the queue's in Redis, the same for
// every process: register in one process (or a few), not in every one.
// Call Unregister on the result when the queue is no longer used: until
// then the meter provider keeps the Queue reachable and reads Redis at
// every collection. A second RegisterMetrics on the same Queue value before
// Unregister returns an error matching [ErrInvalid]. A failed read is
// skipped for that collection, and the error goes to the SDK's error
// handler.
func (q *Queue[P, R]) RegisterMetrics() (metric.Registration, error) {
	in := q.c.inst
	if !in.registered.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: task queue metrics already registered", ErrInvalid)
	}
	depth := otel.ObservedCount(in.meter, metricDepth, "{task}",
		"Tasks by state (ready, delayed, running, dead), read from Redis at each collection.")
	workers := otel.ObservedCount(in.meter, metricWorkers, "{worker}",
		"Live workers listening for the task name, read from Redis at each collection.")
	reg, err := in.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, err := q.c.stats(ctx)
		if err != nil {
			return err
		}
		no := in.opts(q.c.name)
		for i, v := range [4]int{s.Ready, s.Delayed, s.Running, s.Dead} {
			o.ObserveInt64(depth, int64(v), no.states[i]...)
		}
		o.ObserveInt64(workers, int64(s.Workers), no.workers...)
		return nil
	}, depth, workers)
	if err != nil {
		in.registered.Store(false)
		return nil, fmt.Errorf("task: register metrics: %w", err)
	}
	return otel.OnceRegistration(reg, func() { in.registered.Store(false) }), nil
}
