package redisallocatortest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// A holder that crashes never frees its lease; moving the server clock
// past the lease shows the pool taking the member back, with no sleep. In
// a test, use NewServer(t) instead of Start: the test's cleanup closes it.
func Example() {
	srv, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()

	p, err := pool.New[string](srv.Client(), "test", "gpus")
	if err != nil {
		panic(err)
	}
	_, _ = p.AddKeys(ctx, []string{"gpu-0"})

	crashed, _ := p.Malloc(ctx, pool.LeaseTTL(time.Minute)) // never freed
	_, err = p.Malloc(ctx)
	fmt.Println(crashed.Key, "held; next malloc empty:", errors.Is(err, pool.ErrEmpty))

	srv.Advance(time.Minute + time.Second)
	next, err := p.Malloc(ctx)
	fmt.Println(next.Key, "fence above the crashed holder's:", next.Fence() > crashed.Fence(), err)
	// Output:
	// gpu-0 held; next malloc empty: true
	// gpu-0 fence above the crashed holder's: true <nil>
}
