package inspect_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect/inspecttest"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func seed(t *testing.T, b *redisxtest.Backend) {
	t.Helper()
	inspecttest.Seed(t, b.Client, func() rueidis.Client { return b.NewClient(t) }, b.Prefix, codec.JSON)
}

func TestDiscover(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seed(t, b)
		ctx := t.Context()
		n, err := redisallocator.Discover(ctx, b.Client, b.Prefix, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := inspect.Names{
			Pools:        []string{inspecttest.FullPool, inspecttest.Pool},
			Queues:       []string{inspecttest.DeadQueue, inspecttest.IdleQueue},
			Locks:        []string{inspecttest.HeldLock, inspecttest.FencedLock, inspecttest.PermLock},
			LockPools:    []string{inspecttest.LockPool},
			HealthGroups: []string{inspecttest.Group},
		}
		if d := cmp.Diff(want, n, cmpIgnoreScan()); d != "" {
			t.Errorf("names (-want +got):\n%s", d)
		}
		if n.Truncated || n.Scanned == 0 {
			t.Errorf("scanned %d, truncated %v", n.Scanned, n.Truncated)
		}

		// A tiny limit truncates, and says so.
		n, err = redisallocator.Discover(ctx, b.Client, b.Prefix, 2)
		if err != nil {
			t.Fatal(err)
		}
		// miniredis ignores COUNT and answers the whole scan at once, which
		// is complete, so not truncated.
		if n.Truncated != b.Real() {
			t.Errorf("limit 2: truncated %v: %+v", n.Truncated, n)
		}

		// Another prefix that starts the same sees nothing of ours.
		n, err = redisallocator.Discover(ctx, b.Client, b.Prefix+"x", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Pools)+len(n.Queues)+len(n.Locks) != 0 {
			t.Errorf("foreign prefix found %+v", n)
		}
	})
}

func cmpIgnoreScan() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		s := p.String()
		return s == "Scanned" || s == "Truncated"
	}, cmp.Ignore())
}

func TestCollectBadInput(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	for _, prefix := range []string{"", "a{b}", "x\x00"} {
		if _, err := inspect.Collect(t.Context(), b.Client, prefix, inspect.Options{}); !errors.Is(err, inspect.ErrInvalid) || !errors.Is(err, redisallocator.ErrInvalidName) {
			t.Errorf("prefix %q: %v", prefix, err)
		}
	}
	if _, err := inspect.Collect(t.Context(), b.Client, "p", inspect.Options{ScanLimit: -1}); !errors.Is(err, inspect.ErrInvalid) {
		t.Errorf("negative scan limit: %v", err)
	}
	if _, err := inspect.Collect(t.Context(), nil, "p", inspect.Options{}); !errors.Is(err, inspect.ErrInvalid) {
		t.Errorf("nil client: %v", err)
	}
	if _, err := inspect.Collect(t.Context(), b.Client, "p", inspect.Options{SampleLimit: -1}); !errors.Is(err, inspect.ErrInvalid) {
		t.Errorf("negative sample limit: %v", err)
	}
}

