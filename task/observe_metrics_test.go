package task

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The trace field carries the task's timeout after the span context, and
// records written before it did still read.
func TestTraceFieldCarriesTimeout(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	ts, _ := trace.ParseTraceState("k=v")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	const tp = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"

	tests := []struct {
		name    string
		field   string
		timeout time.Duration
		state   string
		remote  bool
	}{
		{name: "New", field: injectTrace(traced, "1500", ""), timeout: 1500 * time.Millisecond, state: "k=v", remote: true},
		{name: "NewUntraced", field: injectTrace(context.Background(), "20", ""), timeout: 20 * time.Millisecond},
		{name: "OldEmpty", field: ""},
		{name: "OldParentOnly", field: tp, remote: true},
		{name: "OldParentAndState", field: tp + "\nk=v", state: "k=v", remote: true},
		{name: "UnknownKeys", field: tp + "\n\nfuture=1\n" + timeoutKey + "7", timeout: 7 * time.Millisecond, remote: true},
		{name: "BadTimeout", field: "\n\n" + timeoutKey + "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, timeout := extractTrace(context.Background(), tt.field)
			if timeout != tt.timeout {
				t.Errorf("timeout %v, want %v", timeout, tt.timeout)
			}
			got := trace.SpanContextFromContext(ctx)
			if got.IsRemote() != tt.remote {
				t.Fatalf("remote span context %v, want %v", got.IsRemote(), tt.remote)
			}
			if tt.remote && (got.TraceID() != tid || got.SpanID() != sid) {
				t.Errorf("span context %v", got)
			}
			if got.TraceState().String() != tt.state {
				t.Errorf("tracestate %q, want %q", got.TraceState().String(), tt.state)
			}
		})
	}
}

// A record written with the timeout line still gives a reader that knows
// only traceparent and tracestate (the code before it) the parent span.
func TestTraceFieldOldReader(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	ts, _ := trace.ParseTraceState("k=v")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	field := injectTrace(trace.ContextWithSpanContext(context.Background(), sc), "1000", "")
	// The old extractTrace: traceparent, then everything after the first
	// newline as tracestate.
	tp, rest, _ := strings.Cut(field, "\n")
	carrier := propagation.MapCarrier{"traceparent": tp, "tracestate": rest}
	got := trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier))
	if got.TraceID() != tid || got.SpanID() != sid {
		t.Fatalf("old reader lost the parent: %v", got)
	}
}
