package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// conn is the live object of the tests: it remembers what it was opened
// with and fails the test (through its hooks) when used after its close or
// closed while in use.
type conn struct {
	key, addr string
	seq       int64
	closed    atomic.Bool
	inUse     atomic.Int32
}

// hooks records every open and close; fail decides whether an open fails.
type hooks struct {
	mu         sync.Mutex
	seq        int64
	opens      []string // key=addr
	closes     []string
	violations []string
	fail       func(key string) error
}

func (h *hooks) open(_ context.Context, key string, v proxy) (*conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		if err := h.fail(key); err != nil {
			return nil, err
		}
	}
	h.seq++
	h.opens = append(h.opens, key+"="+v.Addr)
	return &conn{key: key, addr: v.Addr, seq: h.seq}, nil
}

func (h *hooks) close(c *conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.closed.Swap(true) {
		h.violations = append(h.violations, fmt.Sprintf("%s#%d closed twice", c.key, c.seq))
	}
	if n := c.inUse.Load(); n != 0 {
		h.violations = append(h.violations, fmt.Sprintf("%s#%d closed with %d users", c.key, c.seq, n))
	}
	h.closes = append(h.closes, c.key+"="+c.addr)
	return nil
}

// counts returns the opens and closes so far.
func (h *hooks) counts() (opens, closes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.opens), len(h.closes)
}

func (h *hooks) closed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(slices.Values(h.closes))
}

func (h *hooks) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.violations) > 0 {
		t.Fatalf("object misuse: %q", h.violations)
	}
}

// use marks o's object in use, failing when it was closed already or, in
// exclusive mode, is used by someone else.
func use(t *testing.T, o *pool.Object[proxy, *conn], exclusive bool) {
	t.Helper()
	if n := o.Object.inUse.Add(1); exclusive && n != 1 {
		t.Errorf("%s#%d has %d users at once", o.Key, o.Object.seq, n)
	}
	if o.Object.closed.Load() {
		t.Errorf("%s#%d handed out after its close", o.Key, o.Object.seq)
	}
	if o.Object.key != o.Key {
		t.Errorf("object of %s handed out for %s", o.Object.key, o.Key)
	}
}

func unuse(o *pool.Object[proxy, *conn]) { o.Object.inUse.Add(-1) }

type objBundle struct {
	*bundle
	h    *hooks
	objs *pool.Objects[proxy, *conn]
}

func setupObjects(t *testing.T, b *redisxtest.Backend, popts []pool.Option, opts ...pool.ObjectsOption) *objBundle {
	t.Helper()
	tb := setup(t, b, popts...)
	h := &hooks{}
	objs, err := pool.NewObjects(tb.p, h.open, h.close, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := objs.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if opens, closes := h.counts(); opens != closes {
			t.Errorf("%d objects opened, %d closed", opens, closes)
		}
		h.check(t)
	})
	return &objBundle{bundle: tb, h: h, objs: objs}
}

func (ob *objBundle) malloc(t *testing.T, opts ...pool.MallocOption) *pool.Object[proxy, *conn] {
	t.Helper()
	o, err := ob.objs.Malloc(ob.ctx, opts...)
	if err != nil {
		t.Fatalf("Objects.Malloc: %v", err)
	}
	return o
}

func (ob *objBundle) release(t *testing.T, o *pool.Object[proxy, *conn]) {
	t.Helper()
	if err := o.Release(ob.ctx); err != nil {
		t.Fatalf("Release %s: %v", o.Key, err)
	}
}

func (ob *objBundle) add(t *testing.T, members map[string]proxy) {
	t.Helper()
	if _, err := ob.p.Add(ob.ctx, members); err != nil {
		t.Fatal(err)
	}
}

