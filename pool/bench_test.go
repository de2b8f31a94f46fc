package pool_test

// Speed and memory of the pool against a real redis-server given by
// REDIS_URL (issue 4, "Speed and memory"); every benchmark here skips
// without it. Run them side by side, on a quiet machine:
//
//	REDIS_URL=redis://127.0.0.1:6379 go test -run '^$' -bench 'MallocFree|Ceiling' -benchtime 3s -count 3 ./pool/
//	REDIS_URL=redis://127.0.0.1:6379 go test -run '^$' -bench FlatCost -benchtime 10000x ./pool/
//	REDIS_URL=redis://127.0.0.1:6379 go test -run '^$' -bench MemoryPerMember -benchtime 1x -count 3 ./pool/
//
// MallocFree pairs/s is compared with half of Ceiling's scripts/s at the
// same goroutine count (a pair is two scripts), MallocFree's script-us/pair
// (Redis CPU in scripts per pair, from INFO commandstats) with Ceiling's
// script-us/call, FlatCost's p50-ns at 10 and
// 1,000,000 members, and MemoryPerMember's bytes/member with 130.
//
// POOL_BENCH_MAX_FLUSH_DELAY (a Go duration such as 20us) sets rueidis's
// MaxFlushDelay on the clients of MallocFree and Ceiling, to measure that
// knob as a variant; the library default stays 0.
//
// With a small fixed iteration count (CI's -benchtime=1x smoke run) or in
// -short mode the 1,000,000-member FlatCost case is skipped: filling it takes
// seconds and so few iterations measure nothing.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
	"github.com/redisallocator/redisallocator/pool"
)

// fillBatch is the number of members per Extend call of fill: at most
// pool.MaxBatch, and small enough that one call blocks a shared server for
// only a few milliseconds.
const fillBatch = 2000

// benchGoroutines are the concurrency levels of MallocFree and Ceiling.
var benchGoroutines = []int{1, 8, 64, 256}

// benchClient connects to REDIS_URL, or skips the benchmark when it is unset.
// The client is closed when the benchmark function returns.
func benchClient(b *testing.B, opts ...redisx.Option) rueidis.Client {
	b.Helper()
	url := strings.TrimSpace(os.Getenv("REDIS_URL"))
	if url == "" {
		b.Skip("REDIS_URL not set; the pool benchmarks need a real redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := redisx.Connect(ctx, url, opts...)
	if err != nil {
		b.Fatalf("connect %s: %v", url, err)
	}
	b.Cleanup(c.Close)
	return c
}

// throughputOptions are the client options of MallocFree and Ceiling.
func throughputOptions(b *testing.B) []redisx.Option {
	b.Helper()
	v := os.Getenv("POOL_BENCH_MAX_FLUSH_DELAY")
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("POOL_BENCH_MAX_FLUSH_DELAY=%q: %v", v, err)
	}
	b.Logf("rueidis MaxFlushDelay %v", d)
	return []redisx.Option{redisx.WithMaxFlushDelay(d)}
}

// benchPrefix is a key prefix unique to this call, so benchmarks never
// touch other users' keys on a shared server.
func benchPrefix() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "bench-" + hex.EncodeToString(r[:])
}

// benchPool opens an empty pool under a fresh prefix and removes every one
// of its keys when the benchmark function returns: Clear, then whatever
// Clear keeps (the fencing counter, the wake-up keys), found by SCAN.
func benchPool(b *testing.B, c rueidis.Client, name string) *pool.Pool[struct{}] {
	b.Helper()
	p, _ := benchPoolNS(b, c, name)
	return p
}

// benchPoolNS is benchPool that also returns the pool's key namespace.
func benchPoolNS(b *testing.B, c rueidis.Client, name string) (*pool.Pool[struct{}], redisx.Namespace) {
	b.Helper()
	prefix := benchPrefix()
	p, err := pool.New[struct{}](c, prefix, name)
	if err != nil {
		b.Fatal(err)
	}
	ns, err := redisx.NewNamespace(prefix, "pool", name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// UNLINK frees a big free set in the background instead of blocking
		// the shared server; Clear then finds it gone.
		if err := c.Do(ctx, c.B().Unlink().Key(ns.Key("free")).Build()).Error(); err != nil {
			b.Errorf("cleanup: unlink: %v", err)
		}
		if _, err := p.Admin().Clear(ctx); err != nil {
			b.Errorf("cleanup: Clear: %v", err)
		}
		// What Clear keeps (the fencing counter, wake-up keys).
		left := scanKeys(ctx, b, c, ns)
		if len(left) > 0 {
			if err := c.Do(ctx, c.B().Del().Key(left...).Build()).Error(); err != nil {
				b.Errorf("cleanup: del: %v", err)
			}
		}
		if left := scanKeys(ctx, b, c, ns); len(left) > 0 {
			b.Errorf("cleanup: keys left: %q", left)
		}
	})
	return p, ns
}

