package pool_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// Proxy is what the example pools hold.
type Proxy struct {
	Addr   string `json:"addr" msgpack:"addr" cbor:"addr"`
	Region string `json:"region" msgpack:"region" cbor:"region"`
}

// embedded starts an in-process Redis so the examples run anywhere; in
// production use redisallocator.Connect.
func embedded() *redisallocatortest.Server {
	r, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	return r
}

// Check a proxy out, use it, give it back.
func Example() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, err := pool.New[Proxy](r.Client(), "myapp", "proxies")
	if err != nil {
		panic(err)
	}
	_, err = p.Add(ctx, map[string]Proxy{
		"p1": {Addr: "10.0.0.1:3128", Region: "eu"},
		"p2": {Addr: "10.0.0.2:3128", Region: "us"},
	})
	if err != nil {
		panic(err)
	}

	a, err := p.Malloc(ctx, pool.LeaseTTL(30*time.Second))
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Key, a.Value.Addr, a.Fence() > 0) // pass a.Fence() to what the proxy guards
	if err := a.Release(ctx); err != nil {
		panic(err)
	}
	fmt.Println(errors.Is(a.Release(ctx), pool.ErrNotHeld)) // a second Free
	// Output:
	// p1 10.0.0.1:3128 true
	// true
}

// Each pool picks its codec; every process sharing the pool must use the
// same one.
func ExampleWithCodec() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	for _, c := range []codec.Codec{codec.JSON, codec.MsgPack, codec.CBOR} {
		p, err := pool.New[Proxy](r.Client(), "myapp", "proxies-"+c.Name(), pool.WithCodec(c))
		if err != nil {
			panic(err)
		}
		if _, err := p.Add(ctx, map[string]Proxy{"p1": {Addr: "10.0.0.1:3128", Region: "eu"}}); err != nil {
			panic(err)
		}
		v, err := p.Get(ctx, "p1")
		fmt.Println(c.Name(), v.Region, err)
	}
	// Output:
	// json eu <nil>
	// msgpack eu <nil>
	// cbor eu <nil>
}

// Higher priorities go first; equal ones least recently freed first.
func ExamplePriority() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "ranked")
	_, _ = p.AddKeys(ctx, []string{"slow"}, pool.Priority(-10))
	_, _ = p.AddKeys(ctx, []string{"fast"}, pool.Priority(100))
	_, _ = p.AddKeys(ctx, []string{"normal"})

	for range 3 {
		l, err := p.Malloc(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println(l.Key)
	}
	// Output:
	// fast
	// normal
	// slow
}

// A worker gets "its" member again when it is free.
func ExampleBind() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "sticky")
	_, _ = p.AddKeys(ctx, []string{"a", "b", "c"})

	// worker-7 used "c" before; the binding brings it back although "a"
	// is first in the free order.
	if err := p.Admin().Bind(ctx, "worker-7", "c", time.Hour); err != nil {
		panic(err)
	}
	l, _ := p.Malloc(ctx, pool.Bind("worker-7", time.Hour))
	other, _ := p.Malloc(ctx, pool.Bind("worker-8", time.Hour))
	fmt.Println(l.Key, other.Key)
	snap, _ := p.Admin().Snapshot(ctx)
	for _, b := range snap.Bindings {
		fmt.Println(b.Name, "->", b.Key)
	}
	// Output:
	// c a
	// worker-7 -> c
	// worker-8 -> a
}

// With Wait, an empty pool blocks Malloc until a member is freed.
func ExampleWait() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "scarce")
	_, _ = p.AddKeys(ctx, []string{"only"})
	held, _ := p.Malloc(ctx)

	_, err := p.Malloc(ctx)
	fmt.Println(errors.Is(err, pool.ErrEmpty))

	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = held.Release(ctx)
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := p.Malloc(wctx, pool.Wait())
	fmt.Println(l.Key, err)
	// Output:
	// true
	// only <nil>
}

