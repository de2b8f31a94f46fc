package pool_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestSentinelFailover runs mallocs through a client connected by a
// redis-sentinel:// URL while Sentinel promotes the replica, and checks
// that the pool works again on the new master within a bound and that no
// fence goes backwards: every lease's fence is above every fence handed out
// before its Malloc was sent, and the pool's counter never reads below one.
// Replication is asynchronous and the old master keeps answering until the
// client follows +switch-master, so grants the new master never saw are
// the normal case here; only fences that do not come from a counter alone
// survive them. It needs REDIS_SENTINEL_URL (set by .ci/redis-up; mandatory
// under CI=true).
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendSentinel)
	tb := setup(t, b, pool.WithLeaseTTL(time.Second))
	const members, workers = 8, 4
	keys := make([]string, members)
	for i := range keys {
		keys[i] = fmt.Sprintf("m%d", i)
	}
	if _, err := tb.p.AddKeys(tb.ctx, keys); err != nil {
		t.Fatal(err)
	}

	var (
		highest  atomic.Int64 // the highest fence any completed Malloc returned
		switched atomic.Bool  // the sentinel names the new master
		total    atomic.Int64 // successful mallocs
		after    atomic.Int64 // mallocs sent after the switch that succeeded
		mu       sync.Mutex
		errs     = map[string]int{} // failures by message, for the log
		regress  []string
	)
	seen := func(f int64) {
		for {
			h := highest.Load()
			if f <= h || highest.CompareAndSwap(h, f) {
				return
			}
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				floor, late := highest.Load(), switched.Load()
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				a, err := tb.p.Malloc(cctx)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						errs[err.Error()]++
						mu.Unlock()
						time.Sleep(20 * time.Millisecond)
					}
					continue
				}
				if f := a.Fence(); f <= floor {
					mu.Lock()
					regress = append(regress, fmt.Sprintf("worker %d: %s got fence %d, %d was handed out before", w, a.Key, f, floor))
					mu.Unlock()
				}
				seen(a.Fence())
				total.Add(1)
				if late {
					after.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_ = a.Release(rctx) // may fail across the switch: the lease then lapses
				cancel()
			}
		})
	}

	// Some traffic on the first master, then the failover under load.
	waitFor(t, 10*time.Second, "mallocs on the first master", func() bool { return total.Load() >= 50 })
	before := highest.Load()
	start := time.Now()
	from, to := b.SentinelFailover(t)
	t.Logf("failover %s -> %s confirmed by the sentinel after %v; highest fence before it %d", from, to, time.Since(start).Round(time.Millisecond), before)
	// Count only mallocs sent once the client writes to the new master:
	// the old one answers as a master until Sentinel demotes it.
	_, port, _ := net.SplitHostPort(to)
	waitFor(t, 30*time.Second, "client on the new master "+to, func() bool {
		info, err := b.Client.Do(tb.ctx, b.Client.B().Info().Section("server").Build()).ToString()
		return err == nil && strings.Contains(info, "\ntcp_port:"+port+"\r")
	})
	switched.Store(true)
	t.Logf("client on the new master %v after the failover began; highest fence %d", time.Since(start).Round(time.Millisecond), highest.Load())

	// The pool must work again soon: the client follows the sentinel's
	// +switch-master (or its periodic check), and leases whose releases
	// were lost lapse within their TTL.
	waitFor(t, 30*time.Second, "20 successful mallocs after the failover", func() bool { return after.Load() >= 20 })
	t.Logf("pool working again %v after the failover began", time.Since(start).Round(time.Millisecond))
	stop()
	wg.Wait()

	st, err := tb.p.Admin().Stats(tb.ctx)
	if err != nil {
		t.Fatalf("Stats after the failover: %v", err)
	}
	if h := highest.Load(); st.Fence < h {
		regress = append(regress, fmt.Sprintf("the pool's fence reads %d on the new master, %d was handed out", st.Fence, h))
	}
	tb.healthy(t) // what the new master has is a consistent earlier state
	mu.Lock()
	defer mu.Unlock()
	for msg, n := range errs {
		t.Logf("%d× %s", n, msg)
	}
	if len(regress) > 0 {
		t.Errorf("%d fence regressions across the failover, e.g.:", len(regress))
		for _, r := range regress[:min(len(regress), 10)] {
			t.Error(r)
		}
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
