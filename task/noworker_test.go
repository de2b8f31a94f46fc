package task_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestTimeoutNamesMissingWorker: a task that times out while no live
// worker listens on its queue says so (ErrNoWorker, with the queue's name
// in the message), through Wait and through a remote Query, whether the
// task's deadline or the caller's ctx ended the wait. With a live worker
// that is merely slow, the timeout does not claim there is none.
func TestTimeoutNamesMissingWorker(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		check := func(t *testing.T, err error, noWorker bool) {
			t.Helper()
			checkOutcome(t, err, task.ErrTimeout)
			if got := errors.Is(err, task.ErrNoWorker); got != noWorker {
				t.Errorf("errors.Is(%v, ErrNoWorker) = %v, want %v", err, got, noWorker)
			}
			if got := strings.Contains(err.Error(), "no live worker on the queue idle"); got != noWorker {
				t.Errorf("message %q names a missing worker: %v, want %v", err, got, noWorker)
			}
		}
		idle := tb.on("idle")
		t.Run("WaitDeadline", func(t *testing.T) {
			h, err := idle.Submit(tb.ctx, "w1", job{N: 1}, task.Timeout(200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Wait(tb.ctx)
			check(t, err, true)
		})
		t.Run("WaitCtx", func(t *testing.T) {
			h, err := idle.Submit(tb.ctx, "w2", job{N: 1}, task.Timeout(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(tb.ctx, 200*time.Millisecond)
			defer cancel()
			_, err = h.Wait(ctx)
			check(t, err, true)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v does not match context.DeadlineExceeded", err)
			}
		})
		t.Run("QueryRemote", func(t *testing.T) {
			_, err := idle.Query(tb.ctx, "q1", job{N: 1}, task.Remote(), task.Timeout(200*time.Millisecond))
			check(t, err, true)
		})
		t.Run("SlowWorker", func(t *testing.T) {
			tb.worker(t, "worker", "work", fast()...)
			h, err := tb.q.Submit(tb.ctx, "s1", job{Mode: modeBlock}, task.Timeout(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Wait(tb.ctx)
			checkOutcome(t, err, task.ErrTimeout)
			if errors.Is(err, task.ErrNoWorker) || strings.Contains(err.Error(), "no live worker") {
				t.Errorf("a live worker's timeout blames a missing worker: %v", err)
			}
		})
	})
}
