package pool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// batcher merges concurrent calls into one script run, the way rueidis
// pipelines concurrent commands: a call that finds no run in flight starts
// one; calls that arrive meanwhile wait and go together in the next run.
// One goroutine runs the batches, detached from the callers' contexts: a
// caller whose ctx ends gets ctx's error at once, and abandon undoes what
// the run did for it (a malloc's lease is freed).
type batcher[Req, Res any] struct {
	max     int
	run     func(ctx context.Context, reqs []Req) ([]Res, error)
	abandon func(Res)

	mu      sync.Mutex
	pending []*batchCall[Req, Res]
	busy    bool
}

type batchCall[Req, Res any] struct {
	req   Req
	res   Res
	err   error
	done  chan struct{}
	state atomic.Int32      // callWaiting, callDone or callAbandoned
	span  trace.SpanContext // the caller's span, parent of the run's span
}

const (
	callWaiting int32 = iota
	callDone
	callAbandoned
)

// batchTimeout bounds one detached batch run.
const batchTimeout = 10 * time.Second

func (b *batcher[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	c := &batchCall[Req, Res]{req: req, done: make(chan struct{}), span: trace.SpanContextFromContext(ctx)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	lead := !b.busy
	b.busy = true
	b.mu.Unlock()
	if lead {
		go b.loop()
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		if c.state.CompareAndSwap(callWaiting, callAbandoned) {
			var zero Res
			return zero, ctx.Err()
		}
		<-c.done // delivered just now
		return c.res, c.err
	}
}

func (b *batcher[Req, Res]) loop() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.max)
		if n == 0 {
			b.busy = false
			b.mu.Unlock()
			return
		}
		calls := b.pending[:n:n]
		b.pending = append([]*batchCall[Req, Res](nil), b.pending[n:]...)
		b.mu.Unlock()
		reqs := make([]Req, n)
		for i, c := range calls {
			reqs[i] = c.req
		}
		// The run's span joins the first caller's trace, so a lone call
		// (the usual case) traces as if it ran the script itself; in a
		// batch the other callers' traces get spans linked to it.
		ctx := trace.ContextWithSpanContext(context.Background(), calls[0].span)
		if n > 1 {
			ctx = batchContext(calls)
		}
		ctx, cancel := context.WithTimeout(ctx, batchTimeout)
		res, err := b.run(ctx, reqs)
		cancel()
		for i, c := range calls {
			if err == nil {
				c.res = res[i]
			}
			c.err = err
			if c.state.CompareAndSwap(callWaiting, callDone) {
				close(c.done)
			} else if err == nil && b.abandon != nil {
				b.abandon(c.res)
			}
		}
	}
}

// batchContext is the context of a run for several calls: its span's
// parent is the first sampled caller's (else the first traced one's), so
// an unsampled first caller does not drop the run's span, and the other
// callers go with it (redisx.WithBatch). Without any traced caller (no
// tracing at all) it allocates nothing for tracing.
func batchContext[Req, Res any](calls []*batchCall[Req, Res]) context.Context {
	lead := -1
	for i, c := range calls {
		if c.span.IsSampled() {
			lead = i
			break
		}
		if lead < 0 && c.span.IsValid() {
			lead = i
		}
	}
	if lead < 0 {
		return context.Background()
	}
	spans := make([]trace.SpanContext, 0, len(calls))
	spans = append(spans, calls[lead].span)
	for i, c := range calls {
		if i != lead {
			spans = append(spans, c.span)
		}
	}
	return redisx.WithBatch(trace.ContextWithSpanContext(context.Background(), spans[0]), spans)
}
