package task_test

import (
	"context"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// benchClient connects to REDIS_URL, or starts an embedded Redis.
func benchClient(b *testing.B) rueidis.Client {
	b.Helper()
	if url := os.Getenv(redisxtest.EnvRedisURL); url != "" {
		c, err := redisx.Connect(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		return c
	}
	return redisallocatortest.NewServer(b).Client()
}

type noop struct{}

func (noop) Handle(context.Context, *task.Task[int]) (int, error) { return 0, nil }

func benchQueue(b *testing.B, c rueidis.Client) (*task.Queue[int, int], string) {
	b.Helper()
	prefix := redisxtest.NewPrefix()
	q, err := task.New[int, int](c, prefix, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cleanPrefix(c, prefix) })
	return q, prefix
}

func cleanPrefix(c rueidis.Client, prefix string) {
	ctx := context.Background()
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return
			}
			for _, k := range e.Elements {
				_ = c.Do(ctx, c.B().Del().Key(k).Build()).Error()
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
}

func runWorker(b *testing.B, q *task.Queue[int, int], workers int) func() {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, noop{}.Handle, task.Workers(workers)) }()
	in, err := task.InspectorOf(q)
	if err != nil {
		b.Fatal(err)
	}
	for {
		st, _ := in.Stats(context.Background())
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

// BenchmarkEnqueueProcess: submitters enqueue b.N tasks, 64 workers run
// them; the clock stops when the last is done.
func BenchmarkEnqueueProcess(b *testing.B) {
	for _, submitters := range []int{1, 8, 64} {
		b.Run("submitters="+strconv.Itoa(submitters), func(b *testing.B) {
			c := benchClient(b)
			q, _ := benchQueue(b, c)
			stop := runWorker(b, q, 64)
			defer stop()
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range submitters {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := q.Submit(ctx, strconv.FormatInt(i, 10), int(i), task.NoWait()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			in, err := task.InspectorOf(q)
			if err != nil {
				b.Fatal(err)
			}
			for {
				st, err := in.Stats(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if st.Ready+st.Running+st.Delayed == 0 {
					break
				}
				time.Sleep(200 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// BenchmarkRoundTrip: Query(Remote) from submitters, 64 workers.
func BenchmarkRoundTrip(b *testing.B) {
	for _, submitters := range []int{1, 8, 64} {
		b.Run("submitters="+strconv.Itoa(submitters), func(b *testing.B) {
			c := benchClient(b)
			q, _ := benchQueue(b, c)
			stop := runWorker(b, q, 64)
			defer stop()
			ctx := context.Background()
			var next atomic.Int64
			lat := make([]time.Duration, b.N+1)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range submitters {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						start := time.Now()
						if _, err := q.Query(ctx, strconv.FormatInt(i, 10), int(i), task.Remote()); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(start)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			l := lat[1:]
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