// One object per member and process, opened on first use and reused by
// later allocations, also through a second Objects' pool handle of the
// same pool in another "process" (which opens its own).
func TestObjectsReuse(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.add(t, map[string]proxy{"a": {Addr: "10.0.0.1"}})
		ob.extend(t, "n") // no value: opened with the zero proxy, reused as well
		seen := map[string]int64{}
		for range 3 {
			for range 2 {
				o := ob.malloc(t)
				use(t, o, true)
				if seq, ok := seen[o.Key]; ok && seq != o.Object.seq {
					t.Fatalf("%s: object #%d, then #%d: not reused", o.Key, seq, o.Object.seq)
				}
				seen[o.Key] = o.Object.seq
				if o.Key == "a" && (o.Object.addr != "10.0.0.1" || o.Value.Addr != "10.0.0.1") {
					t.Fatalf("object opened with %q, value %q", o.Object.addr, o.Value.Addr)
				}
				unuse(o)
				ob.release(t, o)
			}
		}
		if opens, closes := ob.h.counts(); opens != 2 || closes != 0 {
			t.Fatalf("%d opens, %d closes; want 2 and 0", opens, closes)
		}
		// Another process has objects of its own.
		p2, err := pool.New[proxy](b.NewClient(t), b.Prefix, "proxies")
		if err != nil {
			t.Fatal(err)
		}
		h2 := &hooks{}
		objs2, err := pool.NewObjects(p2, h2.open, h2.close)
		if err != nil {
			t.Fatal(err)
		}
		o, err := objs2.Malloc(ob.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Release(ob.ctx); err != nil {
			t.Fatal(err)
		}
		if err := objs2.Close(ob.ctx); err != nil {
			t.Fatal(err)
		}
		if opens, closes := h2.counts(); opens != 1 || closes != 1 {
			t.Fatalf("second process: %d opens, %d closes; want 1 and 1", opens, closes)
		}
	})
}

// A member whose value changed gets a new object at its next allocation;
// the old one is closed then (or, in use in shared mode, when released).
func TestObjectsValueChange(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		t.Run("Exclusive", func(t *testing.T) {
			ob := setupObjects(t, b, nil)
			ob.add(t, map[string]proxy{"a": {Addr: "old"}})
			ob.release(t, ob.malloc(t))
			ob.add(t, map[string]proxy{"a": {Addr: "new"}})
			o := ob.malloc(t)
			if o.Object.addr != "new" || o.Object.seq != 2 {
				t.Fatalf("after the change: object #%d opened with %q", o.Object.seq, o.Object.addr)
			}
			if got := ob.h.closed(); !slices.Equal(got, []string{"a=old"}) {
				t.Fatalf("closed %q, want the old object", got)
			}
			ob.release(t, o)
			ob.add(t, map[string]proxy{"a": {Addr: "new"}}) // the same value again: no change
			o = ob.malloc(t)
			if o.Object.seq != 2 {
				t.Fatalf("same value re-added: object #%d, want #2 kept", o.Object.seq)
			}
			ob.release(t, o)
		})
		t.Run("SharedInUse", func(t *testing.T) {
			ob := setupObjects(t, b, []pool.Option{pool.WithShared()})
			ob.add(t, map[string]proxy{"a": {Addr: "old"}})
			o1 := ob.malloc(t)
			use(t, o1, false)
			o2 := ob.malloc(t) // shared: the same object at once
			if o2.Object != o1.Object {
				t.Fatalf("shared member: objects #%d and #%d", o1.Object.seq, o2.Object.seq)
			}
			ob.add(t, map[string]proxy{"a": {Addr: "new"}})
			o3 := ob.malloc(t)
			if o3.Object.addr != "new" {
				t.Fatalf("after the change: object opened with %q", o3.Object.addr)
			}
			if got := ob.h.closed(); len(got) != 0 {
				t.Fatalf("closed %q under its users", got)
			}
			unuse(o1)
			ob.release(t, o1)
			ob.release(t, o2)
			if got := ob.h.closed(); !slices.Equal(got, []string{"a=old"}) {
				t.Fatalf("closed %q after the last user, want the old object", got)
			}
			ob.release(t, o3)
		})
	})
}

