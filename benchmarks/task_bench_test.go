package benchmarks

// Task queue comparison: redisallocator's task.Queue against
// github.com/hibiken/asynq v0.26.0 on the same redis-server, side by side,
// with 4 workers each and a no-op handler. Every benchmark runs its sides
// in interleaved rounds inside one run (the order rotates each round; a
// side's workers run only during its own turn, so an idle asynq server's
// polling never loads another side's turn) and reports, per side, the
// median over the rounds and, per round, the ratio to asynq:
//
//	cd benchmarks && REDIS_URL=redis://127.0.0.1:PORT go test -run '^$' -bench 'Task' -benchtime 3000x -task.rounds 5
//
// b.N is the number of tasks per side per round, so use -benchtime Nx.
// The sides:
//
//   - redisallocator: task.Queue, results kept for the retention period
//     (24 h by default) and deduplication by id;
//   - asynq-1ms: asynq with TaskCheckInterval 1 ms, its fastest setting
//     (an idle processor polls Redis every millisecond);
//   - asynq-1s: asynq with its default TaskCheckInterval (1 s). asynq
//     deletes a task once it ran (no Retention), and Enqueue keeps no id
//     (no TaskID option), so neither result nor deduplication.
//
// Benchmarks:
//
//   - BenchmarkTaskThroughput: submitters enqueue b.N tasks while the
//     workers process them; the clock stops when the last one has run.
//   - BenchmarkTaskEnqueue: the same submissions with no worker running.
//   - BenchmarkTaskRoundTrip: each submitter submits one task and waits for
//     it, b.N in all (not asynq-1s: its idle processor sleeps up to 1 s
//     before each task). For redisallocator that is Query with Remote: the
//     result comes back through Redis. asynq has no result path: its round
//     trip ends when the handler (in the same process) signals the
//     submitter over a Go channel, a lower bound for any result delivery.
//
// Per side: tasks/s, for round trips p50-ms and p99-ms, and the Redis CPU
// per task from INFO (server-µs/task: used_cpu_sys+user, so it assumes the
// server serves nothing else) and from INFO commandstats (script-µs/task:
// the usec of EVAL/EVALSHA, which includes the commands the scripts call;
// cmds/task: every command counted, those scripts call included). The
// rounds' figures are logged, with the commandstats of the last round.

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
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

var (
	taskRounds = flag.Int("task.rounds", 5, "interleaved rounds of the Task benchmarks")
	taskOnly   = flag.String("task.only", "", "run only the Task benchmark sides with this name (for profiles)")
)

// taskSubmitters are the concurrency levels of the submitting side.
var taskSubmitters = []int{1, 8}

// taskWorkers is how many handlers each side runs at once.
const taskWorkers = 4

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

var taskSeq atomic.Int64

// taskUnique names one side's queue, so runs never share state.
func taskUnique() string {
	return "tb" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(taskSeq.Add(1), 36)
}

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

// serverStats is what one side's turn cost the server.
type serverStats struct {
	cpu   time.Duration
	cmds  map[string][2]int64 // command -> calls, usec
	valid bool
}

func readServerStats(c rueidis.Client) serverStats {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := serverStats{cmds: map[string][2]int64{}}
	txt, err := c.Do(ctx, c.B().Info().Section("cpu").Section("commandstats").Build()).ToString()
	if err != nil {
		return s
	}
	for line := range strings.SplitSeq(txt, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			s.cpu += time.Duration(f * float64(time.Second))
			s.valid = true
		case strings.HasPrefix(k, "cmdstat_"):
			var calls, usec int64
			for kv := range strings.SplitSeq(v, ",") {
				name, val, _ := strings.Cut(kv, "=")
				switch name {
				case "calls":
					calls, _ = strconv.ParseInt(val, 10, 64)
				case "usec":
					usec, _ = strconv.ParseInt(val, 10, 64)
				}
			}
			s.cmds[strings.TrimPrefix(k, "cmdstat_")] = [2]int64{calls, usec}
		}
	}
	return s
}

