package task_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// Resize is what the example tasks get; Thumb what they return.
type Resize struct {
	Image string `json:"image" msgpack:"image" cbor:"image"`
	Width int    `json:"width" msgpack:"width" cbor:"width"`
}

type Thumb struct {
	Name string `json:"name" msgpack:"name" cbor:"name"`
	By   string `json:"by" msgpack:"by" cbor:"by"`
}

// resizer returns the handler of a process called by: it reports progress
// and refuses images named "bad".
func resizer(by string) task.Handler[Resize, Thumb] {
	return func(ctx context.Context, t *task.Task[Resize]) (Thumb, error) {
		if strings.HasPrefix(t.Params.Image, "bad") {
			return Thumb{}, task.Classify(fmt.Errorf("cannot read %s", t.Params.Image), "format")
		}
		for step := 1; step <= 2; step++ {
			if err := t.Update(ctx, float64(step), 2); err != nil {
				return Thumb{}, err
			}
		}
		return Thumb{Name: fmt.Sprintf("%s@%d", t.Params.Image, t.Params.Width), By: by}, nil
	}
}

// A caller queries, a worker in another process (here: a goroutine with its
// own Queue value) runs the task.
func Example() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	worker, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	stop := startWorker(worker, resizer("worker"))
	defer stop()

	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	th, err := caller.Query(ctx, "img-1", Resize{Image: "cat.png", Width: 64}, task.Remote())
	fmt.Println(th.Name, th.By, err)

	_, err = caller.Query(ctx, "img-2", Resize{Image: "bad.png"}, task.Remote(), task.MaxAttempts(1))
	var he *task.HandlerError
	if errors.As(err, &he) {
		fmt.Println(he.Kind, he.Message, errors.Is(err, task.ErrHandler))
	}
	// Output:
	// cat.png@64 worker <nil>
	// format cannot read bad.png true
}

// Local runs the handler in the caller's goroutine; Redis is not used.
func ExampleQueue_Query_local() {
	r := embedded()
	defer r.Close()
	q, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_ = q.HandleLocally(resizer("caller"))

	th, err := q.Query(context.Background(), "img-1", Resize{Image: "cat.png", Width: 32}, task.Local())
	fmt.Println(th.Name, th.By, err)

	// A handler that does not finish in time: ErrTimeout, not ErrHandler.
	slow, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_ = slow.HandleLocally(task.Handler[Resize, Thumb](func(ctx context.Context, _ *task.Task[Resize]) (Thumb, error) {
		<-ctx.Done()
		return Thumb{}, ctx.Err()
	}))
	_, err = slow.Query(context.Background(), "img-2", Resize{}, task.Local(), task.Timeout(10*time.Millisecond))
	fmt.Println(errors.Is(err, task.ErrTimeout), errors.Is(err, task.ErrHandler))
	// Output:
	// cat.png@32 caller <nil>
	// true false
}

// Remote queues the task and waits for a worker's result; a task nobody
// takes in time times out.
func ExampleQueue_Query_remote() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	worker, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	stop := startWorker(worker, resizer("worker"))
	defer stop()
	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")

	th, err := caller.Query(ctx, "img-1", Resize{Image: "dog.png", Width: 16}, task.Remote())
	fmt.Println(th.Name, th.By, err)

	idle, _ := task.New[Resize, Thumb](r.Client(), "myapp", "nobody-listens")
	_, err = idle.Query(ctx, "img-2", Resize{}, task.Remote(), task.Timeout(50*time.Millisecond))
	fmt.Println(errors.Is(err, task.ErrTimeout))
	// Output:
	// dog.png@16 worker <nil>
	// true
}

