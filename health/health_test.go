package health_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run heartbeats s until the returned stop is called (or the test ends),
// as a worker's main would with go s.Run(ctx).
func run(t *testing.T, s *health.Session) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithLabels(map[string]string{"role": "crawler"}),
			health.WithInterval(50*time.Millisecond), health.WithTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		runErr := make(chan error, 1)
		go func() { runErr <- s.Run(context.Background()) }()
		reg, err := health.NewRegistry(b.Client, b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := reg.Workers(ctx)
		if err != nil || len(ws) != 1 {
			t.Fatalf("Workers = %+v, %v", ws, err)
		}
		w := ws[0]
		if w.ID != s.ID() || !w.Alive || w.Labels["role"] != "crawler" || w.PID == 0 || w.Timeout != time.Second || w.Started.IsZero() {
			t.Fatalf("worker %+v", w)
		}
		time.Sleep(300 * time.Millisecond) // several heartbeats
		if s.Context().Err() != nil {
			t.Fatalf("live session lost: %v", context.Cause(s.Context()))
		}
		if !s.Valid() {
			t.Fatal("live session not Valid")
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-runErr; !errors.Is(err, health.ErrClosed) {
			t.Errorf("Run after Close = %v, want ErrClosed", err)
		}
		if s.Valid() {
			t.Error("closed session Valid")
		}
		if !errors.Is(context.Cause(s.Context()), health.ErrClosed) {
			t.Errorf("cause after Close: %v", context.Cause(s.Context()))
		}
		if ws, _ := reg.Workers(ctx); len(ws) != 0 {
			t.Errorf("closed session still listed: %+v", ws)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestSessionIDCollision(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithID("worker-1"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close(ctx) }()
		if _, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithID("worker-1")); !errors.Is(err, health.ErrSessionExists) {
			t.Fatalf("second session with the same id = %v", err)
		}
		// Another group is another name space.
		other, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithID("worker-1"), health.WithGroup("other"))
		if err != nil {
			t.Fatal(err)
		}
		_ = other.Close(ctx)
	})
}

func TestDeadSessionListedAndReaped(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		var mu sync.Mutex
		var events []health.Event
		record := func(e health.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
		s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithInterval(50*time.Millisecond),
			health.WithTimeout(250*time.Millisecond), health.WithEvents(record))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close(ctx) }()
		// Nobody runs s.Run: the process "died" at once, no heartbeats.
		select {
		case <-s.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session context outlived its heartbeat")
		}
		if !errors.Is(context.Cause(s.Context()), health.ErrSessionLost) {
			t.Errorf("cause %v", context.Cause(s.Context()))
		}
		reg, _ := health.NewRegistry(b.Client, b.Prefix, health.WithEvents(record))
		// The session gives up on its own clock, counted from before its
		// registration went out, so Redis's deadline (set when the
		// registration arrived) passes up to a round trip later: wait for it.
		var ws []health.Worker
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			ws, err = reg.Workers(ctx)
			if err != nil || len(ws) != 1 || !ws[0].Alive || time.Now().After(end) {
				break
			}
		}
		if err != nil || len(ws) != 1 || ws[0].Alive {
			t.Fatalf("Workers = %+v, %v; want one dead", ws, err)
		}
		reaped, err := reg.Reap(ctx, 0)
		if err != nil || len(reaped) != 1 || reaped[0].ID != s.ID() {
			t.Fatalf("Reap = %+v, %v", reaped, err)
		}
		if ws, _ := reg.Workers(ctx); len(ws) != 0 {
			t.Fatalf("reaped worker still listed")
		}
		mu.Lock()
		defer mu.Unlock()
		kinds := []health.EventKind{}
		for _, e := range events {
			kinds = append(kinds, e.Kind)
		}
		if !slices.Contains(kinds, health.SessionLost) || !slices.Contains(kinds, health.WorkerDied) {
			t.Errorf("events %v", kinds)
		}
	})
}

