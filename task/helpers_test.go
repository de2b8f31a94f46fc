package task_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// job tells the test handler what to do.
type job struct {
	N     int           `cbor:"n"`
	Mode  string        `cbor:"mode"`
	Sleep time.Duration `cbor:"sleep"`
	// FailOn and StallOn name the handler (by tag) that fails the job or
	// blocks until its ctx ends, whatever Mode says.
	FailOn  string `cbor:"fail_on"`
	StallOn string `cbor:"stall_on"`
}

type res struct {
	N      int    `cbor:"n"`
	Worker string `cbor:"worker"`
}

// Handler modes.
const (
	modeOK        = ""
	modeFail      = "fail"      // an error with kind "boom"
	modeSkip      = "skip"      // an error wrapping ErrSkipRetry
	modePanic     = "panic"     // a panic
	modeBlock     = "block"     // wait for ctx, return its cause
	modeNil       = "nil"       // a nil result
	modeProgress  = "progress"  // three progress updates, then a result
	modeFlaky     = "flaky"     // fail the first attempt, then succeed
	modeSleep     = "sleep"     // sleep job.Sleep (ctx-aware), then succeed
	modeFailWhile = "failwhile" // fail while handler.failing is set
)

// handler runs jobs and counts runs per task id.
type handler struct {
	tag     string
	mu      sync.Mutex
	runs    map[string]int
	gate    chan struct{} // progress mode waits for a token between updates
	start   chan string   // receives the id of each started run, when set
	failing atomic.Bool
}

func newHandler(tag string) *handler {
	return &handler{tag: tag, runs: map[string]int{}}
}

func (h *handler) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runs[id]
}

