package benchmarks

// Task queue comparison: redisallocator's task.Queue against
// github.com/hibiken/asynq on the same redis-server, side by side.
//
//	cd benchmarks && REDIS_URL=redis://127.0.0.1:6379 go test -run '^$' -bench 'Task' -benchtime 5000x -count 3
//
// BenchmarkTaskThroughput: submitters enqueue b.N no-op tasks while 64
// workers process them; the clock stops when the last one has run, so the
// figure is enqueue+process throughput. BenchmarkTaskRoundTrip: submit, run
// remotely and get the result back to the waiting caller (asynq has no
// result path, so it has no round-trip figure).

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/task"
)

// taskSubmitters are the concurrency levels of the submitting side; both
// implementations run taskWorkers workers.
var taskSubmitters = []int{1, 8, 64}

const taskWorkers = 64

type taskBenchEnv struct {
	raw string
	rc  rueidis.Client
}

func taskSetup(b *testing.B) *taskBenchEnv {
	b.Helper()
	raw := os.Getenv("REDIS_URL")
	if raw == "" {
		b.Skip("REDIS_URL not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := redisx.Connect(ctx, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rc.Close)
	return &taskBenchEnv{raw: raw, rc: rc}
}

// taskUnique names one benchmark run's queue, so runs never share state.
func taskUnique() string { return "tb" + strconv.FormatInt(time.Now().UnixNano(), 36) }

// taskDeleteKeys deletes the keys matching pattern on every node.
func taskDeleteKeys(c rueidis.Client, pattern string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return
			}
			for _, k := range e.Elements {
				_ = c.Do(ctx, c.B().Del().Key(k).Build()).Error()
			}
			if cursor = e.Cursor; cursor == 0 {
				return
			}
		}
	}
}

// taskSubmit runs fn(i) for i in 1..n from submitters goroutines.
func taskSubmit(b *testing.B, submitters, n int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range submitters {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// taskCounter closes done when it has counted n.
type taskCounter struct {
	n     int64
	count atomic.Int64
	done  chan struct{}
}

func newTaskCounter(n int) *taskCounter { return &taskCounter{n: int64(n), done: make(chan struct{})} }

func (c *taskCounter) add() {
	if c.count.Add(1) == c.n {
		close(c.done)
	}
}

type taskNoop struct{ c *taskCounter }

func (h taskNoop) Handle(context.Context, *task.Task[int]) (int, error) {
	if h.c != nil {
		h.c.add()
	}
	return 0, nil
}

// taskListen starts a worker with taskWorkers handlers and waits until it
// is registered.
func taskListen(b *testing.B, q *task.Queue[int, int], in *task.Inspector, h task.Handler[int, int]) (stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, h, task.Workers(taskWorkers)) }()
	for {
		st, err := in.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if st.Workers > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

func BenchmarkTaskThroughput(b *testing.B) {
	for _, subs := range taskSubmitters {
		b.Run("impl=redisallocator/submitters="+strconv.Itoa(subs), func(b *testing.B) {
			e := taskSetup(b)
			prefix, counter := taskUnique(), newTaskCounter(b.N)
			b.Cleanup(func() { taskDeleteKeys(e.rc, prefix+":*") })
			q, err := task.New[int, int](e.rc, prefix, "bench")
			if err != nil {
				b.Fatal(err)
			}
			in, err := task.NewInspector(e.rc, prefix, "bench")
			if err != nil {
				b.Fatal(err)
			}
			stop := taskListen(b, q, in, taskNoop{counter}.Handle)
			defer stop()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			taskSubmit(b, subs, b.N, func(i int) error {
				_, err := q.Submit(ctx, strconv.Itoa(i), i, task.NoWait())
				return err
			})
			<-counter.done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
		b.Run("impl=asynq/submitters="+strconv.Itoa(subs), func(b *testing.B) {
			e := taskSetup(b)
			opt, err := asynq.ParseRedisURI(e.raw)
			if err != nil {
				b.Fatal(err)
			}
			queue, counter := taskUnique(), newTaskCounter(b.N)
			b.Cleanup(func() { taskCleanAsynq(e, queue) })
			client := asynq.NewClient(opt)
			defer func() { _ = client.Close() }()
			srv := asynq.NewServer(opt, asynq.Config{
				Concurrency: taskWorkers, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel,
			})
			mux := asynq.NewServeMux()
			mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
				counter.add()
				return nil
			})
			if err := srv.Start(mux); err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown()
			b.ReportAllocs()
			b.ResetTimer()
			taskSubmit(b, subs, b.N, func(i int) error {
				_, err := client.Enqueue(asynq.NewTask("noop", []byte(strconv.Itoa(i))), asynq.Queue(queue))
				return err
			})
			<-counter.done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// taskCleanAsynq deletes what asynq kept of one queue: its hash-tagged keys
// and its entry in the queue set. Server and worker heartbeats expire.
func taskCleanAsynq(e *taskBenchEnv, queue string) {
	c := e.rc
	if u, err := url.Parse(e.raw); err == nil && strings.Trim(u.Path, "/") != "" && strings.Trim(u.Path, "/") != "0" {
		return // rc is on database 0; keys in another database are left alone
	}
	taskDeleteKeys(c, "asynq:{"+queue+"}*")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Do(ctx, c.B().Srem().Key("asynq:queues").Member(queue).Build()).Error()
}

func BenchmarkTaskRoundTrip(b *testing.B) {
	for _, subs := range taskSubmitters {
		b.Run("impl=redisallocator/submitters="+strconv.Itoa(subs), func(b *testing.B) {
			e := taskSetup(b)
			prefix := taskUnique()
			b.Cleanup(func() { taskDeleteKeys(e.rc, prefix+":*") })
			q, err := task.New[int, int](e.rc, prefix, "bench")
			if err != nil {
				b.Fatal(err)
			}
			in, err := task.NewInspector(e.rc, prefix, "bench")
			if err != nil {
				b.Fatal(err)
			}
			stop := taskListen(b, q, in, taskNoop{}.Handle)
			defer stop()
			ctx := context.Background()
			lat := make([]time.Duration, b.N+1)
			b.ReportAllocs()
			b.ResetTimer()
			taskSubmit(b, subs, b.N, func(i int) error {
				start := time.Now()
				_, err := q.Query(ctx, strconv.Itoa(i), i, task.Remote(), task.Once())
				lat[i] = time.Since(start)
				return err
			})
			b.StopTimer()
			l := lat[1:]
			slices.Sort(l)
			b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