// LocalFirst runs locally and, if that fails, queues a clean task once.
func ExampleQueue_Query_localFirst() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	worker, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	stop := startWorker(worker, resizer("worker"))
	defer stop()
	// This caller cannot handle large images itself.
	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_ = caller.HandleLocally(task.Handler[Resize, Thumb](func(_ context.Context, t *task.Task[Resize]) (Thumb, error) {
		if t.Params.Width > 100 {
			return Thumb{}, errors.New("too large for this machine")
		}
		return Thumb{Name: t.Params.Image, By: "caller"}, nil
	}))

	small, err := caller.Query(ctx, "img-1", Resize{Image: "a.png", Width: 10}, task.LocalFirst())
	fmt.Println(small.By, err)
	large, err := caller.Query(ctx, "img-2", Resize{Image: "b.png", Width: 1000}, task.LocalFirst())
	fmt.Println(large.By, err)
	// Output:
	// caller <nil>
	// worker <nil>
}

// RemoteFirst queues the task; a task nobody took in time is withdrawn and
// run locally, so it never runs twice.
func ExampleQueue_Query_remoteFirst() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_ = caller.HandleLocally(resizer("caller"))

	th, err := caller.Query(ctx, "img-1", Resize{Image: "c.png", Width: 8},
		task.RemoteFirst(), task.Timeout(50*time.Millisecond))
	fmt.Println(th.By, err)
	in, _ := task.NewInspector(r.Client(), "myapp", "thumbs")
	info, _ := in.Info(ctx, "img-1")
	fmt.Println(info.Status) // the queued copy
	// Output:
	// caller <nil>
	// canceled
}

// Auto runs remotely while a worker for the name is alive, else locally.
func ExampleQueue_Query_auto() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_ = caller.HandleLocally(resizer("caller"))

	th, _ := caller.Query(ctx, "img-1", Resize{Image: "d.png"})
	fmt.Println(th.By)

	worker, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	stop := startWorker(worker, resizer("worker"))
	th, _ = caller.Query(ctx, "img-2", Resize{Image: "e.png"})
	fmt.Println(th.By)
	stop()
	th, _ = caller.Query(ctx, "img-3", Resize{Image: "f.png"})
	fmt.Println(th.By)
	// Output:
	// caller
	// worker
	// caller
}

// Submit returns a handle: follow the progress, then take the result.
// Progress returns the latest progress; here the handler moves on only
// when told, so every step shows.
func ExampleQueue_Submit() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	next := make(chan struct{})
	worker, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	stop := startWorker(worker, task.Handler[Resize, Thumb](func(ctx context.Context, t *task.Task[Resize]) (Thumb, error) {
		for step := 1; step <= 4; step++ {
			<-next
			if err := t.Update(ctx, float64(step), 4); err != nil {
				return Thumb{}, err
			}
		}
		return Thumb{Name: t.Params.Image + " resized"}, nil
	}))
	defer stop()
	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")

	h, err := caller.Submit(ctx, "img-1", Resize{Image: "big.png", Width: 256}, task.Timeout(time.Minute))
	if err != nil {
		panic(err)
	}
	var seen int64
	var steps []string
	for range 4 {
		next <- struct{}{}
		p, err := h.Progress(ctx, seen)
		if err != nil {
			panic(err)
		}
		steps = append(steps, fmt.Sprintf("%.0f%%", 100*p.Current/p.Total))
		seen = p.Seq
	}
	th, err := h.Wait(ctx)
	fmt.Println(strings.Join(steps, " "))
	fmt.Println(th.Name, err)
	// Output:
	// 25% 50% 75% 100%
	// big.png resized <nil>
}

// A worker process: Run runs the handler until its ctx ends, then finishes
// the running tasks and leaves.
func ExampleQueue_Run() {
	r := embedded()
	defer r.Close()
	q, _ := task.New[Resize, Thumb](r.Client(), "myapp", "avatars")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Run(ctx, resizer("worker"), task.Workers(8), task.Grace(10*time.Second))
	}()

	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "avatars")
	h, _ := caller.Submit(context.Background(), "img-1", Resize{Image: "me.png", Width: 48})
	th, err := h.Wait(context.Background())
	fmt.Println(th.Name, err)

	cancel() // e.g. on SIGTERM
	fmt.Println(<-done)
	// Output:
	// me.png@48 <nil>
	// <nil>
}