// scanKeys lists the keys of namespace ns. Prefixes from benchPrefix have
// no glob characters, so the pattern matches exactly the namespace.
func scanKeys(ctx context.Context, b *testing.B, c rueidis.Client, ns redisx.Namespace) []string {
	b.Helper()
	var keys []string
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(ns.Prefix()+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			b.Errorf("SCAN %s*: %v", ns.Prefix(), err)
			return keys
		}
		keys = append(keys, e.Elements...)
		if cursor = e.Cursor; cursor == 0 {
			return keys
		}
	}
}

// memberKey is the short key of member i.
func memberKey(i int) string { return "m" + strconv.Itoa(i) }

// fill adds members m0..m(n-1) with pipelined Extend calls of fillBatch
// keys, a few in flight at once.
func fill(b *testing.B, p *pool.Pool[struct{}], n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	batches := make(chan int)
	go func() {
		defer close(batches)
		for from := 0; from < n; from += fillBatch {
			batches <- from
		}
	}()
	var added atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for from := range batches {
				to := min(from+fillBatch, n)
				keys := make([]string, 0, to-from)
				for i := from; i < to; i++ {
					keys = append(keys, memberKey(i))
				}
				k, err := p.AddKeys(ctx, keys)
				if err != nil {
					errs <- err
					cancel()
					for range batches { // drain so the feeder ends
					}
					return
				}
				added.Add(int64(k))
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("fill: Extend: %v", err)
	}
	if added.Load() != int64(n) {
		b.Fatalf("fill: %d members added, want %d", added.Load(), n)
	}
}

// parallel calls op b.N times in total from exactly n goroutines: through
// b.RunParallel with SetParallelism when n is a multiple of GOMAXPROCS, on
// the benchmark goroutine itself when n is 1, and otherwise on n goroutines
// of its own.
func parallel(b *testing.B, n int, op func() error) {
	b.Helper()
	procs := runtime.GOMAXPROCS(0)
	switch {
	case n == 1:
		for range b.N {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	case n%procs == 0:
		b.SetParallelism(n / procs)
		var started atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			started.Add(1)
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		if got := started.Load(); b.N > 0 && got != int64(n) {
			b.Fatalf("bug: RunParallel ran %d goroutines, want %d", got, n)
		}
	default:
		var next atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkMallocFree measures malloc+free pairs (two scripts) on one client
// from 1 to 256 goroutines, with enough members that nobody ever waits.
// Compare pairs/s with half of BenchmarkCeiling's scripts/s at the same
// goroutine count.
func BenchmarkMallocFree(b *testing.B) {
	for _, n := range benchGoroutines {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			c := benchClient(b, throughputOptions(b)...)
			p := benchPool(b, c, "mallocfree")
			fill(b, p, 2*n+64)
			ctx := context.Background()
			b.ReportAllocs()
			us := scriptMicros(b, c)
			b.ResetTimer()
			parallel(b, n, func() error {
				a, err := p.Malloc(ctx)
				if err != nil {
					return fmt.Errorf("Malloc: %w", err)
				}
				if err := a.Release(ctx); err != nil {
					return fmt.Errorf("Free: %w", err)
				}
				return nil
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
			b.ReportMetric((scriptMicros(b, c)-us)/float64(b.N), "script-us/pair")
		})
	}
}

// BenchmarkCeiling measures the trivial one-line script through the same
// runner the pool uses: the upper bound of scripts per second on this
// client, server and machine.
func BenchmarkCeiling(b *testing.B) {
	for _, n := range benchGoroutines {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			c := benchClient(b, throughputOptions(b)...)
			ns, err := redisx.NewNamespace(benchPrefix(), "pool", "ceiling")
			if err != nil {
				b.Fatal(err)
			}
			keys := []string{ns.Key("free")} // never written: it only routes the call
			run := redisx.NewRunner(c, nil, nil)
			ctx := context.Background()
			if _, err := run.Run(ctx, script.Ceiling, keys, nil); err != nil { // loads the script
				b.Fatal(err)
			}
			b.ReportAllocs()
			us := scriptMicros(b, c)
			b.ResetTimer()
			parallel(b, n, func() error {
				_, err := run.Run(ctx, script.Ceiling, keys, nil)
				return err
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scripts/s")
			b.ReportMetric((scriptMicros(b, c)-us)/float64(b.N), "script-us/call")
		})
	}
}

// scriptMicros returns the microseconds Redis spent in scripts so far
// (INFO commandstats: the usec of EVALSHA and EVALSHA_RO). Differences
// over a benchmark count only its own scripts on a server nobody else uses.
func scriptMicros(b *testing.B, c rueidis.Client) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		b.Fatalf("INFO commandstats: %v", err)
	}
	var sum float64
	for line := range strings.SplitSeq(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha")
		if !ok || (!strings.HasPrefix(rest, ":") && !strings.HasPrefix(rest, "_ro:")) {
			continue
		}
		for f := range strings.SplitSeq(rest[strings.Index(rest, ":")+1:], ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("commandstats %q: %v", line, err)
				}
				sum += n
			}
		}
	}
	return sum
}

