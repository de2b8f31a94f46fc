package lock_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

type quorumBundle struct {
	ss     []*redisServer
	q      *lock.Quorum
	prefix string
	ctx    context.Context
}

func setupQuorum(t *testing.T, kind string, n int, opts ...lock.Option) *quorumBundle {
	t.Helper()
	ss := startServers(t, kind, n)
	prefix := redisxtest.NewPrefix()
	q, err := lock.NewQuorum(clientsOf(ss), prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &quorumBundle{ss: ss, q: q, prefix: prefix, ctx: ctx}
}

func (qb *quorumBundle) lockKey(name string) string { return qb.prefix + ":{lock:" + name + "}:lock" }

func (qb *quorumBundle) fenceKey(name string) string { return qb.prefix + ":{lock:" + name + "}:fence" }

// eachKind runs fn as a parallel subtest per server kind.
func eachKind(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

func TestQuorumAcquireAndRelease(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		qb := setupQuorum(t, kind, 3)
		m := must(qb.q.Mutex("job")).get(t)
		lease := must(m.TryAcquire(qb.ctx)).get(t)
		for i, s := range qb.ss {
			if v, ok := getOn(s, qb.lockKey("job")); !ok || v != lock.LeaseToken(lease) {
				t.Fatalf("server %d holds %q, %v; want the lease token", i, v, ok)
			}
		}
		if _, err := m.TryAcquire(qb.ctx); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("second TryAcquire: %v", err)
		}
		// The failed attempt left nothing of its own behind.
		for i, s := range qb.ss {
			if v, _ := getOn(s, qb.lockKey("job")); v != lock.LeaseToken(lease) {
				t.Fatalf("server %d now holds %q", i, v)
			}
		}
		if err := lease.Release(qb.ctx); err != nil {
			t.Fatal(err)
		}
		for i, s := range qb.ss {
			if _, ok := getOn(s, qb.lockKey("job")); ok {
				t.Fatalf("server %d still holds the lock after Release", i)
			}
		}
		if err := lease.Release(qb.ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("second Release: %v", err)
		}
	})
}

func TestQuorumOneOfThreeDown(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		qb := setupQuorum(t, kind, 3, lock.WithTTL(time.Second), lock.WithWatchdog(true))
		m := must(qb.q.Mutex("job")).get(t)
		first := must(m.TryAcquire(qb.ctx)).get(t)
		noErr(t, first.Release(qb.ctx))
		qb.ss[2].stop()
		// Blocking Acquire, watchdog and lost-lock context all work on a
		// majority.
		lease := must(m.Acquire(qb.ctx)).get(t)
		if lease.Fence() <= first.Fence() {
			t.Fatalf("fencing token %d after %d", lease.Fence(), first.Fence())
		}
		ctx := lease.Context()
		time.Sleep(2500 * time.Millisecond) // two and a half TTLs
		if ctx.Err() != nil {
			t.Fatalf("lease lost with one server down: %v", context.Cause(ctx))
		}
		for i, s := range qb.ss[:2] {
			if v, _ := getOn(s, qb.lockKey("job")); v != lock.LeaseToken(lease) {
				t.Fatalf("server %d holds %q", i, v)
			}
		}
		// A waiter blocks, then gets the lock on release.
		got := make(chan error, 1)
		go func() {
			l2, err := m.Acquire(qb.ctx)
			if err == nil {
				err = l2.Release(qb.ctx)
			}
			got <- err
		}()
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-got:
			t.Fatalf("waiter returned while held: %v", err)
		default:
		}
		noErr(t, lease.Release(qb.ctx))
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter did not get the released lock")
		}
		// Losing a second server's copy loses the lease.
		l3 := must(m.TryAcquire(qb.ctx)).get(t)
		c3 := l3.Context()
		s0 := qb.ss[0].client
		if err := s0.Do(qb.ctx, s0.B().Del().Key(qb.lockKey("job")).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		waitDone(t, c3, 3*time.Second)
		if !errors.Is(context.Cause(c3), lock.ErrLost) {
			t.Fatalf("cause %v", context.Cause(c3))
		}
		if err := l3.Release(qb.ctx); err != nil && !errors.Is(err, lock.ErrNotHeld) {
			t.Fatal(err)
		}
	})
}

func TestQuorumTwoOfThreeDown(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		qb := setupQuorum(t, kind, 3, lock.WithTTL(2*time.Second))
		m := must(qb.q.Mutex("job")).get(t)
		qb.ss[0].stop()
		qb.ss[1].stop()
		for name, acquire := range map[string]func(context.Context) (*lock.Lease, error){
			"TryAcquire": m.TryAcquire,
			"Acquire":    m.Acquire,
		} {
			start := time.Now()
			lease, err := acquire(qb.ctx)
			if !errors.Is(err, lock.ErrNoQuorum) || lease != nil {
				t.Fatalf("%s with two of three down: %v, %v; want ErrNoQuorum", name, lease, err)
			}
			// Clean failure: promptly, and nothing left on the live server.
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("%s took %v to fail", name, took)
			}
			if v, ok := getOn(qb.ss[2], qb.lockKey("job")); ok {
				t.Fatalf("%s left %q on the live server", name, v)
			}
		}
	})
}

