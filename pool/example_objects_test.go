package pool_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/pool"
)

// An HTTP client per proxy, opened once per process and reused by every
// allocation of the proxy; a new one when the proxy's value changes.
func ExampleNewObjects() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, err := pool.New[Proxy](r.Client(), "myapp", "clients")
	if err != nil {
		panic(err)
	}
	_, _ = p.Add(ctx, map[string]Proxy{"p1": {Addr: "10.0.0.1:3128", Region: "eu"}})

	open := func(_ context.Context, key string, v Proxy) (*http.Client, error) {
		u, err := url.Parse("http://" + v.Addr)
		if err != nil {
			return nil, err
		}
		fmt.Println("open", key, v.Addr)
		return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}, nil
	}
	closeClient := func(c *http.Client) error {
		c.CloseIdleConnections()
		fmt.Println("close")
		return nil
	}
	objs, err := pool.NewObjects(p, open, closeClient)
	if err != nil {
		panic(err)
	}
	// go objs.Run(ctx) closes idle clients and those of removed proxies.

	for range 2 {
		o, err := objs.Malloc(ctx)
		if err != nil {
			panic(err)
		}
		// o.Object.Do(req.WithContext(o.Context())) ...
		fmt.Println(o.Key, o.Fence() > 0)
		if err := o.Release(ctx); err != nil {
			panic(err)
		}
	}
	_, _ = p.Add(ctx, map[string]Proxy{"p1": {Addr: "10.0.0.9:3128", Region: "eu"}}) // the proxy moved
	o, err := objs.Malloc(ctx)
	if err != nil {
		panic(err)
	}
	_ = o.Release(ctx)
	fmt.Println(objs.Close(ctx))
	// Output:
	// open p1 10.0.0.1:3128
	// p1 true
	// p1 true
	// close
	// open p1 10.0.0.9:3128
	// close
	// <nil>
}

// Objects.Probe makes a health.Checker probe members through their
// objects: a member whose object does not open, or fails its check, goes
// to quarantine.
func ExampleObjects_Probe() {
	r := embedded()
	defer r.Close()
	ctx := context.Background()

	p, _ := pool.New[Proxy](r.Client(), "myapp", "checked")
	_, _ = p.Add(ctx, map[string]Proxy{"p1": {Addr: "10.0.0.1:3128"}, "p2": {Addr: "10.0.0.2:3128"}})
	objs, _ := pool.NewObjects(p, func(_ context.Context, _ string, v Proxy) (string, error) {
		return v.Addr, nil // a connection, in real life
	}, nil)
	defer func() { _ = objs.Close(ctx) }()

	check := func(_ context.Context, conn string) error {
		if conn == "10.0.0.2:3128" {
			return errors.New("407 proxy authentication required")
		}
		return nil
	}
	c, err := health.NewChecker(r.Client(), "myapp", p, objs.Probe(check))
	if err != nil {
		panic(err)
	}
	res, err := c.CheckOnce(ctx)
	fmt.Println(res.Healthy, res.Unhealthy, err)
	// Output:
	// [p1] [p2] <nil>
}
