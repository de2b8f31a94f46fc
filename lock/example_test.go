package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/lock"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// The reference's lock, owner-checked: a second owner cannot take, extend
// or release it.
func ExampleLocker() {
	srv := startRedis()
	defer srv.Close()
	ctx := context.Background()

	l, err := lock.New(srv.Client(), "billing")
	if err != nil {
		log.Fatal(err)
	}
	ok, err := l.Lock(ctx, "invoice:42", "worker-1", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker-1 locked:", ok)

	ok, _ = l.Lock(ctx, "invoice:42", "worker-2", 30*time.Second)
	fmt.Println("worker-2 locked:", ok)
	err = l.Update(ctx, "invoice:42", "worker-2", time.Hour)
	fmt.Println("worker-2 may extend:", !errors.Is(err, lock.ErrNotHeld))

	info, _ := l.Info(ctx, "invoice:42")
	fmt.Println("owner:", info.Owner, "holds:", info.Holds)

	left, _ := l.Unlock(ctx, "invoice:42", "worker-1")
	fmt.Println("holds left:", left)
	// Output:
	// worker-1 locked: true
	// worker-2 locked: false
	// worker-2 may extend: false
	// owner: worker-1 holds: 1
	// holds left: 0
}

// RLock counts holds: each one needs its own Unlock.
func ExampleLocker_RLock() {
	srv := startRedis()
	defer srv.Close()
	ctx := context.Background()
	l, _ := lock.New(srv.Client(), "app")

	for range 3 {
		n, _ := l.RLock(ctx, "config", "loader", time.Minute)
		fmt.Println("holds:", n)
	}
	for range 3 {
		n, _ := l.Unlock(ctx, "config", "loader")
		fmt.Println("left:", n)
	}
	// Output:
	// holds: 1
	// holds: 2
	// holds: 3
	// left: 2
	// left: 1
	// left: 0
}

// The conditional family: advance a stored epoch only when the new one is
// greater (the reference's setgt).
func ExampleLocker_CompareAndSet() {
	srv := startRedis()
	defer srv.Close()
	ctx := context.Background()
	l, _ := lock.New(srv.Client(), "app")

	for _, epoch := range []float64{5, 7, 6} {
		advanced, err := l.CompareAndSet(ctx, "epoch", lock.OpGT, epoch, epoch, lock.Permanent)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(epoch, "advanced:", advanced)
	}
	info, _ := l.Info(ctx, "epoch")
	fmt.Println("stored:", info.Owner)
	// Output:
	// 5 advanced: true
	// 7 advanced: true
	// 6 advanced: false
	// stored: 7
}

// A blocking mutex whose watchdog keeps the lease alive while the work
// runs; the lease's context ends if the lock is lost, and the fencing token
// lets the protected resource refuse stale holders.
func ExampleMutex() {
	srv := startRedis()
	defer srv.Close()
	ctx := context.Background()

	l, err := lock.New(srv.Client(), "reports")
	if err != nil {
		log.Fatal(err)
	}
	m, err := l.Mutex("nightly", lock.WithTTL(2*time.Second), lock.WithWatchdog(true))
	if err != nil {
		log.Fatal(err)
	}
	lease, err := m.Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	work := lease.Context() // ends if the lock is lost
	first := lease.Fence()  // pass it to the resource the lock guards

	other, _ := l.Mutex("nightly")
	_, err = other.TryAcquire(ctx)
	fmt.Println("second acquirer:", errors.Is(err, lock.ErrNotAcquired))

	if err := lease.Release(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("work context ended:", work.Err() != nil, "cause:", context.Cause(work))

	next, _ := other.TryAcquire(ctx)
	fmt.Println("next fencing token is higher:", next.Fence() > first)
	_ = next.Release(ctx)
	// Output:
	// second acquirer: true
	// work context ended: true cause: lock: not held: lease released
	// next fencing token is higher: true
}

// A lock over three independent Redis servers keeps working with one of
// them down.
func ExampleQuorum() {
	var clients []rueidis.Client
	var servers []*redisallocatortest.Server
	for range 3 {
		srv := startRedis()
		defer srv.Close()
		servers = append(servers, srv)
		clients = append(clients, srv.Client())
	}
	ctx := context.Background()

	q, err := lock.NewQuorum(clients, "jobs", lock.WithTTL(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	m, _ := q.Mutex("rebuild-index")

	servers[2].Miniredis().Close() // one server fails
	lease, err := m.Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held on a majority of", len(clients), "servers:", lease.Valid())
	if err := lease.Release(ctx); err != nil {
		log.Fatal(err)
	}

	servers[1].Miniredis().Close() // a second one fails: no majority
	_, err = m.TryAcquire(ctx)
	fmt.Println("with two down:", errors.Is(err, lock.ErrNoQuorum))
	// Output:
	// held on a majority of 3 servers: true
	// with two down: true
}

// startRedis starts an embedded Redis (miniredis), so that the examples
// run anywhere; production code passes a client connected to Redis.
func startRedis() *redisallocatortest.Server {
	srv, err := redisallocatortest.Start()
	if err != nil {
		log.Fatal(err)
	}
	return srv
}
