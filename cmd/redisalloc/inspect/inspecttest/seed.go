// Package inspecttest seeds a prefix with one of everything inspect reads,
// for the tests of package inspect, the CLI and the dashboard.
package inspecttest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/lock"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// Names of what Seed creates.
const (
	Pool         = "proxies"  // 10 members: 2 held, 1 quarantined, 1 lapsed lease, 1 binding
	FullPool     = "gpus"     // 2 members, both held: low free capacity
	DeadQueue    = "emails"   // one task failed for good
	IdleQueue    = "reports"  // one task ready, no worker
	HeldLock     = "deploy"   // held for an hour
	PermLock     = "migrate"  // held without expiry
	FencedLock   = "leader"   // acquired and released once: a fence handed out, free
	LockPool     = "printers" // members a, b, c; a locked
	Group        = "workers"  // one live worker, one dead
	LiveWorker   = "w-live"
	DeadWorker   = "w-dead"
	FailedTaskID = "t-fail"
)

// Value is the value of member i of Pool.
func Value(i int) map[string]any {
	return map[string]any{"addr": "10.0.0." + strconv.Itoa(i), "port": int64(8000 + i)}
}

// Seed creates, under prefix, everything the constants name, with pool
// values encoded by cd. It fails the test on any error. The live worker's
// session is closed after the test; the dead one is left to expire.
// newClient returns a second client to the same server (the dead worker's,
// closed here to kill its heartbeat).
func Seed(t testing.TB, client rueidis.Client, newClient func() rueidis.Client, prefix string, cd codec.Codec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("inspecttest: %s: %v", what, err)
		}
	}

	p, err := pool.New[any](client, prefix, Pool, pool.WithCodec(cd))
	must("pool.New", err)
	for i := range 10 {
		opts := []pool.MemberOption{pool.Priority(i % 3)}
		if i == 9 {
			opts = append(opts, pool.MemberTTL(time.Hour))
		}
		_, err := p.Add(ctx, map[string]any{"m" + strconv.Itoa(i): Value(i)}, opts...)
		must("Put", err)
	}
	_, err = p.Malloc(ctx, pool.LeaseTTL(time.Hour), pool.Bind("job-1", time.Hour))
	must("Malloc", err)
	_, err = p.Malloc(ctx, pool.LeaseTTL(pool.Permanent))
	must("Malloc permanent", err)
	must("Quarantine", p.Admin().Quarantine(ctx, "m0", time.Hour))
	// Last: a lease that lapses soon (the shortest, 10ms; the dead worker
	// below takes longer) and stays until a malloc or GC.
	_, err = p.Malloc(ctx, pool.LeaseTTL(10*time.Millisecond))
	must("Malloc short", err)

	g, err := pool.New[any](client, prefix, FullPool, pool.WithCodec(cd))
	must("pool.New", err)
	_, err = g.AddKeys(ctx, []string{"g0", "g1"})
	must("AddKeys", err)
	_, err = g.MallocN(ctx, 2, pool.LeaseTTL(time.Hour))
	must("MallocN", err)

	seedQueues(ctx, t, client, prefix, must)

	l, err := lock.New(client, prefix)
	must("lock.New", err)
	_, err = l.Lock(ctx, HeldLock, "me", time.Hour)
	must("Lock", err)
	_, err = l.Lock(ctx, PermLock, "me", lock.Permanent)
	must("Lock permanent", err)
	mu, err := l.Mutex(FencedLock)
	must("Mutex", err)
	lease, err := mu.TryAcquire(ctx)
	must("TryAcquire", err)
	must("Release", lease.Release(ctx))

	lp, err := lock.NewPool(client, prefix, LockPool)
	must("lock.NewPool", err)
	_, err = lp.Add(ctx, "a", "b", "c")
	must("lock pool Add", err)
	_, err = lp.Locker().Lock(ctx, "a", "me", time.Hour)
	must("lock pool Lock", err)

	// No heartbeat loop (no Run) and a long timeout: the session stays alive
	// and no write lands while a test compares the keyspace.
	live, err := health.NewSession(ctx, client, prefix, health.WithGroup(Group), health.WithID(LiveWorker),
		health.WithInterval(time.Hour), health.WithTimeout(3*time.Hour))
	must("NewSession", err)
	t.Cleanup(func() { _ = live.Close(context.Background()) })
	dc := newClient()
	dead, err := health.NewSession(ctx, dc, prefix, health.WithGroup(Group), health.WithID(DeadWorker),
		health.WithInterval(50*time.Millisecond), health.WithTimeout(100*time.Millisecond))
	must("NewSession dead", err)
	dc.Close() // as in a killed process: no Run heartbeats it
	// No Close: a killed process never deregisters.
	<-dead.Context().Done()
	reg, err := health.NewRegistry(client, prefix, health.WithGroup(Group))
	must("NewRegistry", err)
	for {
		ws, err := reg.Workers(ctx)
		must("Workers", err)
		deadNow := false
		for _, w := range ws {
			deadNow = deadNow || (w.ID == DeadWorker && !w.Alive)
		}
		if deadNow {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("inspecttest: the dead worker stayed alive")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func seedQueues(ctx context.Context, t testing.TB, client rueidis.Client, prefix string, must func(string, error)) {
	t.Helper()
	fail := task.Handler[string, string](func(context.Context, *task.Task[string]) (string, error) {
		return "", task.Classify(errors.New("smtp refused"), "smtp")
	})
	q, err := task.New[string, string](client, prefix, DeadQueue)
	must("task.New", err)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(lctx, fail, task.Grace(time.Second)) }()
	h, err := q.Submit(ctx, FailedTaskID, "hello", task.MaxAttempts(1))
	must("Submit", err)
	_, err = h.Wait(ctx)
	if !errors.Is(err, task.ErrHandler) {
		t.Fatalf("inspecttest: the failing task returned %v", err)
	}
	stop()
	must("Run", <-done)
	idle, err := task.New[string, string](client, prefix, IdleQueue)
	must("task.New idle", err)
	_, err = idle.Submit(ctx, "t-idle", "later")
	must("Submit idle", err)
}