// The sweep closes the objects of members that left the pool or are
// quarantined; one in use is closed when its user releases it.
func TestObjectsSweepMembership(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.add(t, map[string]proxy{"a": {Addr: "1"}, "b": {Addr: "2"}, "c": {Addr: "3"}, "d": {Addr: "4"}})
		var d *pool.Object[proxy, *conn] // stays in use
		var held []*pool.Object[proxy, *conn]
		for range 4 {
			if o := ob.malloc(t); o.Key == "d" {
				d = o
			} else {
				held = append(held, o)
			}
		}
		if d == nil {
			t.Fatal("d not allocated")
		}
		use(t, d, true)
		for _, o := range held {
			ob.release(t, o)
		}
		if err := ob.objs.Sweep(ob.ctx); err != nil {
			t.Fatal(err)
		}
		if got := ob.h.closed(); len(got) != 0 {
			t.Fatalf("sweep of an unchanged pool closed %q", got)
		}
		if _, err := ob.p.Remove(ob.ctx, "a", "d"); err != nil {
			t.Fatal(err)
		}
		if err := ob.p.Admin().Quarantine(ob.ctx, "b", time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := ob.objs.Sweep(ob.ctx); err != nil {
			t.Fatal(err)
		}
		if got := ob.h.closed(); !slices.Equal(got, []string{"a=1", "b=2"}) {
			t.Fatalf("closed %q, want a and b (d is in use)", got)
		}
		unuse(d)
		if err := d.Release(ob.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Release of a removed member = %v, want ErrNotHeld", err)
		}
		if got := ob.h.closed(); !slices.Equal(got, []string{"a=1", "b=2", "d=4"}) {
			t.Fatalf("closed %q, want d closed on release", got)
		}
		if n := ob.objs.Kept(); n != 1 {
			t.Fatalf("%d objects kept, want c's", n)
		}
	})
}

// A failing or panicking open hook is contained: Malloc returns an error
// matching ErrHook (and the hook's error), the member is free again for
// others and nothing is closed.
func TestObjectsOpenFails(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.extend(t, "a")
		errDial := errors.New("dial refused")
		ob.h.fail = func(string) error { return errDial }
		_, err := ob.objs.Malloc(ob.ctx)
		if !errors.Is(err, pool.ErrHook) || !errors.Is(err, errDial) || !strings.Contains(err.Error(), `"a"`) {
			t.Fatalf("failed open: %v, want ErrHook and the hook's error, naming the member", err)
		}
		if st := ob.state(t, "a"); st != pool.StateFree {
			t.Fatalf("member %s after a failed open, want free", st)
		}
		ob.h.fail = func(string) error { panic("boom") }
		_, err = ob.objs.Malloc(ob.ctx)
		if !errors.Is(err, pool.ErrHook) || !strings.Contains(err.Error(), "panicked: boom") {
			t.Fatalf("panicking open: %v, want ErrHook naming the panic", err)
		}
		if st := ob.state(t, "a"); st != pool.StateFree {
			t.Fatalf("member %s after a panicking open, want free", st)
		}
		if n := ob.objs.Unclosed(); n != 0 {
			t.Fatalf("%d objects counted open after failed opens", n)
		}
		ob.h.fail = nil
		o := ob.malloc(t)
		ob.release(t, o)
		if opens, closes := ob.h.counts(); opens != 1 || closes != 0 {
			t.Fatalf("%d opens, %d closes; want 1 and 0", opens, closes)
		}
	})
}

