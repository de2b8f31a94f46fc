package task_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// The tests in this file turn the reference's failure table (§5.7) into
// the fixed behaviour.

// Reference: a task that calls update() never has its result saved, so the
// remote caller times out. Here progress is readable while the task runs,
// wakes waiters, and the result follows.
func TestProgressThenResult(t *testing.T) {
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
		h, err := tb.q.Submit(tb.ctx, "p1", job{N: 7, Mode: modeProgress})
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Progress(tb.ctx, -1)
		if err != nil || p.Seq != 0 {
			t.Fatalf("progress before any update: %+v, %v", p, err)
		}
		var seen int64
		for i := 1; i <= 3; i++ {
			wh.gate <- struct{}{}
			p, err := h.Progress(tb.ctx, seen)
			if err != nil {
				t.Fatalf("Progress(%d): %v", seen, err)
			}
			// The update was recorded before the gate could open again.
			// After the last update the task may have finished already.
			running := p.Status == task.StatusRunning || (i == 3 && p.Status == task.StatusSucceeded)
			if p.Seq != int64(i) || p.Current != float64(i) || p.Total != 3 || !running {
				t.Fatalf("progress %d: %+v", i, p)
			}
			if p.Current/p.Total != float64(i)/3 || p.Updated.IsZero() {
				t.Errorf("progress %v/%v updated %v", p.Current, p.Total, p.Updated)
			}
			seen = p.Seq
		}
		r, err := h.Wait(tb.ctx)
		if err != nil || r == nil || r.N != 14 {
			t.Fatalf("Wait after progress: %+v, %v", r, err)
		}
		p, err = h.Progress(tb.ctx, seen)
		if err != nil || p.Status != task.StatusSucceeded || p.Seq != 3 {
			t.Errorf("progress after the end: %+v, %v", p, err)
		}
	})
}

// Reference: a task returning none is never seen as complete. Here the
// status marks completion, whatever the result.
func TestNilResultCompletes(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.worker(t, "worker", "work")
		start := time.Now()
		h, err := tb.q.Submit(tb.ctx, "nil", job{Mode: modeNil}, task.Timeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r, err := h.Wait(tb.ctx)
		if err != nil || r != nil {
			t.Fatalf("Wait: %+v, %v", r, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a nil result took %v", d)
		}
		in, err := task.HandleInfo(tb.ctx, h)
		if err != nil || in.Status != task.StatusSucceeded || in.Attempt != 1 || in.Finished.IsZero() {
			t.Errorf("info %+v, %v", in, err)
		}
	})
}

// Reference: a worker that dies after popping a task loses it and the
// caller times out. Here the lease lapses (or the worker's heartbeat is
// missed) and another worker completes the task, once.
func TestWorkerKilledAfterClaim(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		// Worker A claims the task and stalls; then its process "dies": its
		// client closes, so it can neither renew nor finish.
		aClient := secondClient(t, b)
		ah := newHandler("A")
		ah.start = make(chan string, 1)
		aq, err := task.New[job, *res](aClient, b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		stopA := listen(t, aq, ah.Handle, task.Grace(50*time.Millisecond))
		h, err := tb.q.Submit(tb.ctx, "k1", job{N: 5, StallOn: "A"}, task.MaxAttempts(2))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ah.start:
		case <-tb.ctx.Done():
			t.Fatal("worker A never started the task")
		}
		aClient.Close()
		// Stop A only at the end, as in TestWorkerLostOnLastAttempt: a
		// graceful stop could still release the task, which a crash does not.
		defer stopA()
		if in, err := task.HandleInfo(tb.ctx, h); err != nil || in.Status != task.StatusRunning || in.Attempt != 1 {
			t.Fatalf("after the crash: %+v, %v", in, err)
		}
		// Worker B takes over once A's heartbeat is missed.
		bh, _ := tb.worker(t, "B", "work")
		r, err := h.Wait(tb.ctx)
		if err != nil || r == nil || r.Worker != "B" || r.N != 10 {
			t.Fatalf("Wait: %+v, %v", r, err)
		}
		if n := bh.count("k1"); n != 1 {
			t.Errorf("worker B ran the task %d times", n)
		}
		in, err := task.HandleInfo(tb.ctx, h)
		if err != nil || in.Status != task.StatusSucceeded || in.Attempt != 2 {
			t.Errorf("info %+v, %v", in, err)
		}
	})
}

// A worker that crashes on the last attempt leaves the task failed with
// kind KindLost, in the dead-letter set; its caller is woken.
func TestWorkerLostOnLastAttempt(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		aClient := secondClient(t, b)
		ah := newHandler("A")
		ah.start = make(chan string, 1)
		aq, err := task.New[job, *res](aClient, b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		stopA := listen(t, aq, ah.Handle, task.Grace(50*time.Millisecond))
		h, err := tb.q.Submit(tb.ctx, "k1", job{StallOn: "A"}, task.MaxAttempts(1))
		if err != nil {
			t.Fatal(err)
		}
		<-ah.start
		aClient.Close()
		// Stop A only at the end: a graceful stop would release the task
		// (if its client still got the release through), which is not what
		// a crash does.
		defer stopA()
		tb.worker(t, "B", "work") // its claims do the housekeeping
		_, err = h.Wait(tb.ctx)
		var he *task.HandlerError
		if !errors.As(err, &he) || he.Kind != task.KindLost {
			t.Fatalf("Wait: %v, want kind %s", err, task.KindLost)
		}
		dead, err := tb.insp("work").DeadLetters(tb.ctx, 0, 10)
		if err != nil || len(dead) != 1 || dead[0].ID != "k1" || dead[0].ErrorKind != task.KindLost {
			t.Errorf("dead letters %+v, %v", dead, err)
		}
	})
}

