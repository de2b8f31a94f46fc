// Package redisxtest gives conformance suites their three backends: the
// embedded miniredis (always), a real standalone redis-server (REDIS_URL)
// and a real Redis Cluster (REDIS_CLUSTER_ADDRS, comma-separated seeds).
// A fourth, a master with a replica behind Sentinel (REDIS_SENTINEL_URL, a
// redis-sentinel:// URL), is not in Each: the tests that need it ask for it
// with New(t, BackendSentinel) and force failovers on it (SentinelFailover).
//
// A suite is written once:
//
//	func TestAcquire(t *testing.T) {
//		redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
//			ns := b.Prefix // unique to this test; its keys are deleted after it
//			...
//		})
//	}
//
// Locally a real backend whose variable is unset is skipped with a message;
// when the CI variable is set a missing backend fails the test, so a green
// CI run always covered all three. Tests never FLUSHALL: each gets its own
// key prefix and its keys are deleted in t.Cleanup.
package redisxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// Environment variables naming the real backends.
const (
	EnvRedisURL       = "REDIS_URL"
	EnvClusterAddrs   = "REDIS_CLUSTER_ADDRS"
	EnvSentinelURL    = "REDIS_SENTINEL_URL"
	EnvCI             = "CI"
	BackendMini       = "miniredis"
	BackendStandalone = "standalone"
	BackendCluster    = "cluster"
	BackendSentinel   = "sentinel"
)

// Backend is one Redis a test runs against.
type Backend struct {
	// Name is BackendMini, BackendStandalone, BackendCluster or
	// BackendSentinel.
	Name string
	// Client is connected for this test only and closed after it.
	Client rueidis.Client
	// Mini is the miniredis server for BackendMini, nil otherwise.
	Mini *miniredis.Miniredis
	// Prefix is unique to the test; use it as the prefix of every
	// namespace so cleanup finds the keys.
	Prefix string
}

// Real reports whether the backend is a real redis-server.
func (b *Backend) Real() bool { return b.Mini == nil }

// Each runs fn as a parallel subtest on every backend.
func Each(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	for _, name := range []string{BackendMini, BackendStandalone, BackendCluster} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, New(t, name))
		})
	}
}

// New returns a backend by name, skipping (or failing under CI) when a real
// backend is not configured.
func New(t testing.TB, name string) *Backend {
	t.Helper()
	b := &Backend{Name: name, Prefix: NewPrefix()}
	switch name {
	case BackendMini:
		b.Mini = miniredis.RunT(t)
		c, err := rueidis.NewClient(redisx.EmbeddedClientOption(b.Mini.Addr()))
		if err != nil {
			t.Fatalf("redisxtest: client for miniredis: %v", err)
		}
		b.Client = c
	case BackendStandalone:
		b.Client = connectEnv(t, EnvRedisURL, func(v string) string { return v })
	case BackendCluster:
		b.Client = connectEnv(t, EnvClusterAddrs, func(v string) string { return "redis://" + v })
	case BackendSentinel:
		b.Client = connectEnv(t, EnvSentinelURL, func(v string) string { return v })
	default:
		t.Fatalf("redisxtest: unknown backend %q", name)
	}
	t.Cleanup(func() {
		if b.Real() {
			b.deleteKeys(t)
		}
		b.Client.Close()
	})
	return b
}

func connectEnv(t testing.TB, env string, toURL func(string) string) rueidis.Client {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		if os.Getenv(EnvCI) != "" {
			t.Fatalf("redisxtest: %s is not set but CI is: real backends are mandatory in CI", env)
		}
		t.Skipf("redisxtest: %s not set; skipping the real-Redis backend", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := redisx.Connect(ctx, toURL(v))
	if err != nil {
		t.Fatalf("redisxtest: %s=%s: %v", env, v, err)
	}
	return c
}

var prefixSeq atomic.Uint64

// NewPrefix returns a key prefix unique to this process and call:
// "rt-<random>-<n>". It satisfies redisx.ValidateName.
func NewPrefix() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return "rt-" + hex.EncodeToString(r[:]) + "-" + itoa(prefixSeq.Add(1))
}

func itoa(n uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

// NewClient returns a second client to the same backend, closed after the
// test: a stand-in for another process.
func (b *Backend) NewClient(t testing.TB) rueidis.Client {
	t.Helper()
	var c rueidis.Client
	var err error
	switch b.Name {
	case BackendMini:
		c, err = rueidis.NewClient(redisx.EmbeddedClientOption(b.Mini.Addr()))
	case BackendStandalone:
		c, err = redisx.Connect(context.Background(), os.Getenv(EnvRedisURL))
	case BackendSentinel:
		c, err = redisx.Connect(context.Background(), os.Getenv(EnvSentinelURL))
	default:
		c, err = redisx.Connect(context.Background(), "redis://"+os.Getenv(EnvClusterAddrs))
	}
	if err != nil {
		t.Fatalf("redisxtest: second client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Keys lists every key under the backend's prefix, on every node.
func (b *Backend) Keys(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for _, node := range b.Client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(b.Prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatalf("redisxtest: scan: %v", err)
			}
			out = append(out, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return out
}

func (b *Backend) deleteKeys(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range b.Keys(t) {
		// One DEL per key: keys of one test may sit in several slots.
		if err := b.Client.Do(ctx, b.Client.B().Del().Key(k).Build()).Error(); err != nil {
			t.Errorf("redisxtest: cleanup of %s: %v", k, err)
		}
	}
}
