package redisx

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
)

// EmbeddedServer is an in-process Redis (miniredis) with a client set up
// for it: client-side caching off, since miniredis has no CLIENT TRACKING.
// rueidis sees miniredis as a one-node cluster, so cross-slot mistakes
// surface here as they would on a real cluster.
type EmbeddedServer struct {
	// Client talks to the server. Close closes it.
	Client rueidis.Client
	// Server is the miniredis instance, for tests that move its clock.
	Server *miniredis.Miniredis

	once sync.Once
}

// URL returns a redis:// URL for the server, for programs that connect by
// URL (the CLI, a second process).
func (e *EmbeddedServer) URL() string { return "redis://" + e.Server.Addr() }

// Close closes the client and stops the server. It is safe to call more
// than once.
func (e *EmbeddedServer) Close() {
	e.once.Do(func() {
		e.Client.Close()
		e.Server.Close()
	})
}

// StartEmbedded starts miniredis on a free loopback port and connects a
// client to it.
func StartEmbedded() (*EmbeddedServer, error) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("%w: start embedded redis: %w", ErrConnect, err)
	}
	c, err := rueidis.NewClient(EmbeddedClientOption(m.Addr()))
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%w: embedded redis: %w", ErrConnect, err)
	}
	return &EmbeddedServer{Client: c, Server: m}, nil
}

// EmbeddedClientOption is the client option for a miniredis at addr.
func EmbeddedClientOption(addr string) rueidis.ClientOption {
	return rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true}
}

// DialEmbedded returns client options that reach m through in-memory pipes
// instead of TCP, so the client works inside a testing/synctest bubble
// (where the clock is fake and real network waits would never end).
//
// The client is a standalone one: a cluster client refreshes its topology
// in goroutines that may outlive Close, which a bubble reports as a
// deadlock.
func DialEmbedded(m *miniredis.Miniredis) rueidis.ClientOption {
	opt := EmbeddedClientOption("miniredis:0")
	opt.ForceSingleClient = true
	opt.DialCtxFn = func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
		return m.Dial()
	}
	return opt
}
