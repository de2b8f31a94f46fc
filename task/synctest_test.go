package task_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// With the default timings, in fake time: a crashed worker's task is taken
// over once its heartbeat registration and its lease lapse (five
// heartbeats); results stay for the default retention
// and are gone after it.
func TestDefaultTimingsInFakeTime(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		caller, err := task.New[job, *res](b.Client, b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		// Worker A, with its own connection, takes the task and dies.
		aClient, err := rueidis.NewClient(redisxtest.DialEmbedded(b.Mini))
		if err != nil {
			t.Fatal(err)
		}
		ah := newHandler("A")
		ah.start = make(chan string, 1)
		aq, _ := task.New[job, *res](aClient, b.Prefix, "work")
		actx, stopA := context.WithCancel(ctx)
		aDone := make(chan error, 1)
		go func() { aDone <- aq.Run(actx, ah.Handle, task.Grace(time.Second)) }()

		h, err := caller.Submit(ctx, "t1", job{N: 1, StallOn: "A"})
		if err != nil {
			t.Fatal(err)
		}
		<-ah.start
		aClient.Close()
		stopA()
		if err := <-aDone; err != nil {
			t.Fatalf("Listen A: %v", err)
		}
		crashed := time.Now()

		bh := newHandler("B")
		bq, _ := task.New[job, *res](b.Client, b.Prefix, "work")
		bctx, stopB := context.WithCancel(ctx)
		bDone := make(chan error, 1)
		go func() { bDone <- bq.Run(bctx, bh.Handle) }()

		r, err := h.Wait(ctx)
		if err != nil || r.Worker != "B" {
			t.Fatalf("Wait: %+v, %v", r, err)
		}
		took := time.Since(crashed)
		if lapse := task.DefaultHeartbeat * task.HeartbeatMisses; took > lapse+2*time.Second {
			t.Errorf("takeover %v after the crash; the registration and the lease lapse after %v", took, lapse)
		}
		stopB()
		if err := <-bDone; err != nil {
			t.Fatalf("Listen B: %v", err)
		}

		// The result stays for the default retention (longer than the
		// default timeout, so the deadline does not extend it).
		time.Sleep(task.DefaultRetention - time.Minute)
		if _, err := h.Wait(ctx); err != nil {
			t.Fatalf("Wait within the retention: %v", err)
		}
		time.Sleep(2 * time.Minute)
		if _, err := h.Wait(ctx); !errors.Is(err, task.ErrNotFound) {
			t.Fatalf("Wait after the retention: %v, want ErrNotFound", err)
		}
	})
}
