// Package redisallocatortest helps users of this module test their own
// code, and run demos and dev tools, with no Redis installed (river's
// rivertest is the model):
//
//   - [NewServer] starts an embedded Redis (miniredis) for one test and
//     closes it when the test ends; [Start] does the same for programs
//     without a *testing.T, such as `redisalloc demo`.
//   - [Server.Advance] moves the server clock forward, so leases, TTLs and
//     delays expire without sleeping.
//   - [RequirePoolValid] and [RequireQueueValid] fail a test when a pool or
//     a queue breaks one of its invariants.
//   - [WaitFor] polls a condition until it holds or a deadline passes.
//
// A test of code that checks proxies out of a pool:
//
//	func TestCheckout(t *testing.T) {
//		srv := redisallocatortest.NewServer(t)
//		p, err := pool.New[Proxy](srv.Client(), "test", "proxies")
//		...
//		srv.Advance(time.Minute) // every one-minute lease lapses
//		redisallocatortest.RequirePoolValid(t, p.Admin())
//	}
//
// Only tests and dev tools should import this package: it links miniredis
// and its Lua interpreter, which the library packages (lock, pool, task,
// health, codec) never do.
package redisallocatortest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx/embedded"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// Server is an embedded Redis (miniredis) on a loopback port, with a client
// configured for it. It supports every command and script of this module,
// keeps data in memory only and has no client-side caching (miniredis lacks
// CLIENT TRACKING). Its clock is the wall clock until the first
// [Server.Advance]. A Server is safe for concurrent use.
type Server struct {
	e *embedded.Server

	mu  sync.Mutex
	now time.Time // the frozen server clock; zero while it follows the wall clock
}

// Start starts an embedded Redis on a free loopback port, for programs
// without a *testing.T (demos, dev tools). The caller must Close it.
func Start() (*Server, error) {
	e, err := embedded.Start(true)
	if err != nil {
		return nil, err
	}
	return &Server{e: e}, nil
}

// NewServer starts an embedded Redis for the test t and closes it, with its
// client, when t and its subtests end. It fails t if the server cannot
// start.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("redisallocatortest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Client returns the server's client: a rueidis client with client-side
// caching off, ready for every package of the module. Close closes it; do
// not close it yourself. For another client, a stand-in for a second
// process, call redisallocator.Connect with [Server.URL] (and close it
// yourself).
func (s *Server) Client() rueidis.Client { return s.e.Client }

// URL returns a redis:// URL for the server, for redisallocator.Connect
// (which turns client-side caching off by itself here, as miniredis lacks
// CLIENT TRACKING), the redisalloc CLI or another process on this machine.
func (s *Server) URL() string { return s.e.URL() }

// Advance moves the server clock (what the TIME command answers) forward
// by d, and with it every key TTL,
// so what would expire within d expires now: lock TTLs, pool leases and
// member expiries, quarantines, task delays, timeouts and worker
// heartbeats.
//
// The module's Lua scripts read the server clock (TIME) and compare it with
// deadlines they stored, so moving key TTLs alone (miniredis's FastForward)
// is not enough: Advance moves both. The first Advance stops the server
// clock from following the wall clock; from then on it moves only by
// Advance, so a test decides when everything expires. Keep-alive loops of
// leases and sessions run on the process's own clock and keep renewing
// meanwhile: to see a lapse, stop them first (or let the holder stop).
// Advance panics if d is negative.
func (s *Server) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("redisallocatortest: Advance(%v): the clock cannot move back", d))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now.IsZero() {
		s.now = time.Now()
	}
	s.now = s.now.Add(d)
	s.e.Mini.SetTime(s.now)
}

// Miniredis returns the miniredis instance behind the server, to inspect
// keys or inject errors (SetError). Do not move its clock directly: use
// [Server.Advance].
func (s *Server) Miniredis() *miniredis.Miniredis { return s.e.Mini }

// Close closes the client and stops the server. It is safe to call more
// than once.
func (s *Server) Close() { s.e.Close() }

// RequirePoolValid reads p's snapshot and fails t (t.Fatal) when it cannot
// be read or lists any invariant violation: a member in two states, a lease
// without its timer, a fence used twice or above the counter, bindings out
// of step with their index, and the other checks of [pool.Inspector.Snapshot].
// It returns the snapshot for further assertions. p is a *pool.Inspector
// or *pool.Admin (pass p.Admin() for a *pool.Pool[T] p).
func RequirePoolValid(t testing.TB, p interface {
	Snapshot(ctx context.Context) (*pool.Snapshot, error)
},
) *pool.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requireTimeout)
	defer cancel()
	s, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatalf("redisallocatortest: pool snapshot: %v", err)
	}
	if len(s.Violations) > 0 {
		t.Fatalf("redisallocatortest: pool invariants violated (%d):\n\t%s",
			len(s.Violations), strings.Join(s.Violations, "\n\t"))
	}
	return s
}

// RequireQueueValid reads the counts of the queue and fails t (t.Fatal) when they cannot be read or are inconsistent: a
// negative count, or more tasks ready, delayed, running and dead together
// than the queue keeps records for (a task listed without its record), or a
// queue key of the wrong type (task.Stats.Corrupt). It
// returns the counts for further assertions. q is a *task.Inspector.
func RequireQueueValid(t testing.TB, q interface {
	Stats(ctx context.Context) (task.Stats, error)
},
) task.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requireTimeout)
	defer cancel()
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatalf("redisallocatortest: queue stats: %v", err)
	}
	if v := queueViolations(st); len(v) > 0 {
		t.Fatalf("redisallocatortest: queue invariants violated (%d):\n\t%s",
			len(v), strings.Join(v, "\n\t"))
	}
	return st
}

func queueViolations(st task.Stats) []string {
	var out []string
	for _, c := range []struct {
		what string
		n    int
	}{
		{"ready", st.Ready},
		{"delayed", st.Delayed},
		{"running", st.Running},
		{"dead", st.Dead},
		{"workers", st.Workers},
		{"records", st.Records},
	} {
		if c.n < 0 {
			out = append(out, fmt.Sprintf("%s count %d is negative", c.what, c.n))
		}
	}
	if st.Corrupt != "" {
		out = append(out, "hostile state: "+st.Corrupt)
	}
	if listed := st.Ready + st.Delayed + st.Running + st.Dead; listed > st.Records {
		out = append(out, fmt.Sprintf("%d tasks listed (ready %d, delayed %d, running %d, dead %d) but %d records: a listed task has no record",
			listed, st.Ready, st.Delayed, st.Running, st.Dead, st.Records))
	}
	return out
}

// requireTimeout bounds the reads of the Require helpers.
const requireTimeout = 10 * time.Second

// Poll intervals of WaitFor: the first retry comes soon, later ones back
// off up to the maximum.
const (
	waitPollMin = time.Millisecond
	waitPollMax = 50 * time.Millisecond
)

// WaitFor calls cond until it returns true, and fails t (t.Fatal) if it
// still returns false after timeout. It polls often at first and then
// every 50 ms, and always calls cond once more at the deadline. Call it
// from the test's goroutine; cond runs there too. Prefer it to sleeps: a
// real Redis and a loaded machine take a varying time.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("redisallocatortest: condition not met within %v", timeout)
	}
}

// poll reports whether cond returned true before timeout passed.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := waitPollMin
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, waitPollMax)
	}
}
