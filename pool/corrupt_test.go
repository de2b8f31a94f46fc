package pool_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// corruptFixture is a pool with something in every structure: free
// members with values, a priority, an expiry, a held lease bound to a
// name, a lease taken under a worker session, a quarantined member.
type corruptFixture struct {
	p      *pool.Pool[proxy]
	shared *pool.Pool[proxy] // the same pool in shared mode
	held   *pool.Allocation[proxy]
	sess   *fakeSession
	keys   map[string]string // key name (free, holders, ...) -> Redis key
}

// newCorruptFixture builds the fixture; with due, one lease lapses 20ms
// later and then waits for its timer to fire, so mallocs and GC take their
// timer path.
func newCorruptFixture(t *testing.T, ctx context.Context, b *redisxtest.Backend, name string, due bool) *corruptFixture {
	t.Helper()
	p, err := pool.New[proxy](b.Client, b.Prefix, name)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := pool.New[proxy](b.Client, b.Prefix, name, pool.WithShared())
	if err != nil {
		t.Fatal(err)
	}
	f := &corruptFixture{p: p, shared: shared, keys: p.KeyNames(), sess: newFakeSession("w-"+name, time.Hour)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vals := map[string]proxy{}
	for i := range 8 {
		vals[fmt.Sprintf("m%d", i)] = proxy{Addr: fmt.Sprintf("10.0.0.%d", i)}
	}
	_, err = p.Add(ctx, vals)
	must(err)
	must(p.Admin().Update(ctx, []string{"m1"}, pool.Priority(3)))
	must(p.Admin().Update(ctx, []string{"m2"}, pool.MemberTTL(time.Hour)))
	f.held, err = p.MallocMember(ctx, "m0", pool.LeaseTTL(time.Hour), pool.Bind("b1", time.Hour))
	must(err)
	_, err = p.MallocMember(ctx, "m6", pool.LeaseTTL(time.Hour), pool.InSession(f.sess))
	must(err)
	must(p.Admin().Quarantine(ctx, "m3", time.Hour))
	if due {
		_, err = p.MallocMember(ctx, "m7", pool.LeaseTTL(20*time.Millisecond))
		must(err) // the caller waits for it to lapse
	}
	return f
}

// corruption is one piece of hostile state put into one key.
type corruption struct {
	name string
	key  string // key name: free, holders, ...
	// field is the hash field the message must name, if any.
	field string
	apply func(ctx context.Context, c rueidis.Client, key string) error
}

func corruptions(keys map[string]string) []corruption {
	var out []corruption
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		out = append(out, corruption{name: "WrongType/" + k, key: k, apply: func(ctx context.Context, c rueidis.Client, key string) error {
			if err := c.Do(ctx, c.B().Del().Key(key).Build()).Error(); err != nil {
				return err
			}
			if k == "fence" || k == "allocs" {
				return c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue("x", "1").Build()).Error()
			}
			return c.Do(ctx, c.B().Set().Key(key).Value("x").Build()).Error()
		}})
	}
	hset := func(field, value string) func(context.Context, rueidis.Client, string) error {
		return func(ctx context.Context, c rueidis.Client, key string) error {
			return c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue(field, value).Build()).Error()
		}
	}
	return append(out,
		corruption{name: "Garbage/fence", key: "fence", apply: func(ctx context.Context, c rueidis.Client, key string) error {
			return c.Do(ctx, c.B().Set().Key(key).Value("lots").Build()).Error()
		}},
		corruption{name: "Garbage/allocs", key: "allocs", apply: func(ctx context.Context, c rueidis.Client, key string) error {
			return c.Do(ctx, c.B().Set().Key(key).Value("1e3").Build()).Error()
		}},
		corruption{name: "Garbage/holders", key: "holders", field: "m0", apply: hset("m0", "garbage")},
		corruption{name: "Garbage/holders-due", key: "holders", field: "m7", apply: hset("m7", "tok x y - 0 0")},
		corruption{name: "Garbage/holders-session", key: "holders", field: "m6", apply: hset("m6", "a b c d e f")},
		corruption{name: "Garbage/unhealthy", key: "unhealthy", field: "m3", apply: hset("m3", "soon")},
		corruption{name: "Garbage/prio", key: "prio", field: "m1", apply: hset("m1", "high")},
		corruption{name: "Garbage/bind", key: "bind", field: "b1", apply: hset("b1", "never m0")},
	)
}

