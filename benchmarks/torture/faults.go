package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// proxy is an in-process toxiproxy between the workers and Redis.
type proxy struct {
	p *toxiproxy.Proxy
}

func newProxy(upstream string) (*proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "redis", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	return &proxy{p: p}, nil
}

// addr is where workers connect; it stays the same across disable/enable.
func (x *proxy) addr() string {
	x.p.Lock()
	defer x.p.Unlock()
	return x.p.Listen
}

func (x *proxy) disable() { x.p.Stop() }

func (x *proxy) enable() error {
	for range 50 {
		err := x.p.Start()
		if err == nil || errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return x.p.Start()
}

func (x *proxy) addToxic(name, typ, stream string, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, typ, stream, attrs)
	_, err := x.p.Toxics.AddToxicJson(strings.NewReader(js))
	return err
}

func (x *proxy) removeToxic(name string) { _ = x.p.Toxics.RemoveToxic(context.Background(), name) }

// maxInjectedDelay bounds how late a request that went through the proxy
// can reach Redis (latency plus jitter of one direction).
const maxInjectedDelay = 450 * time.Millisecond

// fault is one injected network fault; apply starts it and returns the
// function that ends it.
type fault struct {
	kind  string
	apply func(x *proxy, rng *rand.Rand) (end func(), err error)
}

var faultKinds = []fault{
	{"latency", func(x *proxy, rng *rand.Rand) (func(), error) {
		lat := 20 + rng.IntN(300)
		jit := rng.IntN(min(lat, 100) + 1)
		attrs := fmt.Sprintf(`{"latency":%d,"jitter":%d}`, lat, jit)
		if err := x.addToxic("lat_down", "latency", "downstream", attrs); err != nil {
			return nil, err
		}
		if err := x.addToxic("lat_up", "latency", "upstream", attrs); err != nil {
			x.removeToxic("lat_down")
			return nil, err
		}
		// Latency passes every byte on, so removing it is clean.
		return func() { x.removeToxic("lat_up"); x.removeToxic("lat_down") }, nil
	}},
	{"timeout", func(x *proxy, rng *rand.Rand) (func(), error) {
		// Data stops and connections close after the timeout.
		attrs := fmt.Sprintf(`{"timeout":%d}`, 200+rng.IntN(1500))
		if err := x.addToxic("timeout", "timeout", pickStream(rng), attrs); err != nil {
			return nil, err
		}
		return func() { x.cleanCut("timeout") }, nil
	}},
	{"reset_peer", func(x *proxy, rng *rand.Rand) (func(), error) {
		attrs := fmt.Sprintf(`{"timeout":%d}`, rng.IntN(500))
		if err := x.addToxic("reset", "reset_peer", pickStream(rng), attrs); err != nil {
			return nil, err
		}
		return func() { x.cleanCut("reset") }, nil
	}},
	{"slicer", func(x *proxy, rng *rand.Rand) (func(), error) {
		attrs := fmt.Sprintf(`{"average_size":%d,"size_variation":%d,"delay":%d}`, 1+rng.IntN(16), rng.IntN(2), rng.IntN(2000))
		if err := x.addToxic("slicer", "slicer", pickStream(rng), attrs); err != nil {
			return nil, err
		}
		return func() { x.removeToxic("slicer") }, nil
	}},
	{"proxy_disabled", func(x *proxy, _ *rand.Rand) (func(), error) {
		x.disable()
		return func() { _ = x.enable() }, nil
	}},
}

// cleanCut removes a toxic that dropped bytes. A connection it dropped
// bytes from must not carry on (TCP never loses bytes silently; the
// client would read replies out of step), so every connection is closed
// first: disable, remove, enable.
func (x *proxy) cleanCut(name string) {
	x.disable()
	x.removeToxic(name)
	_ = x.enable()
}

func pickStream(rng *rand.Rand) string {
	if rng.IntN(2) == 0 {
		return "upstream"
	}
	return "downstream"
}

// setUpstream points the proxy at another server; call it while the proxy
// is disabled (new connections dial the upstream).
func (x *proxy) setUpstream(addr string) {
	x.p.Lock()
	defer x.p.Unlock()
	x.p.Upstream = addr
}
