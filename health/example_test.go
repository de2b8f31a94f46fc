package health_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// A worker session: while it heartbeats, its leases stay; if it dies, the
// pool takes them back after the session timeout.
func ExampleNewSession() {
	r, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	defer r.Close()
	ctx := context.Background()

	s, err := health.NewSession(ctx, r.Client(), "myapp",
		health.WithID("crawler-1"), health.WithLabels(map[string]string{"zone": "eu"}))
	if err != nil {
		panic(err)
	}
	// Run heartbeats until the session is closed (or lost, or ctx ends).
	beating := make(chan error, 1)
	go func() { beating <- s.Run(ctx) }()
	defer func() {
		_ = s.Close(ctx)
		fmt.Println(errors.Is(<-beating, health.ErrClosed))
	}()

	p, _ := pool.New[string](r.Client(), "myapp", "proxies")
	_, _ = p.AddKeys(ctx, []string{"p1"})
	l, err := p.Malloc(ctx, pool.InSession(s))
	fmt.Println(l.Key, err)

	reg, _ := health.NewRegistry(r.Client(), "myapp")
	ws, _ := reg.Workers(ctx)
	fmt.Println(ws[0].ID, ws[0].Alive, ws[0].Labels["zone"], s.Valid())
	// Output:
	// p1 <nil>
	// crawler-1 true eu true
	// true
}

// A checker probes the members and quarantines the one that fails.
func ExampleNewChecker() {
	r, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[string](r.Client(), "myapp", "proxies")
	_, _ = p.Add(ctx, map[string]string{"p1": "10.0.0.1:3128", "p2": "10.0.0.2:3128"})

	dial := func(_ context.Context, _, addr string) error {
		if addr == "10.0.0.2:3128" {
			return errors.New("connection refused")
		}
		return nil
	}
	ck, err := health.NewChecker(r.Client(), "myapp", p, dial, health.WithCooldown(time.Minute, time.Hour))
	if err != nil {
		panic(err)
	}
	res, err := ck.CheckOnce(ctx)
	fmt.Println(res.Healthy, res.Unhealthy, err)
	snap, _ := p.Admin().Snapshot(ctx)
	for _, m := range snap.Members {
		fmt.Println(m.Key, m.State)
	}
	// Output:
	// [p1] [p2] <nil>
	// p1 free
	// p2 unhealthy
}
