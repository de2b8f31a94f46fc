package task_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

func TestRetriesDeadLetterAndRequeue(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		wh, _ := tb.worker(t, "worker", "work")
		wh.failing.Store(true)

		// A flaky task succeeds on its second attempt.
		h, err := tb.q.Submit(tb.ctx, "flaky", job{N: 1, Mode: modeFlaky})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := h.Wait(tb.ctx); err != nil || r.N != 2 {
			t.Fatalf("flaky: %+v, %v", r, err)
		}
		if in, _ := task.HandleInfo(tb.ctx, h); in.Attempt != 2 || in.ErrorKind != "" {
			t.Errorf("flaky info %+v", in)
		}

		// A failing task uses up its attempts and lands in the dead-letter
		// set with its last error.
		h, err = tb.q.Submit(tb.ctx, "doomed", job{N: 2, Mode: modeFailWhile}, task.MaxAttempts(3))
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Wait(tb.ctx)
		var he *task.HandlerError
		if !errors.As(err, &he) || he.Attempt != 3 || he.Message != "still failing" || he.Kind != "error" {
			t.Fatalf("doomed: %v (%+v)", err, he)
		}
		if n := wh.count("doomed"); n != 3 {
			t.Errorf("ran %d times, want 3", n)
		}

		// ErrSkipRetry fails at once.
		h2, err := tb.q.Submit(tb.ctx, "hopeless", job{N: 3, Mode: modeSkip}, task.MaxAttempts(5))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h2.Wait(tb.ctx); !errors.Is(err, task.ErrHandler) || !errors.As(err, &he) || he.Attempt != 1 {
			t.Fatalf("hopeless: %v", err)
		}

		dead, err := tb.insp("work").DeadLetters(tb.ctx, 0, 10)
		if err != nil || len(dead) != 2 {
			t.Fatalf("dead letters: %+v, %v", dead, err)
		}
		if dead[0].ID != "doomed" || dead[0].Status != task.StatusFailed || dead[0].ErrorMessage != "still failing" ||
			dead[0].Attempt != 3 || dead[1].ID != "hopeless" {
			t.Errorf("dead letters %+v", dead)
		}
		if page, _ := tb.insp("work").DeadLetters(tb.ctx, 1, 10); len(page) != 1 || page[0].ID != "hopeless" {
			t.Errorf("second page %+v", page)
		}

		// Requeue: the cause is fixed, the task runs again with fresh
		// attempts and succeeds.
		wh.failing.Store(false)
		n, err := tb.insp("work").Requeue(tb.ctx, "doomed", "no-such-task", "flaky")
		if err != nil || n != 1 {
			t.Fatalf("Requeue = %d, %v; want 1", n, err)
		}
		if r, err := h.Wait(tb.ctx); err != nil || r.N != 4 {
			t.Fatalf("requeued: %+v, %v", r, err)
		}
		if in, _ := task.HandleInfo(tb.ctx, h); in.Attempt != 1 || in.Status != task.StatusSucceeded {
			t.Errorf("requeued info %+v", in)
		}
		if st, _ := tb.insp("work").Stats(tb.ctx); st.Dead != 1 {
			t.Errorf("stats after requeue %+v", st)
		}
	})
}