// An Inspector reads a queue without its types: counts, failed tasks, and
// requeues them once the cause is fixed.
func ExampleInspector() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	worker, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	stop := startWorker(worker, resizer("worker"))
	defer stop()
	caller, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_, _ = caller.Query(ctx, "img-1", Resize{Image: "bad.png"}, task.Remote(), task.MaxAttempts(1))

	in, _ := task.NewInspector(r.Client(), "myapp", "thumbs")
	st, _ := in.Stats(ctx)
	fmt.Println("dead:", st.Dead, "workers:", st.Workers)
	dead, _ := in.DeadLetters(ctx, 0, 10)
	for _, d := range dead {
		fmt.Println(d.ID, d.Status, d.ErrorKind, d.ErrorMessage)
	}
	n, _ := in.Requeue(ctx, "img-1")
	fmt.Println("requeued:", n)
	// Output:
	// dead: 1 workers: 1
	// img-1 failed format cannot read bad.png
	// requeued: 1
}

// An operator lists a queue's tasks by state, looks at one (params
// decoded with the queue's codec), makes a delayed one due, deletes one,
// pauses the queue, and lists its periodic tasks.
func ExampleInspector_List() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()
	q, _ := task.New[Resize, Thumb](r.Client(), "myapp", "thumbs")
	_, _ = q.Submit(ctx, "img-1", Resize{Image: "a.png", Width: 64}, task.NoWait())
	_, _ = q.Submit(ctx, "img-2", Resize{Image: "b.png", Width: 32}, task.NoWait(), task.Priority(5))
	_, _ = q.Submit(ctx, "img-3", Resize{Image: "c.png", Width: 16}, task.NoWait(), task.Delay(time.Hour))
	_ = q.Schedule(ctx, "nightly", "0 3 * * *", Resize{Image: "all", Width: 128})

	in, _ := task.NewInspector(r.Client(), "myapp", "thumbs")
	cursor := ""
	for {
		page, next, _ := in.List(ctx, task.StatePending, cursor, 1) // a page of one, to show paging
		for _, t := range page {
			fmt.Println("pending:", t.ID, "priority", t.Priority)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	info, _ := in.Info(ctx, "img-3")
	var p Resize
	_ = codec.CBOR.Unmarshal(info.Params, &p) // task.New's default codec
	fmt.Println("img-3:", info.Status, p.Image, "due in an hour:", time.Until(info.Due) > 59*time.Minute)

	n, _ := in.RunNow(ctx, "img-3")
	fmt.Println("made due:", n)
	fmt.Println("delete img-1:", in.Delete(ctx, "img-1"))
	_, _ = in.Pause(ctx)
	st, _ := in.Stats(ctx)
	paused, _ := in.Paused(ctx)
	fmt.Println("ready:", st.Ready, "paused:", paused)

	sched, _ := in.Schedules(ctx)
	for _, s := range sched {
		fmt.Println("schedule:", s.Name, s.Spec, "next at", s.Next.UTC().Format("15:04"))
	}
	// Output:
	// pending: img-2 priority 5
	// pending: img-1 priority 0
	// img-3: pending c.png due in an hour: true
	// made due: 1
	// delete img-1: <nil>
	// ready: 2 paused: true
	// schedule: nightly 0 3 * * * next at 03:00
}

// embedded starts an in-process Redis so the examples run anywhere; in
// production use redisallocator.Connect.
func embedded() *redisallocatortest.Server {
	r, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	return r
}

// startWorker runs h on q in the background until stop is called, and
// returns once the worker is registered (what Auto looks for).
func startWorker(q *task.Queue[Resize, Thumb], h task.Handler[Resize, Thumb]) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, h, task.Grace(time.Second)) }()
	in, _ := task.InspectorOf(q) // task.NewInspector with q's client, prefix and name
	for {
		st, err := in.Stats(context.Background())
		if err == nil && st.Workers > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			panic(err)
		}
	}
}