// A panicking or failing close hook is contained too: Close returns it
// (ErrHook), and closes elsewhere go to WithObjectErrorFunc.
func TestObjectsCloseFails(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tb := setup(t, b)
	tb.extend(t, "a", "b")
	var reported []error
	var mu sync.Mutex
	errClose := errors.New("close refused")
	objs, err := pool.NewObjects(tb.p,
		func(_ context.Context, key string, _ proxy) (string, error) { return key, nil },
		func(key string) error {
			if key == "a" {
				panic("close boom")
			}
			return errClose
		},
		pool.WithObjectErrorFunc(func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	oa, err := objs.Malloc(tb.ctx)
	if err != nil {
		t.Fatal(err)
	}
	oa.Discard()
	if err := oa.Release(tb.ctx); err != nil {
		t.Fatalf("Release of a discarded object whose close panics: %v", err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], pool.ErrHook) || !strings.Contains(reported[0].Error(), "close boom") {
		t.Fatalf("reported %v, want the close panic as ErrHook", reported)
	}
	ob, err := objs.Malloc(tb.ctx, pool.Bind("x", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Release(tb.ctx); err != nil {
		t.Fatal(err)
	}
	if err := objs.Close(tb.ctx); !errors.Is(err, pool.ErrHook) || !errors.Is(err, errClose) {
		t.Fatalf("Close = %v, want the close hook's error", err)
	}
}

// Close closes unused objects at once and the ones in use on release,
// waiting for them until its ctx ends; afterwards Malloc allocates nothing
// and Run returns.
func TestObjectsClose(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.extend(t, "a", "b")
		oa, ob2 := ob.malloc(t), ob.malloc(t)
		ob.release(t, oa)
		use(t, ob2, true)
		ctx, cancel := context.WithTimeout(ob.ctx, 20*time.Millisecond)
		defer cancel()
		err := ob.objs.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 still in use") {
			t.Fatalf("Close with an object in use = %v, want it to wait until ctx ends", err)
		}
		if got := ob.h.closed(); !slices.Equal(got, []string{oa.Key + "="}) {
			t.Fatalf("closed %q, want only the unused object", got)
		}
		if _, err := ob.objs.Malloc(ob.ctx); !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Malloc after Close = %v, want ErrClosed", err)
		}
		if st := ob.state(t, oa.Key); st != pool.StateFree {
			t.Fatalf("Malloc after Close allocated: %s", st)
		}
		if err := ob.objs.Run(ob.ctx); !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Run after Close = %v, want ErrClosed", err)
		}
		done := make(chan error, 1)
		go func() { done <- ob.objs.Close(ob.ctx) }()
		unuse(ob2)
		ob.release(t, ob2)
		if err := <-done; err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if opens, closes := ob.h.counts(); opens != 2 || closes != 2 {
			t.Fatalf("%d opens, %d closes; want 2 and 2", opens, closes)
		}
		if err := ob2.Release(ob.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("second Release = %v, want ErrNotHeld", err)
		}
		var none *pool.Object[proxy, *conn]
		if err := none.Release(ob.ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Release of nil = %v, want ErrNotHeld", err)
		}
	})
}

// ReportUnhealthy quarantines the member and closes its object on release;
// Discard closes the object and leaves the member in rotation.
func TestObjectsReportAndDiscard(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.add(t, map[string]proxy{"a": {Addr: "1"}})
		o := ob.malloc(t)
		o.Discard()
		ob.release(t, o)
		if got := ob.h.closed(); !slices.Equal(got, []string{"a=1"}) {
			t.Fatalf("closed %q after Discard", got)
		}
		if st := ob.state(t, "a"); st != pool.StateFree {
			t.Fatalf("member %s after Discard, want free", st)
		}
		o = ob.malloc(t)
		if o.Object.seq != 2 {
			t.Fatalf("after Discard: object #%d, want a new one", o.Object.seq)
		}
		if err := o.ReportUnhealthy(ob.ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		ob.release(t, o)
		if got := ob.h.closed(); len(got) != 2 {
			t.Fatalf("closed %q after ReportUnhealthy", got)
		}
		if st := ob.state(t, "a"); st != pool.StateUnhealthy {
			t.Fatalf("member %s after ReportUnhealthy, want unhealthy", st)
		}
		if err := o.ReportUnhealthy(ob.ctx, 0); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("ReportUnhealthy(0) = %v, want ErrInvalid", err)
		}
	})
}