func TestDelay(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		// A zero housekeeping budget means the default: with none, no
		// delayed task would ever become ready.
		tb := setup(t, b, task.WithHousekeeping(0))
		tb.worker(t, "worker", "work")
		start := time.Now()
		h, err := tb.q.Submit(tb.ctx, "later", job{N: 1}, task.Delay(400*time.Millisecond), task.Timeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		h2, err := tb.q.Submit(tb.ctx, "at", job{N: 2}, task.Delay(time.Until(time.Now().Add(400*time.Millisecond))))
		if err != nil {
			t.Fatal(err)
		}
		// A negative delay (a moment in the past) means now.
		past, err := tb.q.Submit(tb.ctx, "past", job{N: 3}, task.Delay(-time.Hour))
		if err != nil {
			t.Fatalf("Delay(-1h): %v, want due now", err)
		}
		if _, err := past.Wait(tb.ctx); err != nil {
			t.Fatal(err)
		}
		// Both are still delayed, unless this machine took most of the
		// delay to get here (then the check says nothing).
		if st, _ := tb.insp("work").Stats(tb.ctx); st.Delayed != 2 && time.Since(start) < 300*time.Millisecond {
			t.Errorf("stats %+v, want 2 delayed", st)
		}
		for _, h := range []*task.Handle[*res]{h, h2} {
			if _, err := h.Wait(tb.ctx); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 390*time.Millisecond {
				t.Errorf("a task delayed 400ms finished after %v", d)
			}
		}
		in, _ := task.HandleInfo(tb.ctx, h)
		if d := in.Started.Sub(in.Created); d < 390*time.Millisecond || d > 5*time.Second {
			t.Errorf("started %v after creation", d)
		}
		if want := in.Created.Add(5400 * time.Millisecond); !in.Deadline.Equal(want) {
			t.Errorf("deadline %v, want creation + delay + timeout = %v", in.Deadline, want)
		}
	})
}