func TestQuorumContention(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		qb := setupQuorum(t, kind, 3)
		// Someone else holds the lock on two servers.
		for _, s := range qb.ss[:2] {
			if err := s.client.Do(qb.ctx, s.client.B().Set().Key(qb.lockKey("job")).Value("other").Px(time.Minute).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		m := must(qb.q.Mutex("job")).get(t)
		if _, err := m.TryAcquire(qb.ctx); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("TryAcquire: %v", err)
		}
		// The third server, which granted, was released again.
		if v, ok := getOn(qb.ss[2], qb.lockKey("job")); ok {
			t.Fatalf("server 2 keeps %q after a failed attempt", v)
		}
		ctx, cancel := context.WithTimeout(qb.ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := m.Acquire(ctx); !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire: %v", err)
		}
	})
}

func TestQuorumFencingAcrossChangingMajorities(t *testing.T) {
	t.Parallel()
	qb := setupQuorum(t, "miniredis", 3)
	m := must(qb.q.Mutex("f")).get(t)
	var last int64
	acquire := func(step string) {
		t.Helper()
		lease := must(m.TryAcquire(qb.ctx)).get(t)
		if lease.Fence() <= last {
			t.Fatalf("%s: fencing token %d after %d", step, lease.Fence(), last)
		}
		last = lease.Fence()
		noErr(t, lease.Release(qb.ctx))
	}
	counter := func(i int) int64 {
		v, _ := getOn(qb.ss[i], qb.fenceKey("f"))
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	acquire("all up")
	// Server 2 misses five leases: its counter falls behind.
	qb.ss[2].stop()
	for range 5 {
		acquire("server 2 down")
	}
	qb.ss[2].start()
	// Now a majority without server 0: servers 1 (ahead) and 2 (behind).
	qb.ss[0].stop()
	acquire("server 0 down")
	if c1, c2 := counter(1), counter(2); c1 != last || c2 != last {
		t.Fatalf("counters after the lease: server 1 %d, server 2 %d; want both raised to %d", c1, c2, last)
	}
	qb.ss[0].start()
	qb.ss[1].stop()
	acquire("server 1 down")
	qb.ss[1].start()
	acquire("all up again")
}

func TestLeaseEndsWhenRedisProcessDies(t *testing.T) {
	t.Parallel()
	ss := startServers(t, "process", 1)
	l, err := lock.New(ss[0].client, redisxtest.NewPrefix(), lock.WithWatchdog(true))
	if err != nil {
		t.Fatal(err)
	}
	const ttl = time.Second
	m := must(l.Mutex("job", lock.WithTTL(ttl))).get(t)
	lease := must(m.TryAcquire(context.Background())).get(t)
	ctx := lease.Context()
	time.Sleep(ttl) // renewals work
	if ctx.Err() != nil {
		t.Fatalf("lost while Redis was up: %v", context.Cause(ctx))
	}
	ss[0].stop()
	down := time.Now()
	waitDone(t, ctx, 2*ttl)
	if d := time.Since(down); d > ttl+250*time.Millisecond {
		t.Fatalf("lease ended %v after Redis died; TTL %v", d, ttl)
	}
	if !errors.Is(context.Cause(ctx), lock.ErrLost) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := lease.Release(rctx); err == nil {
		t.Fatal("Release with Redis dead succeeded")
	}
}

func TestLeaseEndsWhenMiniredisCloses(t *testing.T) {
	t.Parallel()
	ss := startServers(t, "miniredis", 1)
	l, err := lock.New(ss[0].client, redisxtest.NewPrefix(), lock.WithWatchdog(true))
	if err != nil {
		t.Fatal(err)
	}
	const ttl = time.Second
	m := must(l.Mutex("job", lock.WithTTL(ttl))).get(t)
	lease := must(m.TryAcquire(context.Background())).get(t)
	ctx := lease.Context()
	ss[0].stop()
	waitDone(t, ctx, 2*ttl)
	if !errors.Is(context.Cause(ctx), lock.ErrLost) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = lease.Release(rctx)
}

// TestQuorumQueuedHandoff: waiters of one process on a quorum lock get it
// in arrival order, each release handing it to the next with a higher
// fence on a majority.
func TestQuorumQueuedHandoff(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		qb := setupQuorum(t, kind, 3)
		const n = 4
		m := must(qb.q.Mutex("queued")).get(t)
		lease := must(m.TryAcquire(qb.ctx)).get(t)
		got := make(chan acquired, n)
		for i := range n {
			go func() {
				l, err := m.Acquire(qb.ctx)
				got <- acquired{i, l, err}
			}()
			for deadline := time.Now().Add(10 * time.Second); lock.QuorumQueued(qb.q, "queued") != i+1; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("waiter %d not queued", i)
				}
			}
		}
		fence := lease.Fence()
		noErr(t, lease.Release(qb.ctx))
		for want := range n {
			g := <-got
			if g.err != nil || g.who != want {
				t.Fatalf("waiter %d (%v) in turn %d", g.who, g.err, want)
			}
			if g.lease.Fence() <= fence {
				t.Fatalf("fence %d after %d", g.lease.Fence(), fence)
			}
			fence = g.lease.Fence()
			holding := 0
			for _, s := range qb.ss {
				if v, ok := getOn(s, qb.lockKey("queued")); ok && v == lock.LeaseToken(g.lease) {
					holding++
				}
			}
			if holding < 2 {
				t.Fatalf("the new lease's token is on %d servers", holding)
			}
			noErr(t, g.lease.Release(qb.ctx))
		}
	})
}