func (h *handler) Handle(ctx context.Context, t *task.Task[job]) (*res, error) {
	h.mu.Lock()
	h.runs[t.ID]++
	h.mu.Unlock()
	if h.start != nil {
		select {
		case h.start <- t.ID:
		case <-ctx.Done():
		}
	}
	j := t.Params
	switch {
	case j.FailOn == h.tag:
		return nil, task.Classify(fmt.Errorf("job %d failed on %s", j.N, h.tag), "boom")
	case j.StallOn == h.tag:
		<-ctx.Done()
		return nil, context.Cause(ctx)
	case j.Mode == modeFailWhile && h.failing.Load():
		return nil, errors.New("still failing")
	}
	switch j.Mode {
	case modeFail:
		return nil, task.Classify(fmt.Errorf("job %d failed", j.N), "boom")
	case modeSkip:
		return nil, fmt.Errorf("job %d is hopeless: %w", j.N, task.ErrSkipRetry)
	case modePanic:
		panic(fmt.Sprintf("job %d panicked", j.N))
	case modeBlock:
		<-ctx.Done()
		return nil, context.Cause(ctx)
	case modeNil:
		return nil, nil
	case modeFlaky:
		if t.Attempt == 1 {
			return nil, errors.New("first attempt fails")
		}
	case modeSleep:
		select {
		case <-time.After(j.Sleep):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	case modeProgress:
		for i := 1; i <= 3; i++ {
			if h.gate != nil {
				select {
				case <-h.gate:
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				}
			}
			if err := t.Update(ctx, float64(i), 3); err != nil {
				return nil, err
			}
		}
	}
	return &res{N: j.N * 2, Worker: h.tag}, nil
}

type bundle struct {
	t    *testing.T
	b    *redisxtest.Backend
	q    *task.Queue[job, *res] // the caller's queue "work"; its local handler is tagged "main"
	h    *handler
	ctx  context.Context
	opts []task.Option

	mu     sync.Mutex
	queues map[string]*task.Queue[job, *res]
}

// on returns the caller's queue of name, with the bundle's options and
// local handler.
func (tb *bundle) on(name string) *task.Queue[job, *res] {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if q, ok := tb.queues[name]; ok {
		return q
	}
	q, err := task.New[job, *res](tb.b.Client, tb.b.Prefix, name, tb.opts...)
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := q.HandleLocally(tb.h.Handle); err != nil {
		tb.t.Fatal(err)
	}
	tb.queues[name] = q
	return q
}

// insp returns an inspector of queue name.
func (tb *bundle) insp(name string) *task.Inspector {
	tb.t.Helper()
	return inspector(tb.t, tb.b, name)
}

func inspector(t *testing.T, b *redisxtest.Backend, name string) *task.Inspector {
	t.Helper()
	in, err := task.NewInspector(b.Client, b.Prefix, name)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// worker opens queue name as another process would (its own client) and
// runs a worker with a handler tagged tag.
func (tb *bundle) worker(t *testing.T, tag, name string, opts ...task.RunOption) (*handler, func()) {
	t.Helper()
	h := newHandler(tag)
	q, err := task.New[job, *res](secondClient(t, tb.b), tb.b.Prefix, name,
		task.WithBackoff(func(int, error) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	return h, listen(t, q, h.Handle, opts...)
}

// fast are worker options that keep real-server tests short.
func fast() []task.RunOption {
	return []task.RunOption{task.Heartbeat(50 * time.Millisecond), task.Grace(5 * time.Second)}
}

func setup(t *testing.T, b *redisxtest.Backend, opts ...task.Option) *bundle {
	t.Helper()
	h := newHandler("main")
	opts = append([]task.Option{task.WithBackoff(func(int, error) time.Duration { return 10 * time.Millisecond })}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	tb := &bundle{t: t, b: b, h: h, ctx: ctx, opts: opts, queues: map[string]*task.Queue[job, *res]{}}
	tb.q = tb.on("work")
	return tb
}

// listen runs q.Run with h in the background until the test ends (or stop
// is called) and waits until the worker is registered.
func listen(t *testing.T, q *task.Queue[job, *res], h task.Handler[job, *res], opts ...task.RunOption) (stop func()) {
	t.Helper()
	in := inspectorOf(t, q)
	st, err := in.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before := st.Workers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, h, append(fast(), opts...)...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, "worker registered", func() bool {
		st, err := in.Stats(context.Background())
		return err == nil && st.Workers > before
	})
	return stop
}

// inspectorOf returns an inspector of q's queue on q's client.
func inspectorOf[P, R any](t *testing.T, q *task.Queue[P, R]) *task.Inspector {
	t.Helper()
	in, err := task.InspectorOf(q)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// secondClient connects another client to the backend, as another process
// would; it is closed when the test ends.
func secondClient(t *testing.T, b *redisxtest.Backend) rueidis.Client {
	t.Helper()
	c := dial(t, b)
	var once sync.Once
	t.Cleanup(func() { once.Do(c.Close) })
	return c
}

// dial connects a client the caller must close.
func dial(t *testing.T, b *redisxtest.Backend) rueidis.Client {
	t.Helper()
	var c rueidis.Client
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch b.Name {
	case redisxtest.BackendMini:
		c, err = rueidis.NewClient(redisx.EmbeddedClientOption(b.Mini.Addr()))
	case redisxtest.BackendStandalone:
		c, err = redisx.Connect(ctx, os.Getenv(redisxtest.EnvRedisURL))
	case redisxtest.BackendCluster:
		c, err = redisx.Connect(ctx, "redis://"+strings.TrimSpace(os.Getenv(redisxtest.EnvClusterAddrs)))
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listenAny runs q.Run with h in the background until stop is called or
// the test ends; it returns once the worker is registered.
func listenAny[P, R any](t *testing.T, q *task.Queue[P, R], h task.Handler[P, R], opts ...task.RunOption) (stop func()) {
	t.Helper()
	in := inspectorOf(t, q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, h, append(fast(), opts...)...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, "worker registered", func() bool {
		st, err := in.Stats(context.Background())
		return err == nil && st.Workers > 0
	})
	return stop
}