// Objects.Probe is a health.Checker probe: a member whose object does not
// open or whose check fails goes to quarantine and its object is closed;
// a healthy member's object stays open for the next allocation.
func TestObjectsProbe(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.add(t, map[string]proxy{"good": {Addr: "1"}, "sick": {Addr: "2"}, "dead": {Addr: "3"}, "mad": {Addr: "4"}})
		ob.h.fail = func(key string) error {
			if key == "dead" {
				return errors.New("no route")
			}
			return nil
		}
		check := func(_ context.Context, c *conn) error {
			switch c.key {
			case "sick":
				return errors.New("503")
			case "mad":
				panic("check boom")
			}
			return nil
		}
		chk, err := health.NewChecker(b.Client, b.Prefix, ob.p, ob.objs.Probe(check))
		if err != nil {
			t.Fatal(err)
		}
		res, err := chk.CheckOnce(ob.ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(res.Unhealthy)
		if !slices.Equal(res.Healthy, []string{"good"}) || !slices.Equal(res.Unhealthy, []string{"dead", "mad", "sick"}) {
			t.Fatalf("healthy %q, unhealthy %q", res.Healthy, res.Unhealthy)
		}
		if got := ob.h.closed(); !slices.Equal(got, []string{"mad=4", "sick=2"}) {
			t.Fatalf("closed %q, want the objects that failed their check", got)
		}
		o := ob.malloc(t)
		ob.release(t, o)
		if opens, _ := ob.h.counts(); o.Key != "good" || opens != 3 {
			t.Fatalf("allocated %s after %d opens, want good's probed object (3 opens)", o.Key, opens)
		}
		if err := ob.objs.Probe(nil)(ob.ctx, "", proxy{}); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("probe of a bad key = %v, want ErrInvalid", err)
		}
	})
}

func TestNewObjectsInvalid(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tb := setup(t, b)
	h := &hooks{}
	var nilCtx context.Context // what a caller passes by mistake
	for name, f := range map[string]func() error{
		"NilPool":   func() error { _, err := pool.NewObjects[proxy](nil, h.open, h.close); return err },
		"NilOpen":   func() error { _, err := pool.NewObjects[proxy, *conn](tb.p, nil, h.close); return err },
		"NilOption": func() error { _, err := pool.NewObjects(tb.p, h.open, h.close, nil); return err },
		"NegIdle": func() error {
			_, err := pool.NewObjects(tb.p, h.open, h.close, pool.WithIdleTimeout(-time.Second))
			return err
		},
		"TinyIdle": func() error {
			_, err := pool.NewObjects(tb.p, h.open, h.close, pool.WithIdleTimeout(time.Microsecond))
			return err
		},
		"BadMalloc":   func() error { o, _ := pool.NewObjects(tb.p, h.open, nil); _, err := o.Malloc(tb.ctx, nil); return err },
		"NilCtxClose": func() error { o, _ := pool.NewObjects(tb.p, h.open, nil); return o.Close(nilCtx) },
	} {
		if err := f(); !errors.Is(err, pool.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if o, err := pool.NewObjects(tb.p, h.open, nil, pool.WithIdleTimeout(0)); err != nil || o == nil {
		t.Fatalf("WithIdleTimeout(0) (the default) = %v", err)
	}
}

// Many goroutines allocate, use, discard and release objects while values
// change, a sweeper runs and a prober probes: no object is used by two at
// once (exclusive), used after its close, or closed twice or under a user;
// every opened object is closed by Close.
func TestObjectsConcurrent(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("Shared=%v", shared), func(t *testing.T) {
				var popts []pool.Option
				if shared {
					popts = append(popts, pool.WithShared())
				}
				ob := setupObjects(t, b, popts)
				keys := []string{"a", "b", "c", "d"}
				members := map[string]proxy{}
				for _, k := range keys {
					members[k] = proxy{Addr: "v0"}
				}
				ob.add(t, members)
				const workers, rounds = 12, 25
				var wg sync.WaitGroup
				stop := make(chan struct{})
				var allocs atomic.Int64
				for w := range workers {
					wg.Go(func() {
						r := rand.New(rand.NewPCG(uint64(w), 1))
						for range rounds {
							// Now and then a holder overruns its lease: the
							// member goes to another worker, which must wait
							// for the object.
							ttl, work := 10*time.Second, time.Duration(r.IntN(300))*time.Microsecond
							lapse := r.IntN(10) == 0
							if lapse {
								ttl, work = 15*time.Millisecond, 25*time.Millisecond
							}
							o, err := ob.objs.Malloc(ob.ctx, pool.Wait(), pool.LeaseTTL(ttl))
							if errors.Is(err, pool.ErrNotHeld) {
								continue // its lease lapsed while it waited for the object
							}
							if err != nil {
								t.Errorf("Malloc: %v", err)
								return
							}
							allocs.Add(1)
							use(t, o, !shared)
							time.Sleep(work)
							unuse(o)
							if r.IntN(8) == 0 {
								o.Discard()
							}
							if err := o.Release(ob.ctx); err != nil && (!lapse || !errors.Is(err, pool.ErrNotHeld)) {
								t.Errorf("Release: %v", err)
							}
						}
					})
				}
				var bg sync.WaitGroup
				bg.Go(func() { // values change under the workers
					for i := 1; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(2 * time.Millisecond):
						}
						k := keys[i%len(keys)]
						if _, err := ob.p.Add(ob.ctx, map[string]proxy{k: {Addr: fmt.Sprintf("v%d", i)}}); err != nil {
							t.Errorf("Add: %v", err)
						}
					}
				})
				bg.Go(func() { // sweeps and probes
					probe := ob.objs.Probe(func(_ context.Context, c *conn) error {
						if n := c.inUse.Add(1); !shared && n != 1 {
							t.Errorf("%s#%d probed while in use (%d)", c.key, c.seq, n)
						}
						if c.closed.Load() {
							t.Errorf("%s#%d probed after its close", c.key, c.seq)
						}
						c.inUse.Add(-1)
						return nil
					})
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
						if err := ob.objs.Sweep(ob.ctx); err != nil {
							t.Errorf("Sweep: %v", err)
						}
						// The probe holds nothing in Redis here: it stands
						// for a checker holding a member while a holder whose
						// lease lapsed still uses its object.
						k := keys[i%len(keys)]
						if err := probe(ob.ctx, k, proxy{Addr: "v0"}); err != nil {
							t.Errorf("probe: %v", err)
						}
					}
				})
				wg.Wait()
				close(stop)
				bg.Wait()
				ob.h.check(t)
				if allocs.Load() < workers*rounds/2 {
					t.Fatalf("%d allocations of %d tried", allocs.Load(), workers*rounds)
				}
				opens, _ := ob.h.counts()
				if opens < len(keys) {
					t.Fatalf("%d opens for %d members", opens, len(keys))
				}
				t.Logf("%d allocations, %d opens", allocs.Load(), opens)
			})
		}
	})
}

