package inspect_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// Collect a prefix with one nearly exhausted pool and print the diagnosis.
func ExampleCollect() {
	r, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[string](r.Client(), "myapp", "gpus")
	_, _ = p.AddKeys(ctx, []string{"gpu-0", "gpu-1"})
	_, _ = p.MallocN(ctx, 2, pool.LeaseTTL(time.Hour))

	rep, err := inspect.Collect(ctx, r.Client(), "myapp", inspect.Options{SkipRedis: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Health, len(rep.Pools), rep.Pools[0].Held)
	for _, f := range rep.Findings {
		fmt.Println(f.Severity, f.Code, f.Subject)
	}
	// Output:
	// degraded 1 2
	// warning low-free-capacity pool:gpus
}
