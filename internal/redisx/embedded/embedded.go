// Package embedded starts an in-process Redis (miniredis) with a client set
// up for it. It is the only non-test code of the module that links
// miniredis and gopher-lua, and only test helpers (redisxtest), the public
// test-support package redisallocatortest and the CLI's demo import it, so
// programs that use lock, pool, task, health or codec never link it.
package embedded

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// Server is an in-process Redis (miniredis) with a client set up for it:
// client-side caching off, since miniredis has no CLIENT TRACKING. rueidis
// sees miniredis as a one-node cluster, so cross-slot mistakes surface here
// as they would on a real cluster.
type Server struct {
	// Client talks to the server. Close closes it.
	Client rueidis.Client
	// Mini is the miniredis instance, for tests that move its clock.
	Mini *miniredis.Miniredis

	once sync.Once
}

// URL returns a redis:// URL for the server, for programs that connect by
// URL (the CLI, a second process).
func (s *Server) URL() string { return "redis://" + s.Mini.Addr() }

// Close closes the client and stops the server. It is safe to call more
// than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.Client.Close()
		s.Mini.Close()
	})
}

// Start starts miniredis on a free loopback port and connects a client to
// it. With clockTTL, key TTLs run down with the server clock (the wall
// clock, or the time set with SetTime), as on a real Redis; without it they
// move only with FastForward.
func Start(clockTTL bool) (*Server, error) {
	m := miniredis.NewMiniRedis()
	if clockTTL {
		m.ClockTTL(true)
	}
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("%w: start embedded redis: %w", redisx.ErrConnect, err)
	}
	c, err := rueidis.NewClient(redisx.EmbeddedClientOption(m.Addr()))
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%w: embedded redis: %w", redisx.ErrConnect, err)
	}
	return &Server{Client: c, Mini: m}, nil
}

// Dial returns client options that reach m through in-memory pipes instead
// of TCP, so the client works inside a testing/synctest bubble (where the
// clock is fake and real network waits would never end).
//
// The client is a standalone one: a cluster client refreshes its topology
// in goroutines that may outlive Close, which a bubble reports as a
// deadlock.
func Dial(m *miniredis.Miniredis) rueidis.ClientOption {
	opt := redisx.EmbeddedClientOption("miniredis:0")
	opt.ForceSingleClient = true
	opt.DialCtxFn = func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
		return m.Dial()
	}
	return opt
}
