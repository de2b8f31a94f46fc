package pool_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestBatchedCallsTraceEveryCaller runs concurrent mallocs and frees, each
// under its own root span, until some of them were served by one batched
// script, and checks that every caller's trace still holds the script that
// served it: the run's span itself or a follower span linked to it.
func TestBatchedCallsTraceEveryCaller(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		tb := setup(t, b, pool.WithTracerProvider(tp))
		const callers = 24
		keys := make([]string, callers)
		for i := range keys {
			keys[i] = fmt.Sprintf("m%02d", i)
		}
		tb.extend(t, keys...)
		tr := tp.Tracer("test")
		for round := 0; ; round++ {
			if round == 50 {
				t.Fatal("no malloc and free batch in 50 rounds of concurrent calls")
			}
			sr.Reset()
			var wg sync.WaitGroup
			start := make(chan struct{})
			spans := make([]trace.SpanContext, callers)
			errs := make([]error, callers)
			for i := range callers {
				wg.Go(func() {
					ctx, span := tr.Start(context.Background(), "caller")
					defer span.End()
					spans[i] = span.SpanContext()
					ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					<-start
					a, err := tb.p.Malloc(ctx, pool.LeaseTTL(time.Minute))
					if err == nil {
						err = a.Release(ctx)
					}
					errs[i] = err
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			// Per caller span: the script spans in its trace, by name.
			under := map[trace.SpanID]map[string]int{}
			batched := map[string]bool{}
			for _, s := range sr.Ended() {
				if s.Name() == "caller" {
					continue
				}
				if under[s.Parent().SpanID()] == nil {
					under[s.Parent().SpanID()] = map[string]int{}
				}
				under[s.Parent().SpanID()][s.Name()]++
				for _, kv := range s.Attributes() {
					if kv.Key == "db.operation.batch.size" && kv.Value.AsInt64() > 1 {
						batched[s.Name()] = true
					}
				}
			}
			for i, sc := range spans {
				got := under[sc.SpanID()]
				// The cheap scripts serve these (nothing is due, nobody
				// waits), and decline nothing.
				if got["EVALSHA pool_malloc_fast"] != 1 || got["EVALSHA pool_free_fast"] != 1 || len(got) != 2 {
					t.Fatalf("round %d: caller %d's trace holds %v, want one pool_malloc_fast and one pool_free_fast", round, i, got)
				}
			}
			if batched["EVALSHA pool_malloc_fast"] && batched["EVALSHA pool_free_fast"] {
				return
			}
		}
	})
}
