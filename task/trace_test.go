package task_test

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// One trace shows submit, claim, run and result: the worker's spans are
// children of the submitter's.
func TestTraceTravelsWithTheTask(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
		tb := setup(t, b, task.WithTracerProvider(tp))
		wq, err := task.New[job, *res](secondClient(t, b), b.Prefix, "work",
			task.WithTracerProvider(tp))
		if err != nil {
			t.Fatal(err)
		}
		listen(t, wq, newHandler("worker").Handle)
		if _, err := tb.q.Query(tb.ctx, "traced", job{N: 1}, task.Remote()); err != nil {
			t.Fatal(err)
		}
		// The worker ends its spans just after the caller has the result.
		byName := map[string]sdktrace.ReadOnlySpan{}
		waitFor(t, "the worker's spans", func() bool {
			for _, s := range sr.Ended() {
				byName[s.Name()] = s
			}
			return byName["task.run"] != nil
		})
		finish := byName["EVALSHA task_finish"]
		query, submit, claim, run := byName["task.query"], byName["task.submit"], byName["task.claim"], byName["task.run"]
		if query == nil || submit == nil || claim == nil || run == nil || finish == nil {
			t.Fatalf("missing spans: %v", byName)
		}
		tid := query.SpanContext().TraceID()
		for _, s := range []sdktrace.ReadOnlySpan{submit, claim, run, finish, byName["task.wait"]} {
			if s.SpanContext().TraceID() != tid {
				t.Errorf("span %s is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), tid)
			}
		}
		if run.Parent().SpanID() != submit.SpanContext().SpanID() || !run.Parent().IsRemote() {
			t.Errorf("task.run's parent %v, want the remote task.submit span %v", run.Parent(), submit.SpanContext())
		}
		if finish.Parent().SpanID() != run.SpanContext().SpanID() {
			t.Errorf("the result is recorded outside task.run")
		}
		if run.SpanKind() != trace.SpanKindConsumer || submit.SpanKind() != trace.SpanKindProducer {
			t.Errorf("kinds: run %v submit %v", run.SpanKind(), submit.SpanKind())
		}
	})
}