// corruptOps are every operation of the pool, each run once on a fixture.
var corruptOps = map[string]func(ctx context.Context, f *corruptFixture) error{
	"Add": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Add(ctx, map[string]proxy{"n1": {Addr: "n1"}, "m1": {Addr: "m1b"}})
		return err
	},
	"AddKeys": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.AddKeys(ctx, []string{"n2", "m4"})
		return err
	},
	"Assign": func(ctx context.Context, f *corruptFixture) error {
		_, _, err := f.p.Assign(ctx, map[string]proxy{"m0": {}, "m1": {}, "m3": {}, "n1": {}})
		return err
	},
	"AssignKeys": func(ctx context.Context, f *corruptFixture) error {
		_, _, err := f.p.AssignKeys(ctx, []string{"m1", "m6", "n3"})
		return err
	},
	"Remove": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Remove(ctx, "m0", "m4")
		return err
	},
	"Malloc": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Malloc(ctx, pool.LeaseTTL(time.Hour))
		return err
	},
	"MallocShared": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.shared.Malloc(ctx)
		return err
	},
	"MallocWait": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Malloc(ctx, pool.Wait(), pool.LeaseTTL(time.Hour))
		return err
	},
	"MallocBind": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Malloc(ctx, pool.Bind("b1", time.Hour))
		return err
	},
	"MallocSession": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Malloc(ctx, pool.InSession(f.sess))
		return err
	},
	"MallocN": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.MallocN(ctx, 2)
		return err
	},
	"MallocBatch": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.MallocBatch(ctx, 2, time.Hour)
		return err
	},
	"MallocMember": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.MallocMember(ctx, "m5")
		return err
	},
	"Release": func(ctx context.Context, f *corruptFixture) error { return f.held.Release(ctx) },
	"Refresh": func(ctx context.Context, f *corruptFixture) error { return f.held.Refresh(ctx, time.Hour) },
	"ReportUnhealthy": func(ctx context.Context, f *corruptFixture) error {
		return f.held.ReportUnhealthy(ctx, time.Minute)
	},
	"SessionBeat": func(ctx context.Context, f *corruptFixture) error { return f.sess.beat(ctx) },
	"ForceRelease": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Admin().ForceRelease(ctx, map[string]int64{"m0": f.held.Fence(), "m6": 0})
		return err
	},
	"Quarantine": func(ctx context.Context, f *corruptFixture) error {
		return f.p.Admin().Quarantine(ctx, "m5", time.Minute)
	},
	"Recover": func(ctx context.Context, f *corruptFixture) error {
		return f.p.Admin().Quarantine(ctx, "m3", 0)
	},
	"Update": func(ctx context.Context, f *corruptFixture) error {
		return f.p.Admin().Update(ctx, []string{"m0", "m1", "m3"}, pool.Priority(5), pool.MemberTTL(time.Hour))
	},
	"Import": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Admin().Import(ctx, []pool.Record{{Key: "n4", Priority: 2}, {Key: "m1", Priority: -1}})
		return err
	},
	"GC": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Admin().GC(ctx, 100)
		return err
	},
	"Clear": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Admin().Clear(ctx)
		return err
	},
	"Bind": func(ctx context.Context, f *corruptFixture) error {
		return f.p.Admin().Bind(ctx, "b1", "m5", time.Hour)
	},
	"Unbind": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Admin().Unbind(ctx, "b1")
		return err
	},
	"Len": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Len(ctx)
		return err
	},
	"Export": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.p.Admin().Export(ctx)
		return err
	},
	"Stats": func(ctx context.Context, f *corruptFixture) error {
		st, err := f.p.Admin().Stats(ctx)
		if err == nil && st.Corrupt != "" {
			return fmt.Errorf("%w: %s", errViolation, st.Corrupt)
		}
		return err
	},
	"Snapshot": func(ctx context.Context, f *corruptFixture) error {
		s, err := f.p.Admin().Snapshot(ctx)
		if err == nil && len(s.Violations) > 0 {
			return fmt.Errorf("%w: %s", errViolation, strings.Join(s.Violations, "; "))
		}
		return err
	},
}

// errViolation marks the reads that report hostile state as violations
// rather than failing.
var errViolation = errors.New("violations")

// hget reads one hash field, "" when the key or field is absent (or field
// is "").
func hget(t *testing.T, ctx context.Context, c rueidis.Client, key, field string) string {
	t.Helper()
	if field == "" {
		return ""
	}
	v, err := c.Do(ctx, c.B().Hget().Key(key).Field(field).Build()).ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	return v
}

