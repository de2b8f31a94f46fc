package task_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/lease/leasetest"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// cutDial reaches a miniredis through in-memory pipes (so it works in a
// synctest bubble) until cut.
type cutDial struct {
	m *miniredis.Miniredis
	cutter
}

func (d *cutDial) option() rueidis.ClientOption {
	opt := redisxtest.DialEmbedded(d.m)
	opt.DisableRetry = true
	opt.DialCtxFn = func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
		conns, err := d.add(func() ([]net.Conn, error) {
			c, err := d.m.Dial()
			return []net.Conn{c}, err
		})
		if err != nil {
			return nil, err
		}
		return conns[0], nil
	}
	return opt
}

// The worker's cut-off follows the module's one lease rule, in fake time:
// cut off from Redis, its handler's ctx ends (ErrLost) and Task.Valid turns
// false at exactly send time of the last answered heartbeat + the cut-off
// − the keeper's margin, not a nanosecond before or after, although the
// handler never returned to look; once Redis answers again the worker
// registers afresh and runs tasks. The code before the keeper ended the
// handler at its first failing heartbeat tick past the cut-off (32 ms
// later with these settings), counting from a join's answer.
func TestCutOffDeadlineIsTheLeaseRule(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		const hb = time.Second
		cut := task.HeartbeatMisses*hb - 2*hb // 5 heartbeats − 2 heartbeats

		d := &cutDial{m: b.Mini}
		wc, err := rueidis.NewClient(d.option())
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		started := make(chan *task.Task[job], 2)
		causes := make(chan error, 2)
		h := task.Handler[job, *res](func(ctx context.Context, tk *task.Task[job]) (*res, error) {
			started <- tk
			if tk.Params.Mode == modeBlock {
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return nil, context.Cause(ctx)
			}
			return &res{N: tk.Params.N}, nil
		})
		wq, err := task.New[job, *res](wc, b.Prefix, "cut")
		if err != nil {
			t.Fatal(err)
		}
		caller, err := task.New[job, *res](b.Client, b.Prefix, "cut")
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		joined := time.Now() // the join is sent now: fake time stands still until all block
		go func() {
			done <- wq.Run(rctx, h, task.Heartbeat(hb), task.Grace(0), task.Workers(1))
		}()
		if _, err := caller.Submit(ctx, "t1", job{Mode: modeBlock}, task.Timeout(time.Hour)); err != nil {
			t.Fatal(err)
		}
		tk := <-started

		// Heartbeats answered at joined + 1s and + 2s; cut off at + 2.5s.
		time.Sleep(time.Until(joined.Add(2*hb + hb/2)))
		d.set(true)
		deadline := lease.Deadline(joined.Add(2*hb), cut)
		time.Sleep(time.Until(deadline) - 1)
		synctest.Wait()
		if len(causes) != 0 || !tk.Valid() {
			t.Fatalf("1ns before the deadline (%v after the last answered heartbeat): handler ended %d, Valid %v",
				cut-lease.Margin(cut), len(causes), tk.Valid())
		}
		time.Sleep(time.Nanosecond) // synctest: the smallest step onto the deadline
		if tk.Valid() {
			t.Fatal("Task.Valid true at the deadline")
		}
		synctest.Wait()
		select {
		case cause := <-causes:
			if !errors.Is(cause, task.ErrLost) {
				t.Fatalf("handler ended with %v, want ErrLost", cause)
			}
		default:
			t.Fatal("the handler's ctx did not end at the deadline")
		}

		// Redis answers again: the worker registers afresh and works. t2
		// is queued first: the worker's retry may fire at the very instant
		// its connection comes back, and its claim hands t1 (lapsed) back
		// to the queue behind whatever is queued already.
		time.Sleep(10 * time.Second)
		h2, err := caller.Submit(ctx, "t2", job{N: 7}, task.Timeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		d.set(false)
		if r, err := h2.Wait(ctx); err != nil || r.N != 7 {
			t.Fatalf("after the cut-off: %+v, %v", r, err)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

// TestStallSIGSTOP stops a real worker process (with its embedded Redis)
// for longer than its liveness lease: when it resumes, its handler finds
// Task.Valid false at the first look and its ctx ended (ErrLost) within
// milliseconds, before any heartbeat could run. The code before the keeper
// left the ctx alive: its first heartbeat after the stall succeeded.
func TestStallSIGSTOP(t *testing.T) {
	if leasetest.Child("TASK_STALL_CHILD") {
		stallChild()
		return
	}
	// A few heartbeats, then a stop well past the 150ms cut-off.
	got := leasetest.Stall(t, "TestStallSIGSTOP", "TASK_STALL_CHILD", 300*time.Millisecond, time.Second)
	if got != "valid=false ctx=lost" {
		t.Fatalf("after the stall the child's handler saw %q, want valid=false ctx=lost", got)
	}
}

func stallChild() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	m, err := miniredis.Run()
	if err != nil {
		fail(err)
	}
	c, err := rueidis.NewClient(redisx.EmbeddedClientOption(m.Addr()))
	if err != nil {
		fail(err)
	}
	q, err := task.New[job, *res](c, "stall", "work")
	if err != nil {
		fail(err)
	}
	h := task.Handler[job, *res](func(ctx context.Context, tk *task.Task[job]) (*res, error) {
		fmt.Println("ready")
		leasetest.AwaitStall(500 * time.Millisecond)
		valid := tk.Valid()
		state := "live"
		select {
		case <-ctx.Done():
			state = "ended"
			if errors.Is(context.Cause(ctx), task.ErrLost) {
				state = "lost"
			}
		case <-time.After(50 * time.Millisecond):
		}
		fmt.Printf("valid=%v ctx=%s\n", valid, state)
		os.Exit(0)
		return nil, nil
	})
	// One slot, taken by the handler: no claim runs (and reaps) after the
	// stall, only the heartbeat.
	go func() {
		_ = q.Run(context.Background(), h, task.Workers(1), task.Heartbeat(50*time.Millisecond))
	}()
	if _, err := q.Submit(context.Background(), "t", job{}, task.NoWait()); err != nil {
		fail(err)
	}
	time.Sleep(20 * time.Second)
	fail(errors.New("no stall seen"))
}

// Task.Valid in a local run follows the handler's ctx and reads the
// deadline from the clock; a Task made by hand is valid until its
// Deadline.
func TestTaskValidLocal(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		q, err := task.New[job, *res](b.Client, b.Prefix, "local")
		if err != nil {
			t.Fatal(err)
		}
		var before, after bool
		err = q.HandleLocally(task.Handler[job, *res](func(_ context.Context, tk *task.Task[job]) (*res, error) {
			before = tk.Valid()
			time.Sleep(2 * time.Second) // past the deadline, not looking at ctx
			after = tk.Valid()
			return &res{}, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = q.Query(context.Background(), "x", job{}, task.Local(), task.Timeout(time.Second))
		if !before || after {
			t.Fatalf("Valid before the deadline %v, after it %v", before, after)
		}
	})
	tk := &task.Task[job]{Deadline: time.Now().Add(time.Hour)}
	if !tk.Valid() || (&task.Task[job]{Deadline: time.Now().Add(-time.Second)}).Valid() || !(&task.Task[job]{}).Valid() {
		t.Fatal("a hand-made Task is valid until its Deadline (none: always)")
	}
}
