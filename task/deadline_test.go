package task_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// TestOutcomeFinalAtDeadline: a handler that ignores its ctx and returns
// a result after the task's deadline is not recorded as a success. The
// Query caller got ErrTimeout at the deadline; a later Wait on the same
// task and Info agree: it timed out (failed, kind timeout).
func TestOutcomeFinalAtDeadline(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		q, err := task.New[job, *res](b.Client, b.Prefix, "late")
		if err != nil {
			t.Fatal(err)
		}
		const timeout = 300 * time.Millisecond
		returned := make(chan struct{})
		h := task.Handler[job, *res](func(_ context.Context, tk *task.Task[job]) (*res, error) {
			defer close(returned)
			time.Sleep(time.Until(tk.Deadline) + 200*time.Millisecond) // deaf to ctx
			return &res{N: 1}, nil
		})
		stop := listen(t, q, h)
		defer stop()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if _, err := q.Query(ctx, "t1", job{}, task.Remote(), task.Timeout(timeout)); !errors.Is(err, task.ErrTimeout) {
			t.Fatalf("Query = %v, want ErrTimeout", err)
		}
		select {
		case <-returned:
		case <-ctx.Done():
			t.Fatal("the handler never returned")
		}
		in := inspectorOf(t, q)
		var info task.Info
		redisallocatortest.WaitFor(t, 10*time.Second, func() bool {
			info, err = in.Info(ctx, "t1")
			return err == nil && info.Status != task.StatusRunning
		})
		if info.Status != task.StatusFailed || info.ErrorKind != "timeout" {
			t.Fatalf("after the deadline the task was recorded %s (%s: %s), want failed with kind timeout", info.Status, info.ErrorKind, info.ErrorMessage)
		}
		hd, err := q.Handle("t1")
		if err != nil {
			t.Fatal(err)
		}
		if r, err := hd.Wait(ctx); !errors.Is(err, task.ErrTimeout) {
			t.Fatalf("a later Wait = %v, %v; want ErrTimeout as the Query caller got", r, err)
		}
	})
}