// sub returns s − before.
func (s serverStats) sub(before serverStats) serverStats {
	out := serverStats{cpu: s.cpu - before.cpu, cmds: map[string][2]int64{}, valid: s.valid && before.valid}
	for k, v := range s.cmds {
		b := before.cmds[k]
		if d := [2]int64{v[0] - b[0], v[1] - b[1]}; d[0] > 0 {
			out.cmds[k] = d
		}
	}
	return out
}

func (s serverStats) scriptUsec() int64 {
	var n int64
	for _, k := range []string{"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall"} {
		n += s.cmds[k][1]
	}
	return n
}

func (s serverStats) calls() int64 {
	var n int64
	for _, v := range s.cmds {
		n += v[0]
	}
	return n
}

// top lists the commands by usec, for the log.
func (s serverStats) top(tasks int) string {
	names := make([]string, 0, len(s.cmds))
	for k := range s.cmds {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return s.cmds[names[i]][1] > s.cmds[names[j]][1] })
	var sb strings.Builder
	for i, k := range names {
		if i == 14 {
			break
		}
		v := s.cmds[k]
		fmt.Fprintf(&sb, " %s %.2f/task %.2fµs/call;", k, float64(v[0])/float64(tasks), float64(v[1])/float64(max(v[0], 1)))
	}
	return sb.String()
}

// taskTurn is one side's result in one round.
type taskTurn struct {
	rate      float64 // tasks/s
	p50, p99  time.Duration
	serverUS  float64 // server CPU µs per task
	scriptUS  float64
	cmdsPer   float64
	stats     serverStats
	latencies bool
}

// taskSide runs one turn of n tasks and returns tasks/s and, for round
// trips, the sorted latencies; setup and teardown are not timed.
type taskSide struct {
	name string
	turn func(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration)
}

// taskCompare runs the sides in rounds, rotating their order, and reports.
func taskCompare(b *testing.B, sides []taskSide) {
	e := taskSetup(b)
	if *taskOnly != "" {
		sides = slices.DeleteFunc(slices.Clone(sides), func(s taskSide) bool { return s.name != *taskOnly })
		if len(sides) == 0 {
			b.Skipf("no side named %q", *taskOnly)
		}
	}
	// Warm-up: scripts loaded, connections open.
	for _, s := range sides {
		s.turn(b, e, 8, min(b.N, 200))
	}
	rounds := max(*taskRounds, 1)
	res := make([][]taskTurn, len(sides))
	subs := taskSubs(b)
	for r := range rounds {
		for j := range sides {
			i := (j + r) % len(sides)
			before := readServerStats(e.rc)
			d, lat := sides[i].turn(b, e, subs, b.N)
			st := readServerStats(e.rc).sub(before)
			t := taskTurn{rate: float64(b.N) / d.Seconds(), stats: st}
			if st.valid {
				t.serverUS = float64(st.cpu.Microseconds()) / float64(b.N)
				t.scriptUS = float64(st.scriptUsec()) / float64(b.N)
				t.cmdsPer = float64(st.calls()) / float64(b.N)
			}
			if lat != nil {
				t.latencies = true
				t.p50, t.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
			}
			res[i] = append(res[i], t)
		}
	}
	b.StopTimer()
	for i, s := range sides {
		ts := res[i]
		rate := medRange(ts, func(t taskTurn) float64 { return t.rate })
		b.ReportMetric(rate[0], s.name+"-tasks/s")
		line := fmt.Sprintf("%-15s tasks/s %s", s.name, fmtRange(rate, "%.0f"))
		if ts[0].latencies {
			p50 := medRange(ts, func(t taskTurn) float64 { return float64(t.p50.Microseconds()) / 1000 })
			p99 := medRange(ts, func(t taskTurn) float64 { return float64(t.p99.Microseconds()) / 1000 })
			b.ReportMetric(p50[0], s.name+"-p50-ms")
			b.ReportMetric(p99[0], s.name+"-p99-ms")
			line += "  p50-ms " + fmtRange(p50, "%.2f") + "  p99-ms " + fmtRange(p99, "%.2f")
		}
		srv := medRange(ts, func(t taskTurn) float64 { return t.serverUS })
		scr := medRange(ts, func(t taskTurn) float64 { return t.scriptUS })
		cmds := medRange(ts, func(t taskTurn) float64 { return t.cmdsPer })
		b.ReportMetric(srv[0], s.name+"-server-µs/task")
		b.ReportMetric(scr[0], s.name+"-script-µs/task")
		line += "  server-µs/task " + fmtRange(srv, "%.1f") + "  script-µs/task " + fmtRange(scr, "%.1f") +
			"  cmds/task " + fmtRange(cmds, "%.1f")
		if i > 0 {
			// Per round: redisallocator ÷ this side (tasks/s; p50 for round trips).
			ratio := make([]taskTurn, len(ts))
			for r := range ts {
				ratio[r].rate = res[0][r].rate / ts[r].rate
				if ts[r].latencies {
					ratio[r].serverUS = float64(res[0][r].p50) / float64(max(ts[r].p50, 1))
				}
			}
			q := medRange(ratio, func(t taskTurn) float64 { return t.rate })
			b.ReportMetric(q[0], "ratio-vs-"+s.name)
			line += "  redisallocator÷this tasks/s " + fmtRange(q, "%.2f")
			if ts[0].latencies {
				p := medRange(ratio, func(t taskTurn) float64 { return t.serverUS })
				b.ReportMetric(p[0], "p50-ratio-vs-"+s.name)
				line += "  p50 ratio " + fmtRange(p, "%.2f")
			}
		}
		b.Log(line)
		b.Logf("%-15s commandstats (last round):%s", s.name, ts[len(ts)-1].stats.top(b.N))
	}
	b.ReportMetric(0, "ns/op")
}