// Reference: the record's TTL is the queue timeout, so a longer per-call
// timeout outlives it and the worker finds nothing. Here an unfinished
// record lives until its deadline plus the retention, a finished one at
// least until the deadline, and expired ones are gone.
func TestRecordExpiry(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, task.WithRetention(100*time.Millisecond, 0))
		// Pending for longer than the retention: still there, then run.
		h, err := tb.q.Submit(tb.ctx, "slow-pickup", job{N: 1}, task.Timeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if in, err := task.HandleInfo(tb.ctx, h); err != nil || in.Status != task.StatusPending {
			t.Fatalf("pending task after the retention: %+v, %v", in, err)
		}
		tb.worker(t, "worker", "work")
		if r, err := h.Wait(tb.ctx); err != nil || r.N != 2 {
			t.Fatalf("Wait: %+v, %v", r, err)
		}
		// Finished well before its deadline: kept until the deadline, so a
		// caller that comes back in time still finds the result.
		time.Sleep(300 * time.Millisecond)
		if r, err := h.Wait(tb.ctx); err != nil || r.N != 2 {
			t.Fatalf("Wait after the retention but before the deadline: %+v, %v", r, err)
		}
		// A short task: gone once its deadline and retention passed.
		h2, err := tb.q.Submit(tb.ctx, "short", job{N: 2}, task.Timeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h2.Wait(tb.ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := h2.Wait(tb.ctx); !errors.Is(err, task.ErrNotFound) {
			t.Fatalf("Wait after expiry: %v, want ErrNotFound", err)
		}
		if _, err := tb.insp("work").Info(tb.ctx, "short"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Info after expiry: %v", err)
		}
	})
}

// Once deletes the record when the outcome is read; without it the record
// stays.
func TestOnce(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.worker(t, "worker", "work")
		if _, err := tb.q.Query(tb.ctx, "once", job{N: 1}, task.Remote(), task.Once()); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.insp("work").Info(tb.ctx, "once"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("after a Once read: %v, want ErrNotFound", err)
		}
		_, err := tb.q.Query(tb.ctx, "once-failed", job{Mode: modeFail}, task.Remote(), task.Once(), task.MaxAttempts(1))
		checkOutcome(t, err, task.ErrHandler)
		if _, err := tb.insp("work").Info(tb.ctx, "once-failed"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("after a Once read of a failure: %v, want ErrNotFound", err)
		}
		if _, err := tb.q.Query(tb.ctx, "kept", job{N: 1}, task.Remote()); err != nil {
			t.Fatal(err)
		}
		if in, err := tb.insp("work").Info(tb.ctx, "kept"); err != nil || in.Status != task.StatusSucceeded {
			t.Errorf("without Once: %+v, %v", in, err)
		}
		st, err := tb.insp("work").Stats(tb.ctx)
		if err != nil || st.Records != 1 || st.Dead != 0 {
			t.Errorf("stats %+v, %v", st, err)
		}

		// Joined callers with Once each get the outcome; the last read
		// deletes the record.
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				r, err := tb.q.Query(tb.ctx, "shared", job{N: 5, Mode: modeSleep, Sleep: 300 * time.Millisecond},
					task.Remote(), task.Once())
				if err == nil && r.N != 10 {
					err = fmt.Errorf("result %+v", r)
				}
				errs <- err
			}()
		}
		for range 3 {
			if err := <-errs; err != nil {
				t.Errorf("a joined Once caller: %v", err)
			}
		}
		if _, err := tb.insp("work").Info(tb.ctx, "shared"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("after every joined caller read with Once: %v, want ErrNotFound", err)
		}
	})
}

// TestPassedOnOutcomeMatchesHandlerOnly: a handler that fails with another
// task's outcome error (ErrTimeout, ErrQueue) still fails with exactly one
// outcome, ErrHandler, run locally or remotely; a local run keeps the
// handler's own error in HandlerError.Err.
func TestPassedOnOutcomeMatchesHandlerOnly(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	for _, inner := range []error{task.ErrTimeout, task.ErrQueue, task.ErrCanceled} {
		h := task.Handler[job, *res](func(context.Context, *task.Task[job]) (*res, error) {
			return nil, fmt.Errorf("sub-task: %w", inner)
		})
		q, err := task.New[job, *res](b.Client, b.Prefix, "passon")
		if err != nil {
			t.Fatal(err)
		}
		if err := q.HandleLocally(h); err != nil {
			t.Fatal(err)
		}
		stop := listen(t, q, h)
		for name, via := range map[string]task.QueryOption{"local": task.Local(), "remote": task.Remote()} {
			_, err := q.Query(t.Context(), fmt.Sprintf("%v-%v", inner, name), job{}, via, task.MaxAttempts(1))
			var matched []error
			for _, s := range []error{task.ErrHandler, task.ErrTimeout, task.ErrCanceled, task.ErrQueue} {
				if errors.Is(err, s) {
					matched = append(matched, s)
				}
			}
			if len(matched) != 1 || !errors.Is(matched[0], task.ErrHandler) {
				t.Errorf("%v via %v: %v matches %v, want ErrHandler alone", inner, name, err, matched)
			}
			var he *task.HandlerError
			if errors.As(err, &he) && (name == "local") != errors.Is(he.Err, inner) {
				t.Errorf("%v via %v: HandlerError.Err %v", inner, name, he.Err)
			}
		}
		stop()
	}
}