// TestCorruptStateWritesNothing (issue 13, point 5): with one pool key of
// the wrong type, or garbage where a counter or record belongs, every
// operation either answers an error matching ErrCorrupt that names the key
// and writes nothing, or does not read that key and leaves it alone; reads
// for operators report the state as a violation.
func TestCorruptStateWritesNothing(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		probe := newCorruptFixture(t, ctx, b, "probe", false)
		type pair struct {
			cr  corruption
			op  string
			due bool
			f   *corruptFixture
		}
		var all []pair
		for _, due := range []bool{false, true} {
			for _, cr := range corruptions(probe.keys) {
				for _, op := range slices.Sorted(maps.Keys(corruptOps)) {
					// Only mallocs and GC fire due timers.
					if !due || strings.HasPrefix(op, "Malloc") || op == "GC" {
						all = append(all, pair{cr: cr, op: op, due: due})
					}
				}
			}
		}
		// The fixtures first, so that one wait lets every due lease lapse.
		for i := range all {
			all[i].f = newCorruptFixture(t, ctx, b, fmt.Sprintf("c%d", i), all[i].due)
		}
		time.Sleep(60 * time.Millisecond)
		cases, wroteThenFailed, failedOther := 0, 0, 0
		for _, pc := range all {
			cr, op, due, f := pc.cr, pc.op, pc.due, pc.f
			name := fmt.Sprintf("%s/%s/due=%v", cr.name, op, due)
			key := f.keys[cr.key]
			if err := cr.apply(ctx, b.Client, key); err != nil {
				t.Fatal(err)
			}
			before := redisxtest.ReadKeys(t, ctx, b.Client, f.keys)
			fieldBefore := hget(t, ctx, b.Client, key, cr.field)
			err := corruptOps[op](ctx, f)
			after := redisxtest.ReadKeys(t, ctx, b.Client, f.keys)
			fieldAfter := hget(t, ctx, b.Client, key, cr.field)
			// What a violation or error must name: the key, or
			// for garbage in a hash the field.
			named := key
			if cr.field != "" {
				named = `"` + cr.field + `"`
			}
			cases++
			wrote := !maps.Equal(before, after)
			switch {
			case errors.Is(err, errViolation):
				if !strings.Contains(err.Error(), named) {
					t.Errorf("%s: violations do not name %s: %v", name, named, err)
				}
			case err == nil:
				// Success means the operation did not read the
				// hostile state: it is left as it was, or (a
				// member or binding removed, the pool cleared)
				// deleted, never rewritten from what it held.
				switch {
				case cr.field == "" && before[cr.key] != after[cr.key] && !strings.HasPrefix(after[cr.key], "none "):
					t.Errorf("%s: succeeded and rewrote the corrupt key %s:\nbefore %s\nafter  %s", name, key, before[cr.key], after[cr.key])
				case cr.field != "" && fieldAfter != fieldBefore && fieldAfter != "":
					t.Errorf("%s: succeeded and rewrote the corrupt field %s %s: %q -> %q", name, key, cr.field, fieldBefore, fieldAfter)
				}
				if op == "Snapshot" {
					t.Errorf("%s: Snapshot reports no violation", name)
				}
			case wrote:
				wroteThenFailed++
				t.Errorf("%s: wrote, then failed: %v", name, err)
			case !errors.Is(err, redisallocator.ErrCorrupt):
				failedOther++
				t.Errorf("%s: error does not match ErrCorrupt: %v", name, err)
			case !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), cr.field):
				t.Errorf("%s: error does not name %s %s: %v", name, key, cr.field, err)
			}
		}
		t.Logf("%d cases: %d wrote then failed, %d failed without ErrCorrupt", cases, wroteThenFailed, failedOther)
	})
}