// taskSubs reads the submitters from the sub-benchmark's name.
func taskSubs(b *testing.B) int {
	_, v, _ := strings.Cut(b.Name(), "submitters=")
	v, _, _ = strings.Cut(v, "-")
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("no submitters in %q", b.Name())
	}
	return n
}

// medRange returns median, min and max of f over ts.
func medRange(ts []taskTurn, f func(taskTurn) float64) [3]float64 {
	v := make([]float64, len(ts))
	for i, t := range ts {
		v[i] = f(t)
	}
	slices.Sort(v)
	return [3]float64{v[len(v)/2], v[0], v[len(v)-1]}
}

func fmtRange(r [3]float64, f string) string {
	return fmt.Sprintf(f+" ("+f+"–"+f+")", r[0], r[1], r[2])
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

// raQueue makes a fresh queue, deleted when the benchmark ends.
func raQueue(b *testing.B, e *taskBenchEnv) (*task.Queue[int, int], *task.Inspector) {
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
	return q, in
}

func raProcess(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration) {
	q, in := raQueue(b, e)
	counter := newTaskCounter(n)
	stop := taskListen(b, q, in, taskNoop{counter}.Handle)
	defer stop()
	ctx := context.Background()
	start := time.Now()
	taskSubmit(b, subs, n, func(i int) error {
		_, err := q.Submit(ctx, strconv.Itoa(i), i, task.NoWait())
		return err
	})
	<-counter.done
	return time.Since(start), nil
}

func raEnqueue(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration) {
	q, _ := raQueue(b, e)
	ctx := context.Background()
	start := time.Now()
	taskSubmit(b, subs, n, func(i int) error {
		_, err := q.Submit(ctx, strconv.Itoa(i), i, task.NoWait())
		return err
	})
	return time.Since(start), nil
}

func raRoundTrip(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration) {
	q, in := raQueue(b, e)
	stop := taskListen(b, q, in, taskNoop{}.Handle)
	defer stop()
	ctx := context.Background()
	lat := make([]time.Duration, n+1)
	start := time.Now()
	taskSubmit(b, subs, n, func(i int) error {
		t := time.Now()
		_, err := q.Query(ctx, strconv.Itoa(i), i, task.Remote())
		lat[i] = time.Since(t)
		return err
	})
	d := time.Since(start)
	l := lat[1:]
	slices.Sort(l)
	return d, l
}

// asynqSide is an asynq server with the given TaskCheckInterval.
type asynqSide struct{ check time.Duration }

func (a asynqSide) start(b *testing.B, e *taskBenchEnv, queue string, h func(context.Context, *asynq.Task) error) (*asynq.Client, func()) {
	opt, err := asynq.ParseRedisURI(e.raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { taskCleanAsynq(e, queue) })
	client := asynq.NewClient(opt)
	if h == nil {
		return client, func() { _ = client.Close() }
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: taskWorkers, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: a.check,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", h)
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	return client, func() {
		srv.Shutdown()
		_ = client.Close()
	}
}

func (a asynqSide) process(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration) {
	queue, counter := taskUnique(), newTaskCounter(n)
	client, stop := a.start(b, e, queue, func(context.Context, *asynq.Task) error {
		counter.add()
		return nil
	})
	defer stop()
	start := time.Now()
	taskSubmit(b, subs, n, func(i int) error {
		_, err := client.Enqueue(asynq.NewTask("noop", []byte(strconv.Itoa(i))), asynq.Queue(queue))
		return err
	})
	<-counter.done
	return time.Since(start), nil
}

func (a asynqSide) enqueue(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration) {
	queue := taskUnique()
	client, stop := a.start(b, e, queue, nil)
	defer stop()
	start := time.Now()
	taskSubmit(b, subs, n, func(i int) error {
		_, err := client.Enqueue(asynq.NewTask("noop", []byte(strconv.Itoa(i))), asynq.Queue(queue))
		return err
	})
	return time.Since(start), nil
}

func (a asynqSide) roundTrip(b *testing.B, e *taskBenchEnv, subs, n int) (time.Duration, []time.Duration) {
	queue := taskUnique()
	done := make([]chan struct{}, n+1)
	for i := range done {
		done[i] = make(chan struct{})
	}
	client, stop := a.start(b, e, queue, func(_ context.Context, t *asynq.Task) error {
		i, err := strconv.Atoi(string(t.Payload()))
		if err != nil || i < 1 || i > n {
			return fmt.Errorf("bad payload %q", t.Payload())
		}
		close(done[i])
		return nil
	})
	defer stop()
	lat := make([]time.Duration, n+1)
	start := time.Now()
	taskSubmit(b, subs, n, func(i int) error {
		t := time.Now()
		if _, err := client.Enqueue(asynq.NewTask("noop", []byte(strconv.Itoa(i))), asynq.Queue(queue)); err != nil {
			return err
		}
		<-done[i]
		lat[i] = time.Since(t)
		return nil
	})
	d := time.Since(start)
	l := lat[1:]
	slices.Sort(l)
	return d, l
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

var (
	asynq1ms = asynqSide{check: time.Millisecond}
	asynq1s  = asynqSide{} // the default, 1 s
)

func taskBench(b *testing.B, sides []taskSide) {
	for _, subs := range taskSubmitters {
		b.Run("submitters="+strconv.Itoa(subs), func(b *testing.B) { taskCompare(b, sides) })
	}
}

func BenchmarkTaskThroughput(b *testing.B) {
	taskBench(b, []taskSide{
		{"redisallocator", raProcess}, {"asynq-1ms", asynq1ms.process}, {"asynq-1s", asynq1s.process},
	})
}

func BenchmarkTaskEnqueue(b *testing.B) {
	taskBench(b, []taskSide{{"redisallocator", raEnqueue}, {"asynq", asynq1ms.enqueue}})
}

func BenchmarkTaskRoundTrip(b *testing.B) {
	taskBench(b, []taskSide{
		{"redisallocator", raRoundTrip}, {"asynq-1ms", asynq1ms.roundTrip},
	})
}