// TestCollect checks the report of a seeded prefix and that collecting
// wrote nothing.
func TestCollect(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seed(t, b)
		ctx := t.Context()
		before := dump(t, b)
		r, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if after := dump(t, b); !maps(before, after) {
			t.Errorf("Collect wrote: keys before %d, after %d\n%s", len(before), len(after), cmp.Diff(before, after))
		}

		if r.Version != inspect.SchemaVersion || r.Prefix != b.Prefix || r.Health != inspect.HealthDegraded {
			t.Errorf("header: version %d prefix %q health %q", r.Version, r.Prefix, r.Health)
		}
		if len(r.Pools) != 2 {
			t.Fatalf("pools: %+v", r.Pools)
		}
		p := r.Pools[1]
		if p.Name != inspecttest.Pool || p.Total != 10 || p.Held != 3 || p.Unhealthy != 1 || p.Free != 6 ||
			p.LapsedLeases != 1 || p.PermanentLeases != 1 || len(p.Members) != 10 || len(p.Bindings) != 1 {
			t.Errorf("pool: %+v", p)
		}
		// The counter holds the last fence handed out: the highest lease's.
		var last int64
		for _, m := range p.Members {
			if m.Lease != nil {
				last = max(last, m.Lease.Fence)
			}
		}
		if p.Fence != last || last == 0 {
			t.Errorf("pool fence %d, highest lease fence %d", p.Fence, last)
		}
		// Three mallocs seeded the pool; the other pool had one MallocN(2).
		if p.Allocations != 3 || r.Pools[0].Allocations != 2 {
			t.Errorf("allocations %d and %d, want 3 and 2", p.Allocations, r.Pools[0].Allocations)
		}
		if len(p.Violations) != 0 {
			t.Errorf("violations: %v", p.Violations)
		}
		m9 := p.Members[slices.IndexFunc(p.Members, func(m inspect.Member) bool { return m.Key == "m9" })]
		if m9.Expiry == nil || m9.Priority != 0 || !m9.HasValue {
			t.Errorf("m9: %+v", m9)
		}

		if len(r.Queues) != 2 {
			t.Fatalf("queues: %+v", r.Queues)
		}
		dq, iq := r.Queues[0], r.Queues[1]
		if dq.Dead != 1 || len(dq.RecentFailures) != 1 || dq.RecentFailures[0].ID != inspecttest.FailedTaskID ||
			dq.RecentFailures[0].ErrorKind != "smtp" || !strings.Contains(dq.RecentFailures[0].ErrorMessage, "smtp refused") {
			t.Errorf("dead queue: %+v", dq)
		}
		if iq.Ready != 1 || iq.Workers != 0 {
			t.Errorf("idle queue: %+v", iq)
		}

		locks := map[string]inspect.Lock{}
		for _, l := range r.Locks {
			locks[l.Name] = l
		}
		if l := locks[inspecttest.HeldLock]; !l.Held || l.TTLMillis <= 0 || l.TTLMillis > time.Hour.Milliseconds() || l.Holds != 1 {
			t.Errorf("held lock: %+v", l)
		}
		if l := locks[inspecttest.PermLock]; !l.Held || l.TTLMillis != -1 {
			t.Errorf("permanent lock: %+v", l)
		}
		if l := locks[inspecttest.FencedLock]; l.Held || l.TTLMillis != -2 || l.Fence <= 0 {
			t.Errorf("fenced lock: %+v", l)
		}
		if want := []inspect.LockPool{{Name: inspecttest.LockPool, Members: 3, Locked: 1}}; !cmp.Equal(want, r.LockPools) {
			t.Errorf("lock pools: %+v", r.LockPools)
		}

		alive := map[string]bool{}
		for _, w := range r.Workers {
			alive[w.ID] = w.Alive
		}
		if !alive[inspecttest.LiveWorker] || alive[inspecttest.DeadWorker] || len(alive) != 2 {
			t.Errorf("workers: %+v", r.Workers)
		}

		codes := map[string]string{}
		for _, f := range r.Findings {
			codes[f.Code+" "+f.Subject] = f.Severity
		}
		for _, want := range []string{
			"lapsed-leases pool:" + inspecttest.Pool,
			"low-free-capacity pool:" + inspecttest.FullPool,
			"dead-letters queue:" + inspecttest.DeadQueue,
			"queue-no-workers queue:" + inspecttest.IdleQueue,
			"dead-workers health:" + inspecttest.Group,
			"permanent-leases pool:" + inspecttest.Pool,
			"permanent-locks locks",
		} {
			if _, ok := codes[want]; !ok {
				t.Errorf("no finding %q in %v", want, codes)
			}
		}
		if r.Redis == nil || len(r.Redis.Nodes) == 0 {
			t.Errorf("redis: %+v", r.Redis)
		} else if b.Real() && r.Redis.Nodes[0].UsedMemory == 0 {
			t.Errorf("no used_memory from a real server: %+v", r.Redis.Nodes[0])
		}

		// The JSON shape: versioned, lists never null.
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(js, &raw); err != nil {
			t.Fatal(err)
		}
		if raw["version"] != float64(1) {
			t.Errorf("version: %v", raw["version"])
		}
		for _, k := range []string{"pools", "queues", "locks", "lock_pools", "workers", "findings"} {
			if _, ok := raw[k].([]any); !ok {
				t.Errorf("%s is %T, not a list", k, raw[k])
			}
		}
	})
}