func TestPriority(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		prios := []int{0, 5, -3, 5, 10, task.MinPriority, task.MaxPriority}
		var hs []*task.Handle[*res]
		for i, p := range prios {
			h, err := tb.q.Submit(tb.ctx, "p"+strconv.Itoa(i), job{N: i}, task.Priority(p))
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		wh := newHandler("worker")
		wh.start = make(chan string, len(prios))
		q, err := task.New[job, *res](secondClient(t, b), b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		listen(t, q, wh.Handle, task.Workers(1))
		for _, h := range hs {
			if _, err := h.Wait(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
		close(wh.start)
		var order []string
		for id := range wh.start {
			order = append(order, id)
		}
		// Highest first; equal priorities in submission order.
		want := []string{"p6", "p4", "p1", "p3", "p0", "p2", "p5"}
		if !slices.Equal(order, want) {
			t.Errorf("order %q, want %q", order, want)
		}
	})
}

func TestDedupByID(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		wh := newHandler("worker")
		wh.gate = make(chan struct{})
		q, err := task.New[job, *res](secondClient(t, b), b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		listen(t, q, wh.Handle)
		h1, err := tb.q.Submit(tb.ctx, "same", job{N: 1, Mode: modeProgress})
		if err != nil || h1.Joined() {
			t.Fatalf("first Submit: joined %v, %v", h1.Joined(), err)
		}
		// While it runs, a second submission (other params) and a Query
		// join it.
		wh.gate <- struct{}{}
		if _, err := h1.Progress(tb.ctx, 0); err != nil {
			t.Fatal(err)
		}
		h2, err := tb.q.Submit(tb.ctx, "same", job{N: 100})
		if err != nil || !h2.Joined() {
			t.Fatalf("second Submit: joined %v, %v", h2.Joined(), err)
		}
		qr := make(chan *res, 1)
		go func() {
			r, err := tb.q.Query(tb.ctx, "same", job{N: 200}, task.Remote())
			if err != nil {
				t.Errorf("joining Query: %v", err)
			}
			qr <- r
		}()
		time.Sleep(50 * time.Millisecond)
		wh.gate <- struct{}{}
		wh.gate <- struct{}{}
		for _, h := range []*task.Handle[*res]{h1, h2} {
			if r, err := h.Wait(tb.ctx); err != nil || r.N != 2 {
				t.Fatalf("Wait: %+v, %v", r, err)
			}
		}
		if r := <-qr; r == nil || r.N != 2 {
			t.Errorf("Query result %+v", r)
		}
		if n := wh.count("same"); n != 1 {
			t.Errorf("ran %d times, want 1", n)
		}
		// A finished id runs again when submitted again.
		h3, err := tb.q.Submit(tb.ctx, "same", job{N: 3})
		if err != nil || h3.Joined() {
			t.Fatalf("resubmit: joined %v, %v", h3.Joined(), err)
		}
		if r, err := h3.Wait(tb.ctx); err != nil || r.N != 6 {
			t.Fatalf("resubmitted: %+v, %v", r, err)
		}
	})
}

// TestResubmitExpiredPending: an id whose earlier submission passed its
// deadline before any worker took it is queued afresh, not joined (joining
// would give the new caller the dead task's deadline and no run at all).
func TestResubmitExpiredPending(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		h1, err := tb.on("nobody").Submit(tb.ctx, "late", job{N: 1}, task.Timeout(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h1.Wait(tb.ctx); !errors.Is(err, task.ErrTimeout) {
			t.Fatalf("no worker: %v, want ErrTimeout", err)
		}
		h2, err := tb.on("nobody").Submit(tb.ctx, "late", job{N: 2}, task.Timeout(time.Minute))
		if err != nil || h2.Joined() {
			t.Fatalf("resubmit: joined %v, %v", h2.Joined(), err)
		}
		if left := time.Until(task.HandleDeadline(h2)); left < 50*time.Second {
			t.Fatalf("resubmitted task's deadline is in %v, want about a minute", left)
		}
		tb.worker(t, "worker", "nobody")
		if r, err := h2.Wait(tb.ctx); err != nil || r.N != 4 {
			t.Fatalf("resubmitted: %+v, %v", r, err)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		// Pending: canceled at once, never runs.
		h, err := tb.q.Submit(tb.ctx, "pending", job{N: 1})
		if err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() {
			_, err := h.Wait(tb.ctx)
			waited <- err
		}()
		time.Sleep(50 * time.Millisecond) // let Wait block
		if err := h.Cancel(tb.ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-waited:
			checkOutcome(t, err, task.ErrCanceled)
		case <-time.After(time.Second):
			t.Fatal("canceling did not wake the waiter")
		}
		wh, _ := tb.worker(t, "worker", "work")

		// Running: the handler's ctx is cancelled with cause ErrCanceled.
		wh.start = make(chan string, 1)
		h2, err := tb.q.Submit(tb.ctx, "running", job{Mode: modeBlock})
		if err != nil {
			t.Fatal(err)
		}
		<-wh.start
		if err := h2.Cancel(tb.ctx); err != nil {
			t.Fatal(err)
		}
		_, err = h2.Wait(tb.ctx)
		checkOutcome(t, err, task.ErrCanceled)
		in, _ := task.HandleInfo(tb.ctx, h2)
		if in.Status != task.StatusCanceled || !in.CancelRequested {
			t.Errorf("info %+v", in)
		}
		if n := wh.count("pending"); n != 0 {
			t.Errorf("canceled pending task ran %d times", n)
		}
		wh.start = nil

		if err := h2.Cancel(tb.ctx); err != nil {
			t.Errorf("second Cancel: %v", err)
		}
		h3, _ := tb.q.Submit(tb.ctx, "done", job{N: 1})
		if _, err := h3.Wait(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if err := h3.Cancel(tb.ctx); !errors.Is(err, task.ErrFinished) {
			t.Errorf("Cancel of a finished task: %v", err)
		}
		h4, _ := tb.q.Handle("nope")
		if err := h4.Cancel(tb.ctx); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Cancel of no task: %v", err)
		}
	})
}

// The caller's ctx ends the wait, not the task.
func TestCallerGivesUp(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, cancel := context.WithTimeout(tb.ctx, 200*time.Millisecond)
		defer cancel()
		_, err := tb.q.Query(ctx, "abandoned", job{N: 1}, task.Remote())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Query: %v", err)
		}
		checkOutcome(t, err, task.ErrTimeout)
		ctx, cancel = context.WithCancel(tb.ctx)
		go func() {
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		_, err = tb.q.Query(ctx, "abandoned2", job{N: 1}, task.Remote())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Query: %v", err)
		}
		checkOutcome(t, err, task.ErrCanceled)
		tb.worker(t, "worker", "work")
		h, _ := tb.q.Handle("abandoned")
		if r, err := h.Wait(tb.ctx); err != nil || r.N != 2 {
			t.Errorf("the abandoned task: %+v, %v", r, err)
		}
	})
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		// Within the grace period the running task finishes.
		wh := newHandler("A")
		wh.start = make(chan string, 1)
		q, err := task.New[job, *res](secondClient(t, b), b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		stop := listen(t, q, wh.Handle, task.Grace(10*time.Second))
		h, _ := tb.q.Submit(tb.ctx, "finishes", job{N: 1, Mode: modeSleep, Sleep: 300 * time.Millisecond})
		<-wh.start
		wh.start = nil
		start := time.Now()
		stop()
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("Listen returned after %v, before its task finished", d)
		}
		if r, err := h.Wait(tb.ctx); err != nil || r.Worker != "A" {
			t.Fatalf("Wait: %+v, %v", r, err)
		}
		if st, _ := tb.insp("work").Stats(tb.ctx); st.Workers != 0 || st.Running != 0 {
			t.Errorf("after shutdown: %+v", st)
		}

		// After the grace period the handler is cancelled with a cause
		// matching ErrLost that says why, and its task goes back, attempt
		// not counted.
		wh = newHandler("B")
		wh.start = make(chan string, 1)
		causes := make(chan error, 1)
		q, _ = task.New[job, *res](secondClient(t, b), b.Prefix, "work")
		stop = listen(t, q, func(ctx context.Context, tk *task.Task[job]) (*res, error) {
			r, err := wh.Handle(ctx, tk)
			causes <- context.Cause(ctx)
			return r, err
		}, task.Grace(100*time.Millisecond))
		h, _ = tb.q.Submit(tb.ctx, "released", job{N: 2, StallOn: "B"}, task.MaxAttempts(1))
		<-wh.start
		stop()
		if cause := <-causes; !errors.Is(cause, task.ErrLost) || !strings.Contains(fmt.Sprint(cause), "shutting down") {
			t.Errorf("handler's ctx cause after the grace period: %v, want ErrLost, worker shutting down", cause)
		}
		in, err := task.HandleInfo(tb.ctx, h)
		if err != nil || in.Status != task.StatusPending || in.Attempt != 0 {
			t.Fatalf("released task: %+v, %v", in, err)
		}
		tb.worker(t, "C", "work")
		if r, err := h.Wait(tb.ctx); err != nil || r.Worker != "C" {
			t.Fatalf("Wait: %+v, %v", r, err)
		}
	})
}

// The heartbeat ticks while every handler is busy, so Auto keeps sending
// tasks to a busy worker; once the worker leaves, Auto runs locally.
func TestAutoSeesBusyWorker(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		wh := newHandler("worker")
		wh.start = make(chan string, 2)
		q, _ := task.New[job, *res](secondClient(t, b), b.Prefix, "work")
		stop := listen(t, q, wh.Handle, task.Workers(1))
		h, _ := tb.q.Submit(tb.ctx, "busy", job{Mode: modeSleep, Sleep: 800 * time.Millisecond})
		<-wh.start
		time.Sleep(500 * time.Millisecond) // ten heartbeats, twice the registration's TTL
		r, err := tb.q.Query(tb.ctx, "auto", job{N: 1})
		if err != nil || r.Worker != "worker" {
			t.Fatalf("Auto while the worker is busy: %+v, %v", r, err)
		}
		if _, err := h.Wait(tb.ctx); err != nil {
			t.Fatal(err)
		}
		wh.start = nil
		stop()
		r, err = tb.q.Query(tb.ctx, "auto2", job{N: 1})
		if err != nil || r.Worker != "main" {
			t.Fatalf("Auto without a worker: %+v, %v", r, err)
		}
	})
}
