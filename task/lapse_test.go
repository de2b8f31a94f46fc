package task_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// cutProxy forwards TCP to addr until cut, then refuses everything: a
// worker cut off from Redis.
type cutProxy struct {
	ln net.Listener
	cutter
}

// cutter holds the connections of a path to Redis that a test cuts: then
// it closes them and refuses new ones, until mended.
type cutter struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

// add keeps the connections dial opens, or refuses them (nil) when cut.
func (c *cutter) add(dial func() ([]net.Conn, error)) ([]net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("cut off")
	}
	conns, err := dial()
	if err == nil {
		c.conns = append(c.conns, conns...)
	}
	return conns, err
}

// set cuts (closing every connection) or mends the path.
func (c *cutter) set(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, conn := range c.conns {
			_ = conn.Close()
		}
		c.conns = nil
	}
}

func newCutProxy(t *testing.T, addr string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns, err := p.add(func() ([]net.Conn, error) {
				u, err := net.Dial("tcp", addr)
				return []net.Conn{c, u}, err
			})
			if err != nil {
				_ = c.Close()
				continue
			}
			u := conns[1]
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); p.partition() })
	return p
}

func (p *cutProxy) partition() { p.set(true) }

// TestCutOffWorkerStopsBeforeTakeover: a worker that cannot reach Redis
// ends its handlers (ErrLost) before Redis counts it gone and another
// worker takes the task over, so two handlers never run one task at once.
// It used to stop them only after the lease TTL, 25 s after the takeover
// with the defaults.
func TestCutOffWorkerStopsBeforeTakeover(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	p := newCutProxy(t, b.Mini.Addr())
	opt := redisx.EmbeddedClientOption(p.ln.Addr().String())
	opt.DisableRetry = true
	opt.ForceSingleClient = true // a cluster client would follow CLUSTER SLOTS around the proxy
	viaProxy, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viaProxy.Close)

	type event struct {
		at    time.Time
		cause error
	}
	started := make(chan event, 4)
	ended := make(chan event, 4)
	h := task.Handler[job, *res](func(ctx context.Context, _ *task.Task[job]) (*res, error) {
		started <- event{at: time.Now()}
		<-ctx.Done()
		ended <- event{at: time.Now(), cause: context.Cause(ctx)}
		return nil, context.Cause(ctx)
	})
	const hb = 200 * time.Millisecond
	opts := []task.RunOption{task.Heartbeat(hb), task.Grace(0)}
	qa, err := task.New[job, *res](viaProxy, b.Prefix, "cut")
	if err != nil {
		t.Fatal(err)
	}
	stopA := listen(t, qa, h, opts...)
	defer stopA()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := qa.Submit(ctx, "t1", job{}, task.Timeout(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	var aStart event
	select {
	case aStart = <-started:
	case <-ctx.Done():
		t.Fatal("worker A never started the task")
	}
	// B takes over once A's registration lapses (5 heartbeats).
	qb, err := task.New[job, *res](b.Client, b.Prefix, "cut")
	if err != nil {
		t.Fatal(err)
	}
	stopB := listen(t, qb, h, opts...)
	defer stopB()
	cutAt := time.Now()
	p.partition()

	var aEnd, bStart event
	for aEnd.at.IsZero() || bStart.at.IsZero() {
		select {
		case e := <-ended:
			if aEnd.at.IsZero() {
				aEnd = e
			}
		case e := <-started:
			bStart = e
		case <-ctx.Done():
			t.Fatalf("A ended %v, B started %v (cut %v after A started)", aEnd.at.Sub(cutAt), bStart.at.Sub(cutAt), cutAt.Sub(aStart.at))
		}
	}
	if !errors.Is(aEnd.cause, task.ErrLost) {
		t.Errorf("A's handler ended with %v, want ErrLost", aEnd.cause)
	}
	if !aEnd.at.Before(bStart.at) {
		t.Errorf("two handlers ran the task at once: A ended %v after the cut, B started %v after it",
			aEnd.at.Sub(cutAt).Round(time.Millisecond), bStart.at.Sub(cutAt).Round(time.Millisecond))
	}
	t.Logf("A ended %v after the cut, B started %v after it", aEnd.at.Sub(cutAt).Round(time.Millisecond), bStart.at.Sub(cutAt).Round(time.Millisecond))
}
