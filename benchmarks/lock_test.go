// Package benchmarks compares redisallocator with other Go libraries
// against one local redis-server. It is its own module, so that the peer
// libraries never enter the main module's go.mod. Without REDIS_URL the
// benchmarks skip (CI runs them with -benchtime=1x as a smoke test).
//
// This file: locks. BenchmarkPairs measures acquire+release pairs per
// second of lock.Locker, lock.Mutex, github.com/bsm/redislock,
// github.com/go-redsync/redsync/v4 and rueidislock, next to a trivial
// script through the same rueidis client (the ceiling); BenchmarkWakeUp
// measures how fast a blocked waiter gets a released lock;
// BenchmarkContended runs every goroutine on one lock key. See README.md.
//
//	cd benchmarks && REDIS_URL=redis://127.0.0.1:6379 go test -run '^$' -bench 'Pairs|WakeUp|Contended' -benchtime 2s -count 3
package benchmarks

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredislib "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/redis/rueidis/rueidislock"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
	"github.com/redisallocator/redisallocator/lock"
)

// lockGoroutines are the concurrency levels of the lockPair benchmarks.
var lockGoroutines = []int{1, 8, 64, 256}

const lockTTL = 10 * time.Second

// lockEnv holds the clients of one benchmark run; every implementation talks
// to the same redis-server.
type lockEnv struct {
	addr   string
	rc     rueidis.Client     // ours and the ceiling share it
	gr     *goredislib.Client // bsm/redislock and redsync share it
	prefix string
}