// A holder whose lease lapsed keeps its object until it releases it: the
// next holder in the process waits for the object instead of sharing it or
// having it closed under the first; a waiter whose own lease lapses gives
// up with ErrNotHeld.
func TestSynctestObjectsLapsedHolder(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		p := fakePool(t, b, "a")
		h := &hooks{}
		objs, err := pool.NewObjects(p, h.open, h.close)
		if err != nil {
			t.Fatal(err)
		}
		first, err := objs.Malloc(ctx, pool.LeaseTTL(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		use(t, first, true)
		time.Sleep(2 * time.Second) // the lease lapses, locally and on the server

		// A waiter whose lease lapses while it waits gives up.
		_, err = objs.Malloc(ctx, pool.LeaseTTL(time.Second))
		if !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Malloc that waited past its lease = %v, want ErrNotHeld", err)
		}
		time.Sleep(2 * time.Second)

		got := make(chan *pool.Object[proxy, *conn], 1)
		go func() {
			o, err := objs.Malloc(ctx, pool.LeaseTTL(time.Hour))
			if err != nil {
				t.Errorf("second Malloc: %v", err)
			}
			got <- o
		}()
		synctest.Wait()
		select {
		case o := <-got:
			t.Fatalf("object #%d handed out while its lapsed holder uses it", o.Object.seq)
		default:
		}
		unuse(first)
		if err := first.Release(ctx); !errors.Is(err, pool.ErrNotHeld) {
			t.Fatalf("Release after the lapse = %v, want ErrNotHeld", err)
		}
		second := <-got
		if second.Object != first.Object {
			t.Fatalf("second holder got #%d, want the first's #%d", second.Object.seq, first.Object.seq)
		}
		if opens, closes := h.counts(); opens != 1 || closes != 0 {
			t.Fatalf("%d opens, %d closes; want 1 and 0 (the lapse closes nothing)", opens, closes)
		}
		if err := second.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := objs.Close(ctx); err != nil {
			t.Fatal(err)
		}
		h.check(t)
	})
}