// TestCorruptScalerKeys (issue 13, point 5): with the scaler's claim of the
// wrong type or holding no claim, every scaler operation (a Step's claim,
// Run, add, retire, release) answers an error matching ErrCorrupt that
// names the claim key and writes nothing; with the scaler's fencing counter
// of the wrong type or garbage, taking a new claim does, and the
// operations that do not read the counter (add and retire without the
// claim answer ErrNotHeld, release finds nothing to release) write nothing.
func TestCorruptScalerKeys(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := b.Client
		set := func(v string) func(string) rueidis.Completed {
			return func(key string) rueidis.Completed { return c.B().Set().Key(key).Value(v).Build() }
		}
		hash := func(key string) rueidis.Completed {
			return c.B().Hset().Key(key).FieldValue().FieldValue("x", "1").Build()
		}
		corruptions := []struct {
			name  string
			fence bool // the fencing counter, else the claim
			apply func(key string) rueidis.Completed
		}{
			{name: "WrongType/claim", apply: hash},
			{name: "Garbage/claim", apply: set("nonsense")},
			{name: "Garbage/claim-fence", apply: set("other 12x")},
			{name: "Garbage/claim-fields", apply: set("other 12 3")},
			{name: "WrongType/fence", fence: true, apply: hash},
			{name: "Garbage/fence", fence: true, apply: set("lots")},
			{name: "Garbage/fence-float", fence: true, apply: set("1e3")},
		}
		type scaler = pool.Scaler[proxy]
		ops := map[string]func(ctx context.Context, sc *scaler, events func() []pool.ScaleEvent) error{
			"Step": func(ctx context.Context, sc *scaler, _ func() []pool.ScaleEvent) error {
				_, err := sc.Step(ctx)
				return err
			},
			"Run": func(ctx context.Context, sc *scaler, events func() []pool.ScaleEvent) error {
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				if err := sc.Run(rctx); !errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("run ended with %w", err)
				}
				for _, ev := range events() {
					if ev.Err != nil {
						return ev.Err
					}
				}
				return nil
			},
			"Add": func(ctx context.Context, sc *scaler, _ func() []pool.ScaleEvent) error {
				return sc.AddWithFence(ctx, 12, "n1")
			},
			"Retire": func(ctx context.Context, sc *scaler, _ func() []pool.ScaleEvent) error {
				_, err := sc.RetireWithFence(ctx, 12, 1)
				return err
			},
			"Release": func(ctx context.Context, sc *scaler, _ func() []pool.ScaleEvent) error {
				return sc.Release(ctx)
			},
		}
		n := 0
		for _, cr := range corruptions {
			for _, op := range slices.Sorted(maps.Keys(ops)) {
				n++
				name := cr.name + "/" + op
				p, err := pool.New[proxy](c, b.Prefix, fmt.Sprintf("scale%d", n))
				if err != nil {
					t.Fatal(err)
				}
				// Two free members for a retire, nothing waiting.
				if _, err := p.Add(ctx, map[string]proxy{"m1": {Addr: "m1"}, "m2": {Addr: "m2"}}); err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				var evs []pool.ScaleEvent
				pr := &provider{}
				sc, err := pool.NewScaler(p, pr.provision, pr.retire, pool.WithWaterMarks(4, 6), pool.WithCooldown(time.Millisecond),
					pool.WithScalerInterval(20*time.Millisecond),
					pool.WithEvents(func(ev pool.ScaleEvent) { mu.Lock(); evs = append(evs, ev); mu.Unlock() }))
				if err != nil {
					t.Fatal(err)
				}
				events := func() []pool.ScaleEvent { mu.Lock(); defer mu.Unlock(); return slices.Clone(evs) }
				keys := p.KeyNames()
				keys["scaler"], keys["scalerfence"] = sc.ClaimKey(), sc.FenceKey()
				key := sc.ClaimKey()
				if cr.fence {
					key = sc.FenceKey()
				}
				if err := c.Do(ctx, cr.apply(key)).Error(); err != nil {
					t.Fatal(err)
				}
				before := redisxtest.ReadKeys(t, ctx, c, keys)
				err = ops[op](ctx, sc, events)
				after := redisxtest.ReadKeys(t, ctx, c, keys)
				if !maps.Equal(before, after) {
					t.Errorf("%s: wrote (err %v):\nbefore %v\nafter  %v", name, err, before, after)
				}
				if len(pr.retired) > 0 || pr.next > 0 {
					t.Errorf("%s: provisioned %d, retired %v", name, pr.next, pr.retired)
				}
				switch {
				case cr.fence && op != "Step" && op != "Run":
					// These do not read the counter.
					if err != nil && !errors.Is(err, pool.ErrNotHeld) {
						t.Errorf("%s: %v", name, err)
					}
				case !errors.Is(err, redisallocator.ErrCorrupt):
					t.Errorf("%s: error does not match ErrCorrupt: %v", name, err)
				case !strings.Contains(err.Error(), key):
					t.Errorf("%s: error does not name %s: %v", name, key, err)
				}
			}
		}
	})
}