func lockSetup(b *testing.B) *lockEnv {
	b.Helper()
	raw := os.Getenv("REDIS_URL")
	if raw == "" {
		b.Skip("REDIS_URL not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := redisx.Connect(ctx, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rc.Close)
	// A pool as large as the largest goroutine count, so that go-redis is
	// not throttled by its default of 10 connections per CPU.
	gr := goredislib.NewClient(&goredislib.Options{Addr: u.Host, PoolSize: 256})
	b.Cleanup(func() { _ = gr.Close() })
	e := &lockEnv{addr: u.Host, rc: rc, gr: gr, prefix: "bench" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	b.Cleanup(func() { e.deleteKeys(b) })
	return e
}

// deleteKeys removes what the run left: fencing counters, and locks of
// libraries that expire rather than delete.
func (e *lockEnv) deleteKeys(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cursor uint64
	for {
		se, err := e.rc.Do(ctx, e.rc.B().Scan().Cursor(cursor).Match(e.prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			b.Logf("clean-up: %v", err)
			return
		}
		for _, k := range se.Elements {
			_ = e.rc.Do(ctx, e.rc.B().Del().Key(k).Build()).Error()
		}
		if cursor = se.Cursor; cursor == 0 {
			return
		}
	}
}

// lockPair is one acquire+release of lock key by one goroutine.
type lockPair func(ctx context.Context, key string) error

// lockImpl builds, once per benchmark, the lockPair function of one library and
// per goroutine whatever state it keeps.
type lockImpl struct {
	name string
	// make returns a function that builds each goroutine's lockPair function.
	make func(b *testing.B, e *lockEnv) func(key string) lockPair
}

var lockImpls = []lockImpl{
	{"ceiling", func(_ *testing.B, e *lockEnv) func(string) lockPair {
		// Two trivial scripts per "lockPair": a lockPair of ours is two scripts,
		// so this is the upper bound for any lockPair.
		r := redisx.NewRunner(e.rc, nil, nil)
		return func(key string) lockPair {
			keys := []string{key}
			return func(ctx context.Context, _ string) error {
				if _, err := r.Run(ctx, script.Ceiling, keys, nil); err != nil {
					return err
				}
				_, err := r.Run(ctx, script.Ceiling, keys, nil)
				return err
			}
		}
	}},
	{"lock.Locker", func(b *testing.B, e *lockEnv) func(string) lockPair {
		l, err := lock.New(e.rc, e.prefix)
		if err != nil {
			b.Fatal(err)
		}
		return func(string) lockPair {
			return func(ctx context.Context, key string) error {
				ok, err := l.Lock(ctx, key, "owner", lockTTL)
				if err != nil || !ok {
					return fmt.Errorf("lock: %v %w", ok, err)
				}
				_, err = l.Unlock(ctx, key, "owner")
				return err
			}
		}
	}},
	{"lock.Mutex", func(b *testing.B, e *lockEnv) func(string) lockPair {
		l, err := lock.New(e.rc, e.prefix, lock.WithTTL(lockTTL))
		if err != nil {
			b.Fatal(err)
		}
		return func(key string) lockPair {
			m, err := l.Mutex(key)
			if err != nil {
				b.Fatal(err)
			}
			return func(ctx context.Context, _ string) error {
				lease, err := m.Acquire(ctx)
				if err != nil {
					return err
				}
				return lease.Release(ctx)
			}
		}
	}},
	{"bsm-redislock", func(_ *testing.B, e *lockEnv) func(string) lockPair {
		c := redislock.New(e.gr)
		return func(string) lockPair {
			return func(ctx context.Context, key string) error {
				l, err := c.Obtain(ctx, key, lockTTL, nil)
				if err != nil {
					return err
				}
				return l.Release(ctx)
			}
		}
	}},
	{"redsync", func(_ *testing.B, e *lockEnv) func(string) lockPair {
		rs := redsync.New(goredis.NewPool(e.gr))
		return func(key string) lockPair {
			m := rs.NewMutex(key, redsync.WithExpiry(lockTTL), redsync.WithTries(1))
			return func(ctx context.Context, _ string) error {
				if err := m.LockContext(ctx); err != nil {
					return err
				}
				_, err := m.UnlockContext(ctx)
				return err
			}
		}
	}},
	{"rueidislock", func(b *testing.B, e *lockEnv) func(string) lockPair {
		// One key per lock, as its README advises for a single Redis.
		l, err := rueidislock.NewLocker(rueidislock.LockerOption{
			ClientOption: rueidis.ClientOption{InitAddress: []string{e.addr}},
			KeyMajority:  1,
			KeyValidity:  lockTTL,
			KeyPrefix:    e.prefix + "-rl",
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Close)
		return func(string) lockPair {
			return func(ctx context.Context, key string) error {
				_, cancel, err := l.WithContext(ctx, key)
				if err != nil {
					return err
				}
				cancel()
				return nil
			}
		}
	}},
}

// BenchmarkPairs measures uncontended acquire+release pairs per second:
// every goroutine locks a key of its own, so the figure is the cost of the
// lock protocol, not of waiting.
func BenchmarkPairs(b *testing.B) {
	e := lockSetup(b)
	for _, g := range lockGoroutines {
		for _, im := range lockImpls {
			b.Run(fmt.Sprintf("goroutines=%d/%s", g, im.name), func(b *testing.B) {
				newPair := im.make(b, e)
				pairs := make([]lockPair, g)
				keys := make([]string, g)
				for i := range g {
					keys[i] = fmt.Sprintf("%s:%s:%d:%d", e.prefix, im.name, g, i)
					pairs[i] = newPair(keys[i])
				}
				ctx := context.Background()
				// Warm up: load scripts, open connections.
				for i := range g {
					if err := pairs[i](ctx, keys[i]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				cpu0, srv0 := lockProcessCPU(), e.serverCPU(b)
				b.ResetTimer()
				start := time.Now()
				lockRunParallel(b, g, func(i int) error { return pairs[i](ctx, keys[i]) })
				elapsed := time.Since(start)
				b.StopTimer()
				cpu, srv := lockProcessCPU()-cpu0, e.serverCPU(b)-srv0
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
				// CPU per lockPair, of this process and of redis-server, is
				// far less sensitive than pairs/s to other load on the
				// machine (the server figure assumes nothing else uses
				// that server).
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "client-µs/lockPair")
				b.ReportMetric(float64(srv.Microseconds())/float64(b.N), "server-µs/lockPair")
			})
		}
	}
}

// lockProcessCPU returns the user and system CPU time this process used.
func lockProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the CPU time redis-server reports it used.
func (e *lockEnv) serverCPU(b *testing.B) time.Duration {
	info, err := e.rc.Do(context.Background(), e.rc.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += time.Duration(f * float64(time.Second))
		}
	}
	return total
}

// lockRunParallel runs b.N iterations on exactly n goroutines (b.RunParallel
// only offers multiples of GOMAXPROCS).
func lockRunParallel(b *testing.B, n int, fn func(goroutine int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for i := range n {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := fn(i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

// lockWaker is one implementation of the wake-up benchmark: hold the lock in
// one goroutine, wait for it in another, release, and time how long the
// waiter takes to get it.
type lockWaker struct {
	name string
	// make returns acquire functions for a holder and a waiter of key.
	make func(b *testing.B, e *lockEnv, key string) (hold func(context.Context) (release func(), err error), wait func(context.Context) (release func(), err error))
}

func lockMutexWaker(name string, opts ...lock.Option) lockWaker {
	return lockWaker{name, func(b *testing.B, e *lockEnv, key string) (func(context.Context) (func(), error), func(context.Context) (func(), error)) {
		l, err := lock.New(e.rc, e.prefix, opts...)
		if err != nil {
			b.Fatal(err)
		}
		m, err := l.Mutex(key, lock.WithTTL(lockTTL))
		if err != nil {
			b.Fatal(err)
		}
		acquire := func(ctx context.Context) (func(), error) {
			lease, err := m.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			return func() { _ = lease.Release(ctx) }, nil
		}
		return acquire, acquire
	}}
}

var lockWakers = []lockWaker{
	lockMutexWaker("lock.Mutex"),
	{"lock.Mutex-2lockers", func(b *testing.B, e *lockEnv, key string) (func(context.Context) (func(), error), func(context.Context) (func(), error)) {
		// Holder and waiter in different Lockers, as in two processes:
		// the waiter learns of the release from an invalidation.
		acquirer := func() func(context.Context) (func(), error) {
			l, err := lock.New(e.rc, e.prefix)
			if err != nil {
				b.Fatal(err)
			}
			m, err := l.Mutex(key, lock.WithTTL(lockTTL))
			if err != nil {
				b.Fatal(err)
			}
			return func(ctx context.Context) (func(), error) {
				lease, err := m.Acquire(ctx)
				if err != nil {
					return nil, err
				}
				return func() { _ = lease.Release(ctx) }, nil
			}
		}
		return acquirer(), acquirer()
	}},
	{"rueidislock", func(b *testing.B, e *lockEnv, key string) (func(context.Context) (func(), error), func(context.Context) (func(), error)) {
		l, err := rueidislock.NewLocker(rueidislock.LockerOption{
			ClientOption: rueidis.ClientOption{InitAddress: []string{e.addr}},
			KeyMajority:  1,
			KeyValidity:  lockTTL,
			KeyPrefix:    e.prefix + "-rlw",
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Close)
		acquire := func(ctx context.Context) (func(), error) {
			_, cancel, err := l.WithContext(ctx, key)
			return cancel, err
		}
		return acquire, acquire
	}},
	{"bsm-redislock-1ms", func(_ *testing.B, e *lockEnv, key string) (func(context.Context) (func(), error), func(context.Context) (func(), error)) {
		c := redislock.New(e.gr)
		acquire := func(ctx context.Context) (func(), error) {
			// Retry every millisecond until ctx ends: bsm/redislock's
			// fastest waiting.
			l, err := c.Obtain(ctx, key, lockTTL, &redislock.Options{RetryStrategy: redislock.LinearBackoff(time.Millisecond)})
			if err != nil {
				return nil, err
			}
			return func() { _ = l.Release(ctx) }, nil
		}
		return acquire, acquire
	}},
}

// BenchmarkWakeUp measures how long a blocked waiter takes to get a lock
// after its holder releases it: the time from the release call to the
// waiter's acquire returning, reported as median and 90th percentile.
func BenchmarkWakeUp(b *testing.B) {
	e := lockSetup(b)
	for _, w := range lockWakers {
		b.Run(w.name, func(b *testing.B) {
			key := fmt.Sprintf("%s:wake:%s", e.prefix, w.name)
			hold, wait := w.make(b, e, key)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				release, err := hold(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got := make(chan error, 1)
				var at time.Time
				go func() {
					rel, err := wait(ctx)
					at = time.Now()
					if err == nil {
						rel()
					}
					got <- err
				}()
				// Let the waiter find the lock taken and park.
				time.Sleep(5 * time.Millisecond)
				t0 := time.Now()
				release()
				if err := <-got; err != nil {
					b.Fatal(err)
				}
				lat = append(lat, at.Sub(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
		})
	}
}

// lockContender is one implementation of the contended benchmark: per
// goroutine, a function that waits for the one lock key and returns the
// release of what it got.
type lockContender struct {
	name string
	// make is called once per benchmark; it returns a builder of each
	// goroutine's acquire function.
	make func(b *testing.B, e *lockEnv, key string) func() lockAcquire
}

// lockAcquire waits for the lock and returns its release.
type lockAcquire func(ctx context.Context) (release func(context.Context) error, err error)

var lockContenders = []lockContender{
	{"lock.Mutex", func(b *testing.B, e *lockEnv, key string) func() lockAcquire {
		// One Locker, as one process has; a Mutex value per goroutine.
		l, err := lock.New(e.rc, e.prefix, lock.WithTTL(lockTTL))
		if err != nil {
			b.Fatal(err)
		}
		return func() lockAcquire {
			m, err := l.Mutex(key)
			if err != nil {
				b.Fatal(err)
			}
			return func(ctx context.Context) (func(context.Context) error, error) {
				lease, err := m.Acquire(ctx)
				if err != nil {
					return nil, err
				}
				return lease.Release, nil
			}
		}
	}},
	{"rueidislock", func(b *testing.B, e *lockEnv, key string) func() lockAcquire {
		l, err := rueidislock.NewLocker(rueidislock.LockerOption{
			ClientOption: rueidis.ClientOption{InitAddress: []string{e.addr}},
			KeyMajority:  1,
			KeyValidity:  lockTTL,
			KeyPrefix:    e.prefix + "-rlc",
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Close)
		return func() lockAcquire {
			return func(ctx context.Context) (func(context.Context) error, error) {
				_, cancel, err := l.WithContext(ctx, key)
				if err != nil {
					return nil, err
				}
				return func(context.Context) error { cancel(); return nil }, nil
			}
		}
	}},
	{"bsm-redislock-1ms", func(_ *testing.B, e *lockEnv, key string) func() lockAcquire {
		c := redislock.New(e.gr)
		return func() lockAcquire {
			// Retry every millisecond until ctx ends: its fastest waiting.
			opt := &redislock.Options{RetryStrategy: redislock.LinearBackoff(time.Millisecond)}
			return func(ctx context.Context) (func(context.Context) error, error) {
				l, err := c.Obtain(ctx, key, lockTTL, opt)
				if err != nil {
					return nil, err
				}
				return l.Release, nil
			}
		}
	}},
	{"redsync-1ms", func(_ *testing.B, e *lockEnv, key string) func() lockAcquire {
		rs := redsync.New(goredis.NewPool(e.gr))
		return func() lockAcquire {
			m := rs.NewMutex(key, redsync.WithExpiry(lockTTL), redsync.WithTries(1<<30), redsync.WithRetryDelay(time.Millisecond))
			return func(ctx context.Context) (func(context.Context) error, error) {
				if err := m.LockContext(ctx); err != nil {
					return nil, err
				}
				return func(ctx context.Context) error { _, err := m.UnlockContext(ctx); return err }, nil
			}
		}
	}},
}

// contendedGoroutines are the concurrency levels of BenchmarkContended.
var contendedGoroutines = []int{1, 8, 64}

// BenchmarkContended measures acquire+release pairs per second when every
// goroutine wants the same lock key, so pairs run one at a time: the
// figure is the cost of handing the lock from one holder to the next. It
// also reports how long each acquire waited (median and 99th percentile)
// and the redis-server CPU per pair.
func BenchmarkContended(b *testing.B) {
	e := lockSetup(b)
	for _, g := range contendedGoroutines {
		for _, c := range lockContenders {
			b.Run(fmt.Sprintf("goroutines=%d/%s", g, c.name), func(b *testing.B) {
				key := fmt.Sprintf("%s:contended:%s:%d", e.prefix, c.name, g)
				newAcquire := c.make(b, e, key)
				acquires := make([]lockAcquire, g)
				for i := range acquires {
					acquires[i] = newAcquire()
				}
				// Generous: the pollers' waits are random, and a bsm/redislock
				// ctx without a deadline would stop retrying after the TTL.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				for _, acquire := range acquires { // warm up
					release, err := acquire(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if err := release(ctx); err != nil {
						b.Fatal(err)
					}
				}
				waits := make([]time.Duration, b.N)
				var next atomic.Int64
				b.ReportAllocs()
				srv0 := e.serverCPU(b)
				b.ResetTimer()
				start := time.Now()
				lockRunParallel(b, g, func(i int) error {
					// The slot is claimed when the wait begins, so waits holds
					// every pair once.
					n := next.Add(1) - 1
					t0 := time.Now()
					release, err := acquires[i](ctx)
					if err != nil {
						return err
					}
					if n < int64(len(waits)) {
						waits[n] = time.Since(t0)
					}
					return release(ctx)
				})
				elapsed := time.Since(start)
				b.StopTimer()
				srv := e.serverCPU(b) - srv0
				slices.Sort(waits)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
				b.ReportMetric(float64(waits[len(waits)/2].Microseconds())/1000, "wait-p50-ms")
				b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "wait-p99-ms")
				b.ReportMetric(float64(srv.Microseconds())/float64(b.N), "server-µs/pair")
			})
		}
	}
}
