package task_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestCallsEndingEarlyRunNothing: every call of the task package with a
// nil ctx returns an ErrInvalid error (no panic), and with an
// already-cancelled ctx the ctx's error; neither runs a script: nothing
// is queued, canceled or requeued (every key's DUMP is unchanged).
func TestCallsEndingEarlyRunNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		q, err := task.New[job, *res](b.Client, b.Prefix, "early")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		pending, err := q.Submit(ctx, "p1", job{}, task.NoWait(), task.Timeout(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		in := inspectorOf(t, q)
		h := task.Handler[job, *res](func(context.Context, *task.Task[job]) (*res, error) { return &res{}, nil })
		err2 := func(_ any, err error) error { return err }
		redisxtest.EndsEarly(t, b, task.ErrInvalid, map[string]func(ctx context.Context) error{
			"Submit":       func(ctx context.Context) error { return err2(q.Submit(ctx, "n1", job{}, task.NoWait())) },
			"SubmitWait":   func(ctx context.Context) error { return err2(q.Submit(ctx, "n2", job{})) },
			"Query":        func(ctx context.Context) error { return err2(q.Query(ctx, "n3", job{}, task.Remote())) },
			"QueryAuto":    func(ctx context.Context) error { return err2(q.Query(ctx, "n4", job{})) },
			"Wait":         func(ctx context.Context) error { return err2(pending.Wait(ctx)) },
			"Progress":     func(ctx context.Context) error { return err2(pending.Progress(ctx, -1)) },
			"ProgressWait": func(ctx context.Context) error { return err2(pending.Progress(ctx, 0)) },
			"Cancel":       func(ctx context.Context) error { return pending.Cancel(ctx) },
			"Stats":        func(ctx context.Context) error { return err2(in.Stats(ctx)) },
			"Info":         func(ctx context.Context) error { return err2(in.Info(ctx, "p1")) },
			"DeadLetters":  func(ctx context.Context) error { return err2(in.DeadLetters(ctx, 0, 10)) },
			"Requeue":      func(ctx context.Context) error { return err2(in.Requeue(ctx, "p1")) },
			"Run": func(ctx context.Context) error {
				// Run returns nil when its ctx ends (documented): with one
				// ended from the start, that must be at once, having
				// written nothing.
				if err := q.Run(ctx, h); err != nil || ctx == nil {
					return err
				}
				return ctx.Err()
			},
		})
	})
}
