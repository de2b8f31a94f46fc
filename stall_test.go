package redisallocator_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/lease/leasetest"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/lock"
	"github.com/redisallocator/redisallocator/pool"
)

// TestStallEndsEveryLease stops a real process (SIGSTOP) for five times
// its leases' TTL while it holds a pool lease kept alive by KeepAlive, a
// health session kept alive by Run with a pool member held in it, and a
// lock lease kept alive by its watchdog; then resumes it (SIGCONT). At
// the first look after the stall every Valid() is false and every
// ctx.Err() is non-nil, although each keep-alive loop's renewal may then
// succeed; and every context's Done closes within 50ms. The child talks
// to REDIS_URL when it is set, else to an embedded miniredis (which
// stops with it).
func TestStallEndsEveryLease(t *testing.T) {
	const env = "STALL_EVERY_LEASE_CHILD"
	if leasetest.Child(env) {
		stallEveryLeaseChild()
		return
	}
	got := leasetest.Stall(t, "TestStallEndsEveryLease", env, 300*time.Millisecond, time.Second)
	want := "pool-lease=ended session=ended session-lease=ended lock-lease=ended"
	if got != want {
		t.Fatalf("after the stall the child saw\n%s\nwant\n%s", got, want)
	}
}

// stallTTL is the TTL of every lease in the stalled child.
const stallTTL = 200 * time.Millisecond

func stallEveryLeaseChild() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var c rueidis.Client
	var err error
	ctx := context.Background()
	if url := os.Getenv("REDIS_URL"); url != "" {
		c, err = redisx.Connect(ctx, url)
	} else {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.Start(); err != nil {
			fail(err)
		}
		c, err = rueidis.NewClient(redisx.EmbeddedClientOption(m.Addr()))
	}
	if err != nil {
		fail(err)
	}
	prefix := fmt.Sprintf("stall-%d", os.Getpid())
	p, err := pool.New[string](c, prefix, "p")
	if err != nil {
		fail(err)
	}
	if _, err := p.AddKeys(ctx, []string{"a", "b"}); err != nil {
		fail(err)
	}
	pl, err := p.MallocMember(ctx, "a", pool.LeaseTTL(stallTTL), pool.KeepAlive(stallTTL/4))
	if err != nil {
		fail(err)
	}
	s, err := health.NewSession(ctx, c, prefix, health.WithTimeout(stallTTL), health.WithInterval(stallTTL/4))
	if err != nil {
		fail(err)
	}
	go func() { _ = s.Run(ctx) }()
	sl, err := p.MallocMember(ctx, "b", pool.InSession(s), pool.LeaseTTL(time.Hour))
	if err != nil {
		fail(err)
	}
	l, err := lock.New(c, prefix)
	if err != nil {
		fail(err)
	}
	mu, err := l.Mutex("m", lock.WithTTL(stallTTL), lock.WithWatchdog(true))
	if err != nil {
		fail(err)
	}
	ll, err := mu.TryAcquire(ctx)
	if err != nil {
		fail(err)
	}
	type held struct {
		name  string
		valid func() bool
		ctx   context.Context
	}
	all := []held{
		{"pool-lease", pl.Valid, pl.Context()},
		{"session", s.Valid, s.Context()},
		{"session-lease", sl.Valid, sl.Context()},
		{"lock-lease", ll.Valid, ll.Context()},
	}
	fmt.Println("ready")
	leasetest.AwaitStall(3 * stallTTL / 2)
	// The first look, before any other goroutine had a chance to run.
	valid := make([]bool, len(all))
	errs := make([]error, len(all))
	for i, h := range all {
		valid[i], errs[i] = h.valid(), h.ctx.Err()
	}
	var out []string
	bound := time.After(50 * time.Millisecond)
	for i, h := range all {
		state := "ended"
		switch {
		case valid[i] && errs[i] == nil:
			state = "valid,ctx-live"
		case valid[i]:
			state = "valid"
		case errs[i] == nil:
			state = "ctx-live"
		}
		if state == "ended" {
			select {
			case <-h.ctx.Done():
			case <-bound:
				state = "done-late"
			}
		}
		out = append(out, h.name+"="+state)
	}
	fmt.Println(strings.Join(out, " "))
	os.Exit(0)
}