// A holder that crashes never frees; its lease lapses and GC (or the next
// Malloc) returns the member.
func ExampleAdmin_GC() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "gc", pool.WithTimerBudget(0))
	_, _ = p.AddKeys(ctx, []string{"a"})
	_, _ = p.Malloc(ctx, pool.LeaseTTL(20*time.Millisecond)) // never freed
	time.Sleep(50 * time.Millisecond)

	res, err := p.Admin().GC(ctx, 100)
	fmt.Println(res.LeasesReclaimed, err)
	st, _ := p.Admin().Stats(ctx)
	fmt.Println(st.Counts.Free, st.Counts.Held)
	// Output:
	// 1 <nil>
	// 1 0
}

// Stats is the cheap summary to poll, whatever the pool's size; Snapshot
// reads every member.
func ExampleAdmin_Stats() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "stats")
	_, _ = p.AddKeys(ctx, []string{"a", "b", "c"})
	_, _ = p.Malloc(ctx, pool.LeaseTTL(time.Minute))

	st, err := p.Admin().Stats(ctx)
	fmt.Println(st.Counts.Free, st.Counts.Held, st.Fence > 0, st.DueTimers, err)
	// Output:
	// 2 1 true 0 <nil>
}

// A scaler buys proxies when the free ones run low and retires idle
// surplus, one scaler at a time across all processes.
func ExampleNewScaler() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "elastic")
	bought := 0
	buy := func(_ context.Context, n int) ([]pool.Provisioned[Proxy], error) {
		var out []pool.Provisioned[Proxy]
		for range n {
			bought++
			key := fmt.Sprintf("p%d", bought)
			out = append(out, pool.Provisioned[Proxy]{Key: key, Value: Proxy{Addr: key + ":3128"}, HasValue: true})
		}
		return out, nil
	}
	sc, err := pool.NewScaler(p, buy, nil, pool.WithWaterMarks(2, 4), pool.WithSizeBounds(0, 10))
	if err != nil {
		panic(err)
	}
	ev, err := sc.Step(ctx) // empty pool: below the low-water mark
	fmt.Println(ev.Action, ev.Keys, err)
	st, _ := p.Admin().Stats(ctx)
	fmt.Println(st.Counts.Free)
	// Output:
	// provision [p1 p2] <nil>
	// 2
}

// An operator's tool opens the pool without knowing its value type, looks
// at the leases and ends the one it saw, and only that one.
func ExampleNewAdmin() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "stuck")
	_, _ = p.AddKeys(ctx, []string{"a", "b"})
	a, _ := p.Malloc(ctx, pool.LeaseTTL(pool.Permanent)) // its holder crashed

	admin, err := pool.NewAdmin(r.Client(), "myapp", "stuck")
	if err != nil {
		panic(err)
	}
	s, _ := admin.Snapshot(ctx)
	seen := map[string]int64{}
	for _, m := range s.Members {
		if m.Lease != nil {
			seen[m.Key] = m.Lease.Fence
		}
	}
	n, err := admin.ForceRelease(ctx, seen)
	fmt.Println(len(seen), n, err)
	fmt.Println(errors.Is(a.Release(ctx), pool.ErrNotHeld)) // the old holder lost it
	// Output:
	// 1 1 <nil>
	// true
}

// A Maintainer keeps a pool tidy in the background: GC of lapsed leases
// and expired members, and a membership source.
func ExampleNewMaintainer() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "fed")
	inventory := func(context.Context) ([]pool.Record, error) {
		return []pool.Record{{Key: "p1", Priority: 1}, {Key: "p2"}}, nil
	}
	m, err := pool.NewMaintainer(p.Admin(), pool.WithSource(inventory, time.Minute, true),
		pool.WithMaintainInterval(10*time.Millisecond),
		pool.WithErrorFunc(func(err error) { fmt.Println("maintain:", err) }))
	if err != nil {
		panic(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }() // until rctx ends
	for keys, _ := p.Keys(ctx); len(keys) < 2; keys, _ = p.Keys(ctx) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	err = <-done
	keys, _ := p.Keys(ctx)
	fmt.Println(keys, errors.Is(err, context.Canceled))
	// Output:
	// [p1 p2] true
}