// TestCollectSummary: a pool over FullReadLimit is read by its counters
// only, and says so; what it reports agrees with a whole read.
func TestCollectSummary(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seed(t, b)
		ctx := t.Context()
		sum, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{FullReadLimit: 5, SkipRedis: true})
		if err != nil {
			t.Fatal(err)
		}
		whole, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{FullReadLimit: -1, SkipRedis: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Pools) != 2 || len(whole.Pools) != 2 {
			t.Fatalf("pools: %+v / %+v", sum.Pools, whole.Pools)
		}
		if g := sum.Pools[0]; g.Name != inspecttest.FullPool || g.Summary || len(g.Members) != 2 {
			t.Errorf("the small pool is not read whole: %+v", g)
		}
		s, w := sum.Pools[1], whole.Pools[1]
		if !s.Summary || w.Summary || len(s.Members) != 0 || len(s.Bindings) != 0 || s.PermanentLeases != 0 || s.LapsedMillis <= 0 {
			t.Errorf("summary %+v", s)
		}
		// Everything a summary carries equals the whole read's.
		w.Summary, w.Members, w.Bindings, w.Sessions, w.PermanentLeases, w.StaleBindings = true, []inspect.Member{}, []inspect.Binding{}, []inspect.Session{}, 0, 0
		if d := cmp.Diff(w, s, cmpopts.IgnoreFields(inspect.Pool{}, "ServerTime", "LapsedMillis")); d != "" {
			t.Errorf("summary differs from the whole read (-whole +summary):\n%s", d)
		}
		var summaryFinding, permanent bool
		for _, f := range sum.Findings {
			switch {
			case f.Code == inspect.CodePoolSummary && f.Subject == "pool:"+inspecttest.Pool && f.Severity == inspect.SeverityInfo:
				summaryFinding = true
			case f.Code == inspect.CodePoolSummary:
				t.Errorf("unexpected %+v", f)
			case f.Code == inspect.CodePermanentLeases && f.Subject == "pool:"+inspecttest.Pool:
				permanent = true
			}
		}
		if !summaryFinding || permanent {
			t.Errorf("findings %+v", sum.Findings)
		}
		if sum.Health != whole.Health {
			t.Errorf("health %s, whole read %s", sum.Health, whole.Health)
		}
	})
}

// TestCollectEmpty: a prefix with nothing under it (a mistyped prefix)
// is not healthy: one empty-prefix warning says nothing was found. Names
// given by the caller (no scan) are not judged.
func TestCollectEmpty(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		r, err := inspect.Collect(t.Context(), b.Client, b.Prefix, inspect.Options{SkipRedis: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Health != inspect.HealthDegraded || len(r.Findings) != 1 || r.Findings[0].Code != inspect.CodeEmptyPrefix ||
			!strings.Contains(r.Findings[0].Message, "nothing found under prefix") || len(r.Pools) != 0 || r.Redis != nil {
			t.Errorf("empty prefix: %+v", r)
		}
		r, err = inspect.Collect(t.Context(), b.Client, b.Prefix, inspect.Options{SkipRedis: true, Names: &inspect.Names{}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Health != inspect.HealthHealthy || len(r.Findings) != 0 {
			t.Errorf("no names asked for: %+v", r)
		}
	})
}

// TestCollectWrongTypedKey: a foreign key in a pool's namespace becomes a
// finding, not a failed collection: an integrity violation naming the key
// (the snapshot reports it rather than failing).
func TestCollectWrongTypedKey(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		p, err := pool.New[string](b.Client, b.Prefix, "bad")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"a"}); err != nil {
			t.Fatal(err)
		}
		// The holders hash replaced by a string.
		key := b.Prefix + ":{pool:bad}:holders"
		if err := b.Client.Do(ctx, b.Client.B().Set().Key(key).Value("x").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		r, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{SkipRedis: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Findings) != 1 || r.Findings[0].Code != inspect.CodeIntegrityCorrupt || r.Findings[0].Subject != "pool:bad" ||
			!strings.Contains(r.Findings[0].Message, key) {
			t.Errorf("findings: %+v", r.Findings)
		}
		if len(r.Pools) != 1 || r.Health != inspect.HealthCorrupt {
			t.Errorf("pools %+v health %s", r.Pools, r.Health)
		}
	})
}

func TestCollectCancelled(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{}); !errors.Is(err, inspect.ErrRedis) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// dump returns every key of the backend's prefix with its DUMP payload.
func dump(t *testing.T, b *redisxtest.Backend) map[string]string {
	t.Helper()
	out := map[string]string{}
	if !b.Real() {
		// miniredis DUMPs strings only; its own dump shows every value.
		out["*"] = b.Mini.Dump()
		return out
	}
	for _, k := range b.Keys(t) {
		v, err := b.Client.Do(t.Context(), b.Client.B().Dump().Key(k).Build()).ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

func maps(a, b map[string]string) bool { return cmp.Equal(a, b) }