// smokeRun reports whether the benchmarks run for a handful of iterations
// only (CI's -benchtime=1x) or in -short mode, where multi-second setups
// are skipped.
func smokeRun() bool {
	if testing.Short() {
		return true
	}
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return false
	}
	v := f.Value.String()
	if !strings.HasSuffix(v, "x") {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, "x"))
	return err == nil && n < 100
}

// BenchmarkFlatCost compares the latency of one malloc+free pair on one
// goroutine in a pool of 10 members and in one of 1,000,000 (the target:
// at most 1.5 times slower). Besides the mean (ns/op) it reports the median
// and the 99th percentile, p50-ns and p99-ns.
func BenchmarkFlatCost(b *testing.B) {
	for _, members := range []int{10, 1_000_000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			if members > 10_000 && smokeRun() {
				b.Skipf("filling %d members takes seconds; run with -benchtime of a duration or at least 100x", members)
			}
			c := benchClient(b)
			p := benchPool(b, c, "flatcost")
			start := time.Now()
			fill(b, p, members)
			b.Logf("filled %d members in %v", members, time.Since(start).Round(time.Millisecond))
			ctx := context.Background()
			// Warm up: load both scripts and the connection. b.Loop starts
			// the timer only at its first call, so none of this counts.
			for range 100 {
				a, err := p.Malloc(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Release(ctx); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				t := time.Now()
				a, err := p.Malloc(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Release(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// usedMemory returns INFO memory's used_memory.
func usedMemory(b *testing.B, c rueidis.Client) int64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		b.Fatalf("INFO memory: %v", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("used_memory %q: %v", v, err)
			}
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}

// keysUsage sums MEMORY USAGE (all samples) over the pool's keys; unlike
// used_memory it is not moved by other clients of a shared server.
func keysUsage(b *testing.B, c rueidis.Client, ns redisx.Namespace) int64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sum int64
	for _, k := range scanKeys(ctx, b, c, ns) {
		n, err := c.Do(ctx, c.B().MemoryUsage().Key(k).Samples(0).Build()).AsInt64()
		if err != nil && !rueidis.IsRedisNil(err) {
			b.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		sum += n
	}
	return sum
}

// BenchmarkMemoryPerMember measures the Redis memory of idle members: the
// used_memory delta over 100,000 members with short keys and no value
// (bytes/member; the target is at most 130), and the same from MEMORY USAGE
// of the pool's keys (usage-bytes/member), which other clients of a shared
// server cannot disturb. Each iteration fills a fresh pool, measures and
// removes it; run it with -benchtime 1x.
func BenchmarkMemoryPerMember(b *testing.B) {
	const members = 100_000
	c := benchClient(b)
	var delta, usage int64
	for b.Loop() {
		b.StopTimer()
		p, ns := benchPoolNS(b, c, "memory")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		// Load the scripts first (their cache is part of used_memory), with
		// a member that is removed again.
		if _, err := p.AddKeys(ctx, []string{"warm"}); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Remove(ctx, "warm"); err != nil {
			b.Fatal(err)
		}
		before := usedMemory(b, c)
		b.StartTimer()
		fill(b, p, members)
		b.StopTimer()
		delta += usedMemory(b, c) - before
		usage += keysUsage(b, c, ns)
		if _, err := p.Admin().Clear(ctx); err != nil { // the cleanup checks the rest
			b.Fatal(err)
		}
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(delta)/float64(b.N)/members, "bytes/member")
	b.ReportMetric(float64(usage)/float64(b.N)/members, "usage-bytes/member")
}

// BenchmarkReadCost compares the two ways to read a pool as it grows: Snapshot
// (every member, one script: Redis is held for time proportional to the
// pool) and Stats (counters and due timers: flat). The dashboard and
// diagnose switch from the first to the second above inspect's
// DefaultFullReadLimit.
func BenchmarkReadCost(b *testing.B) {
	for _, members := range []int{1_000, 10_000, 100_000} {
		for _, read := range []string{"snapshot", "stats"} {
			b.Run(fmt.Sprintf("members=%d/%s", members, read), func(b *testing.B) {
				if members > 10_000 && smokeRun() {
					b.Skipf("filling %d members takes seconds; run with -benchtime of a duration or at least 100x", members)
				}
				c := benchClient(b)
				p := benchPool(b, c, "readcost")
				fill(b, p, members)
				ctx := context.Background()
				for b.Loop() {
					var err error
					if read == "snapshot" {
						_, err = p.Admin().Snapshot(ctx)
					} else {
						_, err = p.Admin().Stats(ctx)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