// TestKilledWorkersMembersComeBack: a worker on its own client takes
// members under its session and dies; another client gets them back within
// the session timeout, long before the leases would lapse.
func TestKilledWorkersMembersComeBack(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		workerClient := b.NewClient(t)
		const timeout = 400 * time.Millisecond
		s, err := health.NewSession(ctx, workerClient, b.Prefix, health.WithInterval(50*time.Millisecond), health.WithTimeout(timeout), health.WithErrorFunc(func(err error) { t.Log(err) }), health.WithEvents(func(e health.Event) { t.Log(e) }))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close(ctx) }()
		freeze := run(t, s)
		wp, _ := pool.New[string](workerClient, b.Prefix, "gpus")
		if _, err := wp.AddKeys(ctx, []string{"gpu0", "gpu1"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := wp.Malloc(ctx, pool.InSession(s), pool.LeaseTTL(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		// While the worker lives, its heartbeat keeps the leases.
		time.Sleep(3 * timeout)
		other, _ := pool.New[string](b.Client, b.Prefix, "gpus")
		if _, err := other.Malloc(ctx); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("live worker's members handed out: %v", err)
		}
		freeze() // the process "dies": no more heartbeats
		died := time.Now()
		for got := 0; got < 2; {
			l, err := other.Malloc(ctx, pool.LeaseTTL(time.Minute))
			switch {
			case err == nil:
				got++
				_ = l
			case !errors.Is(err, pool.ErrEmpty):
				t.Fatal(err)
			}
			if time.Since(died) > timeout+3*time.Second {
				t.Fatalf("members not back %v after the worker died", time.Since(died))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestSessionLostWhenRedisGone(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	ctx := testCtx(t)
	s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithInterval(20*time.Millisecond), health.WithTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	run(t, s)
	b.Mini.Close()
	select {
	case <-s.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session believed alive with Redis gone")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	ctx := testCtx(t)
	p, _ := pool.New[string](b.Client, b.Prefix, "p")
	probe := func(context.Context, string, string) error { return nil }
	// Every case matches ErrInvalid and its message names the argument;
	// bad names also match the module's ErrInvalidName.
	cases := []struct {
		name, want string
		isName     bool
		f          func() error
	}{
		{"NilClient", "client", false, func() error { _, err := health.NewSession(ctx, nil, "x"); return err }},
		{"ZeroInterval", "WithInterval", false, func() error { _, err := health.NewSession(ctx, b.Client, "x", health.WithInterval(0)); return err }},
		{"ShortTimeout", "WithTimeout", false, func() error {
			_, err := health.NewSession(ctx, b.Client, "x", health.WithInterval(time.Second), health.WithTimeout(time.Second))
			return err
		}},
		{"BadID", "session id", false, func() error { _, err := health.NewSession(ctx, b.Client, "x", health.WithID("a b")); return err }},
		{"BadPrefix", "prefix", true, func() error { _, err := health.NewSession(ctx, b.Client, "{x}"); return err }},
		{"BadGroup", "group", true, func() error { _, err := health.NewRegistry(b.Client, "x", health.WithGroup("")); return err }},
		{"NilOption", "nil option", false, func() error { _, err := health.NewRegistry(b.Client, "x", nil); return err }},
		{"NegativeGrace", "grace", false, func() error {
			_, err := health.NewRegistry(b.Client, "x", health.WithReaper(time.Second, -1))
			return err
		}},
		{"NilProbe", "probe", false, func() error { _, err := health.NewChecker[string](b.Client, "x", p, nil); return err }},
		{"NilTarget", "target", false, func() error { _, err := health.NewChecker[string](b.Client, "x", nil, probe); return err }},
		{"BadCheckerPrefix", "prefix", true, func() error { _, err := health.NewChecker(b.Client, "", p, probe); return err }},
		{"Concurrent", "WithConcurrency", false, func() error {
			_, err := health.NewChecker(b.Client, "x", p, probe, health.WithConcurrency(0))
			return err
		}},
		{"Cooldown", "WithCooldown", false, func() error {
			_, err := health.NewChecker(b.Client, "x", p, probe, health.WithCooldown(time.Minute, time.Second))
			return err
		}},
	}
	for _, c := range cases {
		err := c.f()
		if !errors.Is(err, health.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid naming %q", c.name, err, c.want)
		}
		if got := errors.Is(err, redisallocator.ErrInvalidName); got != c.isName {
			t.Errorf("%s: errors.Is(%v, redisallocator.ErrInvalidName) = %v, want %v", c.name, err, got, c.isName)
		}
	}
	if ks := b.Mini.Keys(); len(ks) != 0 {
		t.Errorf("bad input wrote %q", ks)
	}
}

// TestDefaults checks the defaults the option docs state: group "workers",
// heartbeat every 1s, timeout 5s.
func TestDefaults(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	ctx := testCtx(t)
	s, err := health.NewSession(ctx, b.Client, b.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	if s.Timeout() != 5*time.Second {
		t.Errorf("Timeout() = %v, want 5s", s.Timeout())
	}
	r, err := health.NewRegistry(b.Client, b.Prefix, health.WithGroup("workers"))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := r.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Group != "workers" || ws[0].Interval != time.Second || ws[0].Timeout != 5*time.Second {
		t.Fatalf("workers = %+v, want one in group workers with interval 1s, timeout 5s", ws)
	}
}

// TestChecker covers probing: held members untouched, failures
// quarantined with growing cooldowns, a panicking probe, recovery.
func TestChecker(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		p, _ := pool.New[string](b.Client, b.Prefix, "proxies")
		if _, err := p.Add(ctx, map[string]string{"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3", "d": "10.0.0.4"}); err != nil {
			t.Fatal(err)
		}
		held, err := p.MallocMember(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		probed := map[string]int{}
		broken := map[string]bool{"c": true}
		var events []health.Event
		probe := func(_ context.Context, key, addr string) error {
			mu.Lock()
			probed[key]++
			bad := broken[key]
			mu.Unlock()
			if key == "d" {
				panic("probe bug")
			}
			if addr == "" {
				return errors.New("no value")
			}
			if bad {
				return fmt.Errorf("dial %s: refused", addr)
			}
			return nil
		}
		ck, err := health.NewChecker(b.Client, b.Prefix, p, probe, health.WithCooldown(time.Second, 3*time.Second),
			health.WithEvents(func(e health.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }))
		if err != nil {
			t.Fatal(err)
		}
		res, err := ck.CheckOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(res.Unhealthy)
		if !slices.Equal(res.Healthy, []string{"b"}) || !slices.Equal(res.Unhealthy, []string{"c", "d"}) || len(res.Skipped) != 0 {
			t.Fatalf("first pass %+v", res)
		}
		if probed["a"] != 0 {
			t.Fatal("a member held by someone else was probed")
		}
		for _, k := range []string{"c", "d"} {
			if st := memberState(t, p.Admin(), k); st != pool.StateUnhealthy {
				t.Fatalf("%s is %s after failing", k, st)
			}
		}
		if st := memberState(t, p.Admin(), "b"); st != pool.StateFree {
			t.Fatalf("b left %s after its probe", st)
		}
		// Quarantined members are not handed out.
		for range 3 {
			l, err := p.Malloc(ctx)
			if err != nil {
				break
			}
			if l.Key == "c" || l.Key == "d" {
				t.Fatalf("quarantined %s handed out", l.Key)
			}
			_ = l.Release(ctx)
		}
		// A second failure in a row doubles the cooldown, up to the cap.
		if _, err := ck.CheckOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ck.CheckOnce(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		var cool []time.Duration
		for _, e := range events {
			if e.Kind == health.MemberQuarantined && e.Key == "c" {
				cool = append(cool, e.Cooldown)
			}
		}
		broken["c"] = false
		mu.Unlock()
		if !slices.Equal(cool, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}) {
			t.Fatalf("cooldowns of c: %v, want 1s 2s 3s", cool)
		}
		// Fixed: the next probe brings it back and resets the strikes.
		res, err = ck.CheckOnce(ctx)
		if err != nil || !slices.Contains(res.Healthy, "c") {
			t.Fatalf("recovery pass %+v, %v", res, err)
		}
		if st := memberState(t, p.Admin(), "c"); st != pool.StateFree {
			t.Fatalf("recovered c is %s", st)
		}
		mu.Lock()
		broken["c"] = true
		mu.Unlock()
		if _, err := ck.CheckOnce(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		last := events[len(events)-1]
		recovered := slices.ContainsFunc(events, func(e health.Event) bool { return e.Kind == health.MemberRecovered && e.Key == "c" })
		mu.Unlock()
		if !recovered {
			t.Error("no MemberRecovered event")
		}
		var lastC health.Event
		mu.Lock()
		for _, e := range events {
			if e.Kind == health.MemberQuarantined && e.Key == "c" {
				lastC = e
			}
		}
		mu.Unlock()
		if lastC.Cooldown != time.Second || lastC.Strikes != 1 {
			t.Errorf("after a reset the cooldown is %v (strikes %d), want 1s (1); last event %+v", lastC.Cooldown, lastC.Strikes, last)
		}
		if !slices.ContainsFunc(events, func(e health.Event) bool {
			return e.Key == "d" && e.Err != nil && strings.Contains(e.Err.Error(), "probe panicked")
		}) {
			t.Error("the panicking probe was not reported as a failure")
		}
		_ = held.Release(ctx)
	})
}

// TestRunStopsWithCtx: when Run's ctx ends, Run returns ctx's error and
// the session, no longer renewed, ends by itself at its local deadline:
// within the timeout after the last heartbeat.
func TestRunStopsWithCtx(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	ctx := testCtx(t)
	const timeout = 300 * time.Millisecond
	s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithInterval(20*time.Millisecond), health.WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	time.Sleep(2 * timeout) // heartbeats keep it alive past one timeout
	if !s.Valid() {
		t.Fatalf("session lost while Run ran: %v", context.Cause(s.Context()))
	}
	cancel()
	stopped := time.Now()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	select {
	case <-s.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session outlived its heartbeat loop")
	}
	if d := time.Since(stopped); d > timeout+time.Second {
		t.Errorf("session ended %v after Run stopped; timeout %v", d, timeout)
	}
	if s.Valid() || !errors.Is(context.Cause(s.Context()), health.ErrSessionLost) {
		t.Errorf("valid %v, cause %v", s.Valid(), context.Cause(s.Context()))
	}
}

// memberState is a member's state as the pool's Snapshot reports it; ""
// when it is not a member.
func memberState(t *testing.T, a *pool.Admin, key string) pool.State {
	t.Helper()
	snap, err := a.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range snap.Members {
		if m.Key == key {
			return m.State
		}
	}
	return ""
}