// An object unused for the idle timeout is closed by Run; one found idle
// by an allocation is replaced. Run stops with its ctx and with Close.
func TestSynctestObjectsIdle(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		p := fakePool(t, b, "a")
		h := &hooks{}
		objs, err := pool.NewObjects(p, h.open, h.close, pool.WithIdleTimeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		cycle := func() int64 {
			o, err := objs.Malloc(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := o.Release(ctx); err != nil {
					t.Fatal(err)
				}
			}()
			return o.Object.seq
		}
		cycle()
		time.Sleep(50 * time.Second)
		if seq := cycle(); seq != 1 {
			t.Fatalf("object #%d after 50s idle, want #1 kept", seq)
		}
		time.Sleep(61 * time.Second) // no Run: the next allocation replaces it
		if seq := cycle(); seq != 2 {
			t.Fatalf("object #%d after 61s idle, want a new one", seq)
		}
		if _, closes := h.counts(); closes != 1 {
			t.Fatalf("%d closes, want the idle object's", closes)
		}

		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- objs.Run(rctx) }()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if _, closes := h.counts(); closes != 1 {
			t.Fatalf("Run closed an object idle for less than the timeout")
		}
		time.Sleep(31 * time.Second) // sweeps every 30s
		synctest.Wait()
		if _, closes := h.counts(); closes != 2 {
			t.Fatalf("%d closes after Run, want the idle object closed", closes)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		go func() { done <- objs.Run(ctx) }()
		synctest.Wait()
		if err := objs.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Run after Close = %v, want ErrClosed", err)
		}
		h.check(t)
	})
}

// Every call of Objects with a nil ctx returns ErrInvalid and with an
// ended ctx the ctx's error, and neither writes to Redis; an Object whose
// Release was refused so can still be released.
func TestObjectsEndingEarlyRunNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ob := setupObjects(t, b, nil)
		ob.extend(t, "a", "b")
		held := ob.malloc(t, pool.LeaseTTL(time.Hour))
		redisxtest.EndsEarly(t, b, pool.ErrInvalid, map[string]func(ctx context.Context) error{
			"Malloc":          func(ctx context.Context) error { _, err := ob.objs.Malloc(ctx); return err },
			"Run":             ob.objs.Run,
			"Probe":           func(ctx context.Context) error { return ob.objs.Probe(nil)(ctx, "b", proxy{}) },
			"Release":         held.Release,
			"ReportUnhealthy": func(ctx context.Context) error { return held.ReportUnhealthy(ctx, time.Minute) },
		})
		ob.release(t, held)
		if st := ob.state(t, held.Key); st != pool.StateFree {
			t.Fatalf("member %s after the release, want free", st)
		}
	})
}

// BenchmarkObjectsMalloc compares a malloc and release of the pool with
// one of Objects reusing the member's object: the difference is the cost
// of Objects (an encoding of the value and a map look-up under a mutex;
// no extra round trip). Against REDIS_URL:
//
//	REDIS_URL=... go test -run '^$' -bench ObjectsMalloc -count 5 ./pool/
func BenchmarkObjectsMalloc(b *testing.B) {
	client := benchClient(b)
	ctx := context.Background()
	p, err := pool.New[proxy](client, "bench-"+strconv.FormatInt(time.Now().UnixNano(), 36), "objects")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = p.Admin().Clear(ctx) })
	if _, err := p.Add(ctx, map[string]proxy{"a": {Addr: "10.0.0.1:3128", Latency: 5}}); err != nil {
		b.Fatal(err)
	}
	objs, err := pool.NewObjects(p, func(context.Context, string, proxy) (*conn, error) { return &conn{}, nil }, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = objs.Close(ctx) })
	b.Run("Pool", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a, err := p.Malloc(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Objects", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o, err := objs.Malloc(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
