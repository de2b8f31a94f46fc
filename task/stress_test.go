package task_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestExactlyOnceUnderRandomStops runs worker groups on separate clients
// (as separate processes) that stop at random, gracefully or by crashing
// (their client closes under them), while callers submit tasks and wait.
// Every caller gets its task's one result: none is lost, none fails, none
// is reported twice, whatever ran twice on the workers.
func TestExactlyOnceUnderRandomStops(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		const tasks, groups = 60, 3
		var (
			done    atomic.Bool
			runs    atomic.Int64
			crashes atomic.Int64
			stops   atomic.Int64
			wg      sync.WaitGroup
		)
		for g := range groups {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
				for !done.Load() {
					c := dial(t, b)
					h := &countingHandler{runs: &runs}
					q, err := task.New[job, *res](c, b.Prefix, "work")
					if err != nil {
						t.Error(err)
						c.Close()
						return
					}
					ctx, cancel := context.WithCancel(context.Background())
					ended := make(chan error, 1)
					opts := []task.RunOption{
						task.Workers(4), task.Heartbeat(50 * time.Millisecond),
						task.Grace(time.Duration(rng.IntN(50)) * time.Millisecond), task.WorkerID(fmt.Sprintf("g%d-%d", g, rng.Uint32())),
					}
					go func() { ended <- q.Run(ctx, h.Handle, opts...) }()
					time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
					if rng.IntN(2) == 0 {
						crashes.Add(1)
						c.Close() // the process dies: no release, no goodbye
						cancel()
					} else {
						stops.Add(1)
						cancel()
					}
					if err := <-ended; err != nil {
						t.Errorf("Listen: %v", err)
					}
					cancel()
					c.Close()
				}
			})
		}
		results := make([]int, tasks)
		var callers sync.WaitGroup
		for i := range tasks {
			callers.Go(func() {
				time.Sleep(time.Duration(i*10) * time.Millisecond)
				id := fmt.Sprintf("t%03d", i)
				h, err := tb.q.Submit(tb.ctx, id, job{N: i, Mode: modeSleep, Sleep: time.Duration(i%30) * time.Millisecond},
					task.MaxAttempts(100), task.Timeout(25*time.Second))
				if err != nil {
					t.Errorf("Submit %s: %v", id, err)
					return
				}
				r, err := h.Wait(tb.ctx)
				if err != nil {
					t.Errorf("Wait %s: %v", id, err)
					return
				}
				results[i] = r.N
			})
		}
		callers.Wait()
		done.Store(true)
		wg.Wait()
		for i, n := range results {
			if n != 2*i {
				t.Errorf("task %d: result %d", i, n)
			}
		}
		st, err := tb.insp("work").Stats(tb.ctx)
		if err != nil || st.Ready+st.Delayed+st.Running+st.Dead != 0 || st.Records != tasks {
			t.Errorf("stats %+v, %v", st, err)
		}
		t.Logf("%d tasks, %d handler runs, %d crashes, %d graceful stops", tasks, runs.Load(), crashes.Load(), stops.Load())
	})
}

// countingHandler doubles N after sleeping, counting runs.
type countingHandler struct{ runs *atomic.Int64 }

func (h *countingHandler) Handle(ctx context.Context, t *task.Task[job]) (*res, error) {
	h.runs.Add(1)
	select {
	case <-time.After(t.Params.Sleep):
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	return &res{N: 2 * t.Params.N}, nil
}