// TestCorruptSessionHeartbeat (issue 13, point 5): a real worker session's
// heartbeat (health_beat, then pool_session_beat for each pool it holds
// leases in) with a key it reads of the wrong type reports an error
// matching ErrCorrupt that names the key, and the failing script writes
// nothing; keys the heartbeat does not read (the session index, a garbage
// holder record, the session group's metadata) are left as they were.
func TestCorruptSessionHeartbeat(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := b.Client
		wrongType := func(key string) rueidis.Completed { return c.B().Set().Key(key).Value("x").Build() }
		cases := []struct {
			name string
			// key: a pool key name (free, timers, ...) or health's
			// "workers" or "meta".
			key   string
			field string // garbage in this field of a hash
			reads bool   // the heartbeat reads it: it must fail
			apply func(key string) rueidis.Completed
		}{
			{name: "WrongType/timers", key: "timers", reads: true, apply: wrongType},
			{name: "WrongType/workers", key: "workers", reads: true, apply: wrongType},
			{name: "WrongType/sesidx", key: "sesidx", apply: wrongType},
			{name: "WrongType/holders", key: "holders", apply: wrongType},
			{name: "WrongType/meta", key: "meta", apply: wrongType},
			{name: "Garbage/holders-session", key: "holders", field: "m1", apply: func(key string) rueidis.Completed {
				return c.B().Hset().Key(key).FieldValue().FieldValue("m1", "a b c d e f").Build()
			}},
		}
		for i, tc := range cases {
			prefix := fmt.Sprintf("%s-hb%d", b.Prefix, i)
			p, err := pool.New[proxy](c, prefix, "proxies")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Add(ctx, map[string]proxy{"m1": {Addr: "m1"}}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var errs []error
			s, err := health.NewSession(ctx, c, prefix, health.WithID("w1"), health.WithInterval(20*time.Millisecond),
				health.WithTimeout(time.Minute), health.WithErrorFunc(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Malloc(ctx, pool.InSession(s)); err != nil {
				t.Fatal(err)
			}
			// The pool's keys, then the session group's, each read whole.
			keys := p.KeyNames()
			hkeys := map[string]string{"workers": prefix + ":{health:workers}:workers", "meta": prefix + ":{health:workers}:meta"}
			key := keys[tc.key]
			if k, ok := hkeys[tc.key]; ok {
				key = k
			}
			if err := c.Do(ctx, tc.apply(key)).Error(); err != nil {
				t.Fatal(err)
			}
			dump := func() map[string]string {
				out := redisxtest.ReadKeys(t, ctx, c, keys)
				for name, k := range hkeys {
					v, err := c.Do(ctx, c.B().Dump().Key(k).Build()).ToString()
					out[name] = fmt.Sprintf("%q %v", v, err)
				}
				return out
			}
			before := dump()
			fieldBefore := hget(t, ctx, c, key, tc.field)
			// Beats for a while, or with a key the heartbeat reads
			// until one fails (a generous deadline).
			rctx, rcancel := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- s.Run(rctx) }()
			failed := func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 }
			time.Sleep(200 * time.Millisecond)
			for deadline := time.Now().Add(10 * time.Second); tc.reads && !failed() && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			// What failed before the cancel (which may fail a beat).
			mu.Lock()
			err = errors.Join(errs...)
			mu.Unlock()
			rcancel()
			if err := <-ran; !errors.Is(err, context.Canceled) {
				t.Errorf("%s: Run ended with %v", tc.name, err)
			}
			after := dump()
			fieldAfter := hget(t, ctx, c, key, tc.field)
			if !tc.reads {
				switch {
				case err != nil:
					t.Errorf("%s: heartbeat failed: %v", tc.name, err)
				case tc.field == "" && before[tc.key] != after[tc.key]:
					t.Errorf("%s: rewrote %s:\nbefore %s\nafter  %s", tc.name, key, before[tc.key], after[tc.key])
				case fieldBefore != fieldAfter:
					t.Errorf("%s: rewrote %s %s: %q -> %q", tc.name, key, tc.field, fieldBefore, fieldAfter)
				}
				_ = s.Close(ctx)
				continue
			}
			switch {
			case err == nil:
				t.Errorf("%s: no heartbeat failed", tc.name)
			case !errors.Is(err, redisallocator.ErrCorrupt):
				t.Errorf("%s: error does not match ErrCorrupt: %v", tc.name, err)
			case !strings.Contains(err.Error(), key):
				t.Errorf("%s: error does not name %s: %v", tc.name, key, err)
			}
			// health_beat runs first: with the pool's key corrupt it
			// moved the session's deadline on; pool_session_beat
			// wrote nothing.
			if _, ok := hkeys[tc.key]; !ok {
				delete(before, "workers")
				delete(after, "workers")
			}
			if !maps.Equal(before, after) {
				t.Errorf("%s: wrote:\nbefore %v\nafter  %v", tc.name, before, after)
			}
			_ = s.Close(ctx)
		}
	})
}
