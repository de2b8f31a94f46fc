package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// The demo's task queue: callers ask for pages to be fetched and wait for
// the result; queue workers run each fetch through a proxy checked out of
// the pool, so tasks and the pool's other users share the proxies.

type fetchJob struct {
	URL string `json:"url"`
}

type fetchResult struct {
	Proxy string `json:"proxy"`
	Fence int64  `json:"fence"`
}

// queueStats are the queue's counters for the summary.
type queueStats struct {
	done   atomic.Int64 // tasks whose caller got a result
	failed atomic.Int64 // tasks that ended in an error the demo did not expect
}

// queueLoop runs two queue workers and one caller until ctx ends.
func (d *demo) queueLoop(ctx context.Context) {
	handler := func(ctx context.Context, t *task.Task[fetchJob]) (fetchResult, error) {
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		a, err := d.pool.Malloc(mctx, pool.Wait(), pool.LeaseTTL(d.o.leaseTTL))
		if err != nil {
			return fetchResult{}, err
		}
		defer func() { _ = a.Release(context.WithoutCancel(ctx)) }()
		d.allocs.Add(1)
		if err := d.use(ctx, a); err != nil {
			return fetchResult{}, fmt.Errorf("fetch %s via %s: %w", t.Params.URL, a.Key, err)
		}
		return fetchResult{Proxy: a.Key, Fence: a.Fence()}, nil
	}
	worker, err := task.New[fetchJob, fetchResult](d.client, d.prefix, "fetch", task.WithCodec(codec.JSON),
		task.WithTracerProvider(d.o.tel.traces()), task.WithMeterProvider(d.o.tel.metrics()))
	if err != nil {
		d.errs.Add(1)
		d.event("queue: %v", err)
		return
	}
	caller, err := task.New[fetchJob, fetchResult](d.client, d.prefix, "fetch", task.WithCodec(codec.JSON),
		task.WithTracerProvider(d.o.tel.traces()), task.WithMeterProvider(d.o.tel.metrics()))
	if err != nil {
		d.errs.Add(1)
		d.event("queue: %v", err)
		return
	}
	if d.o.tel != nil {
		// With --otlp, also export the queue's depth by state.
		if reg, err := caller.RegisterMetrics(); err == nil {
			defer func() { _ = reg.Unregister() }()
		} else {
			d.event("metrics: %v", err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := worker.Run(ctx, task.Handler[fetchJob, fetchResult](handler), task.Workers(2), task.Grace(5*time.Second)); err != nil && ctx.Err() == nil {
			d.errs.Add(1)
			d.event("queue: run: %v", err)
		}
	})
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("fetch-%d", i)
		_, err := caller.Query(ctx, id, fetchJob{URL: fmt.Sprintf("https://example.test/page/%d", i)},
			task.Remote(), task.Timeout(10*time.Second))
		switch {
		case err == nil:
			d.queue.done.Add(1)
		case ctx.Err() != nil || endingSoon(ctx):
			// The run is ending: the caller's wait ran into its deadline.
		default:
			var he *task.HandlerError
			if errors.As(err, &he) && strings.Contains(he.Message, errDown.Error()) {
				continue // the bad proxy failed the fetch: expected in its outages
			}
			d.queue.failed.Add(1)
			d.event("queue: %s: %v", id, err)
		}
	}
	wg.Wait()
}

// endingSoon reports whether ctx's deadline is (nearly) here: a wait cut by
// it can report its timeout a moment before ctx.Err is set.
func endingSoon(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < 100*time.Millisecond
}
