package redisallocatortest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// fakeT records what a helper reports; its Fatal ends the goroutine as
// testing.T's does.
type fakeT struct {
	testing.TB
	msg    string
	failed bool
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runFake runs fn with a fakeT on its own goroutine (Fatalf ends it) and
// returns what it recorded.
func runFake(t *testing.T, fn func(tb testing.TB)) *fakeT {
	t.Helper()
	f := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestNewServerClosesAtCleanup(t *testing.T) {
	t.Parallel()
	var srv *redisallocatortest.Server
	ran := false
	t.Run("Inner", func(t *testing.T) {
		srv = redisallocatortest.NewServer(t)
		ctx := context.Background()
		c := srv.Client()
		if err := c.Do(ctx, c.B().Set().Key("k").Value("v").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if srv.URL() != "redis://"+srv.Miniredis().Addr() {
			t.Errorf("URL %q does not name Addr %q", srv.URL(), srv.Miniredis().Addr())
		}
		// A second client, as the Client doc says: Connect to the URL
		// (caching falls back to off by itself). It sees the same data.
		rc, err := redisallocator.Connect(ctx, srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if v, err := rc.Do(ctx, rc.B().Get().Key("k").Build()).ToString(); v != "v" || err != nil {
			t.Fatalf("second client reads %q, %v", v, err)
		}
		ran = true
	})
	if !ran {
		t.Fatal("subtest did not run")
	}
	ctx := context.Background()
	c := srv.Client()
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err == nil {
		t.Error("client still works after the test's cleanup")
	}
	srv.Close() // a second Close is harmless
}

// TestAdvance: Advance moves TIME and key TTLs together, and the clock then
// stays where Advance left it.
func TestAdvance(t *testing.T) {
	t.Parallel()
	srv := redisallocatortest.NewServer(t)
	ctx := context.Background()
	c := srv.Client()
	serverTime := func() time.Time {
		ts, err := c.Do(ctx, c.B().Time().Build()).AsStrSlice()
		if err != nil || len(ts) != 2 {
			t.Fatalf("TIME: %q, %v", ts, err)
		}
		var s, us int64
		_, _ = fmt.Sscan(ts[0], &s)
		_, _ = fmt.Sscan(ts[1], &us)
		return time.Unix(s, us*1000)
	}
	if err := c.Do(ctx, c.B().Set().Key("lease").Value("1").Px(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	before := serverTime()
	srv.Advance(59 * time.Second)
	if n, _ := c.Do(ctx, c.B().Exists().Key("lease").Build()).AsInt64(); n != 1 {
		t.Fatal("key expired a second before its TTL")
	}
	srv.Advance(2 * time.Second)
	if n, _ := c.Do(ctx, c.B().Exists().Key("lease").Build()).AsInt64(); n != 0 {
		t.Fatal("key still there after its TTL passed on the server clock")
	}
	after := serverTime()
	if d := after.Sub(before); d < 61*time.Second || d > 62*time.Second {
		t.Errorf("TIME moved %v, want 61s (+ the test's own run time)", d)
	}
	time.Sleep(20 * time.Millisecond)
	if got := serverTime(); !got.Equal(after) {
		t.Errorf("clock moved by itself after Advance: %v -> %v", after, got)
	}
}

func TestAdvanceRefusesNegative(t *testing.T) {
	t.Parallel()
	srv := redisallocatortest.NewServer(t)
	defer func() {
		if recover() == nil {
			t.Error("Advance(-1s) did not panic")
		}
	}()
	srv.Advance(-time.Second)
}

// TestAdvanceLapsesPoolLease: a pool lease lapses when the server clock
// passes its deadline, and the member goes to the next caller.
func TestAdvanceLapsesPoolLease(t *testing.T) {
	t.Parallel()
	srv := redisallocatortest.NewServer(t)
	ctx := context.Background()
	p, err := pool.New[string](srv.Client(), "test", "proxies")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddKeys(ctx, []string{"p1"}); err != nil {
		t.Fatal(err)
	}
	first, err := p.Malloc(ctx, pool.LeaseTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Malloc(ctx); !errors.Is(err, pool.ErrEmpty) {
		t.Fatalf("second malloc: %v, want ErrEmpty", err)
	}
	srv.Advance(time.Minute + time.Millisecond)
	l, err := p.Malloc(ctx)
	if err != nil {
		t.Fatalf("malloc after the lease lapsed: %v", err)
	}
	if l.Key != "p1" || l.Fence() <= first.Fence() {
		t.Errorf("got %s fence %d, want p1 with a fence above %d", l.Key, l.Fence(), first.Fence())
	}
	redisallocatortest.RequirePoolValid(t, p.Admin())
}

func TestRequirePoolValid(t *testing.T) {
	t.Parallel()
	srv := redisallocatortest.NewServer(t)
	ctx := context.Background()
	p, err := pool.New[string](srv.Client(), "test", "proxies")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddKeys(ctx, []string{"p1", "p2"}); err != nil {
		t.Fatal(err)
	}
	held, err := p.Malloc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := redisallocatortest.RequirePoolValid(t, p.Admin())
	if s.Counts.Free != 1 || s.Counts.Held != 1 {
		t.Errorf("snapshot counts %+v, want 1 free and 1 held", s.Counts)
	}

	// Corrupt the pool: the held member is also listed as free.
	var free string
	for _, k := range srv.Miniredis().Keys() {
		if strings.HasSuffix(k, ":free") {
			free = k
		}
	}
	if free == "" {
		t.Fatalf("no free-set key among %q", srv.Miniredis().Keys())
	}
	if _, err := srv.Miniredis().ZAdd(free, 1, held.Key); err != nil {
		t.Fatal(err)
	}
	f := runFake(t, func(tb testing.TB) { redisallocatortest.RequirePoolValid(tb, p.Admin()) })
	if !f.failed || !strings.Contains(f.msg, "invariants violated") || !strings.Contains(f.msg, held.Key) {
		t.Errorf("corrupt pool: failed %v, message %q", f.failed, f.msg)
	}
}

type snapshotFunc func(context.Context) (*pool.Snapshot, error)

func (f snapshotFunc) Snapshot(ctx context.Context) (*pool.Snapshot, error) { return f(ctx) }

func TestRequirePoolValidReadError(t *testing.T) {
	t.Parallel()
	broken := snapshotFunc(func(context.Context) (*pool.Snapshot, error) { return nil, errors.New("boom") })
	f := runFake(t, func(tb testing.TB) { redisallocatortest.RequirePoolValid(tb, broken) })
	if !f.failed || !strings.Contains(f.msg, "boom") {
		t.Errorf("failed %v, message %q", f.failed, f.msg)
	}
}

type statsFunc func(context.Context) (task.Stats, error)

func (f statsFunc) Stats(ctx context.Context) (task.Stats, error) { return f(ctx) }

func TestRequireQueueValid(t *testing.T) {
	t.Parallel()
	srv := redisallocatortest.NewServer(t)
	ctx := context.Background()
	q, err := task.New[string, string](srv.Client(), "test", "echo")
	if err != nil {
		t.Fatal(err)
	}
	in, err := task.NewInspector(srv.Client(), "test", "echo")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := q.Submit(ctx, fmt.Sprint("t", i), "hello", task.Remote(), task.NoWait()); err != nil {
			t.Fatal(err)
		}
	}
	st := redisallocatortest.RequireQueueValid(t, in)
	if st.Ready != 3 || st.Records != 3 {
		t.Errorf("stats %+v, want 3 ready and 3 records", st)
	}

	// Corrupt the queue: an id in the ready set with no record.
	var ready string
	for _, k := range srv.Miniredis().Keys() {
		if strings.HasSuffix(k, ":ready") {
			ready = k
		}
	}
	if ready == "" {
		t.Fatalf("no ready-set key among %q", srv.Miniredis().Keys())
	}
	if _, err := srv.Miniredis().ZAdd(ready, 1, "ghost"); err != nil {
		t.Fatal(err)
	}
	f := runFake(t, func(tb testing.TB) { redisallocatortest.RequireQueueValid(tb, in) })
	if !f.failed || !strings.Contains(f.msg, "4 tasks listed") || !strings.Contains(f.msg, "3 records") {
		t.Errorf("corrupt queue: failed %v, message %q", f.failed, f.msg)
	}

	for _, tc := range []struct {
		name  string
		stats statsFunc
		want  string
	}{
		{"ReadError", func(context.Context) (task.Stats, error) { return task.Stats{}, errors.New("boom") }, "boom"},
		{"Negative", func(context.Context) (task.Stats, error) { return task.Stats{Running: -1}, nil }, "running count -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := runFake(t, func(tb testing.TB) { redisallocatortest.RequireQueueValid(tb, tc.stats) })
			if !f.failed || !strings.Contains(f.msg, tc.want) {
				t.Errorf("failed %v, message %q, want %q", f.failed, f.msg, tc.want)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	redisallocatortest.WaitFor(t, 5*time.Second, func() bool { return calls.Add(1) == 3 })
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	start := time.Now()
	calls.Store(0)
	f := runFake(t, func(tb testing.TB) {
		redisallocatortest.WaitFor(tb, 100*time.Millisecond, func() bool { calls.Add(1); return false })
	})
	if !f.failed || !strings.Contains(f.msg, "not met within 100ms") {
		t.Errorf("failed %v, message %q", f.failed, f.msg)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("gave up after %v, before the timeout", d)
	}
	if n := calls.Load(); n < 3 {
		t.Errorf("cond called %d times in 100ms", n)
	}
}
