package task_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// countingClient counts the caller's round trips: each Do or DoMulti is
// one request and one reply.
type countingClient struct {
	rueidis.Client
	mu    sync.Mutex
	sent  []string
	onCmd func(name string)
}

func (c *countingClient) note(name string) {
	c.mu.Lock()
	c.sent = append(c.sent, name)
	f := c.onCmd
	c.mu.Unlock()
	if f != nil {
		f(name)
	}
}

func (c *countingClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.note(cmd.Commands()[0])
	return c.Client.Do(ctx, cmd)
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.note("MULTI:" + cmds[0].Commands()[0])
	return c.Client.DoMulti(ctx, cmds...)
}

// reset clears the count and calls f at every command sent from now on.
func (c *countingClient) reset(f func(name string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent, c.onCmd = nil, f
}

func (c *countingClient) commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

// Submit registers the caller as a waiter in the enqueue script, so
// Submit then Wait costs the caller no more round trips than Query:
// enqueue and one blocking wait, whose wake-up carries the outcome (before
// issue 14 a read followed; before v1: enqueue, read, wait, read).
func TestSubmitWaitRoundTrips(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cc := &countingClient{Client: secondClient(t, b)}
		caller, err := task.New[job, *res](cc, b.Prefix, "rt")
		if err != nil {
			t.Fatal(err)
		}
		worker, err := task.New[job, *res](b.Client, b.Prefix, "rt")
		if err != nil {
			t.Fatal(err)
		}
		result, err := codec.CBOR.Marshal(&res{N: 1})
		if err != nil {
			t.Fatal(err)
		}
		// run measures one caller operation: once the caller blocks on its
		// wake-up list, a hand-driven worker claims and finishes the task.
		run := func(id string, op func() error) []string {
			t.Helper()
			blocked := make(chan struct{}, 1)
			cc.reset(func(name string) {
				if name == "BLPOP" {
					select {
					case blocked <- struct{}{}:
					default:
					}
				}
			})
			done := make(chan error, 1)
			go func() { done <- op() }()
			select {
			case <-blocked:
			case err := <-done:
				t.Fatalf("%s ended before it waited: %v", id, err)
			}
			claims, err := worker.ClaimForTest(ctx, "w1", 1, time.Minute)
			if err != nil || len(claims) != 1 || claims[0].ID != id {
				t.Fatalf("claim: %+v, %v", claims, err)
			}
			if err := worker.FinishForTest(ctx, "w1", claims[0], "ok", string(result), 0); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			sent := cc.commands()
			cc.reset(nil)
			return sent
		}
		// Warm up: the scripts are loaded (EVAL after NOSCRIPT) once.
		run("warm", func() error {
			_, err := caller.Query(ctx, "warm", job{}, task.Remote())
			return err
		})
		query := run("q1", func() error {
			_, err := caller.Query(ctx, "q1", job{}, task.Remote())
			return err
		})
		submit := run("s1", func() error {
			h, err := caller.Submit(ctx, "s1", job{})
			if err != nil {
				return err
			}
			_, err = h.Wait(ctx)
			return err
		})
		if len(submit) > len(query) || len(query) != 2 {
			t.Errorf("round trips: Submit+Wait %d %q, Query %d %q; want Submit+Wait <= Query = 2",
				len(submit), submit, len(query), query)
		}
	})
}

// An outcome carried by a wake-up reaches only the wait it was meant for:
// a later wait on a task resubmitted with the same id, which pops the
// element a caller who gave up left behind, reads instead and gets the new
// task's outcome, never the old one's.
func TestWakeUpOutcomeIsPerWait(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		q, err := task.New[job, *res](b.Client, b.Prefix, "stale")
		if err != nil {
			t.Fatal(err)
		}
		finish := func(n int) {
			t.Helper()
			claims, err := q.ClaimForTest(ctx, "w1", 1, time.Minute)
			if err != nil || len(claims) != 1 {
				t.Fatalf("claim: %+v, %v", claims, err)
			}
			out, err := codec.CBOR.Marshal(&res{N: n})
			if err != nil {
				t.Fatal(err)
			}
			if err := q.FinishForTest(ctx, "w1", claims[0], "ok", string(out), 0); err != nil {
				t.Fatal(err)
			}
		}
		// The first submitter registers its wait and never takes the
		// wake-up: the element with outcome 1 stays in the list.
		if _, err := q.Submit(ctx, "t", job{}); err != nil {
			t.Fatal(err)
		}
		finish(1)
		h, err := q.Submit(ctx, "t", job{}) // replaces the finished task
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan *res, 1)
		go func() {
			r, err := h.Wait(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- r
		}()
		time.Sleep(50 * time.Millisecond) // the wait pops the stale element, reads, waits again
		finish(2)
		if r := <-got; r == nil || r.N != 2 {
			t.Fatalf("Wait returned %+v, want the second task's result N=2", r)
		}
	})
}
