package redisallocator_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// seedOneOfEach creates, under prefix and through the public APIs, one
// namespace of every kind Discover reports, so a feature package that
// changes its key layout fails TestDiscover.
func seedOneOfEach(t *testing.T, client rueidis.Client, prefix string) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := pool.New[string](client, prefix, "gpus")
	must(err)
	_, err = p.AddKeys(ctx, []string{"g0"})
	must(err)
	q, err := task.New[string, string](client, prefix, "emails")
	must(err)
	_, err = q.Submit(ctx, "t1", "hello", task.NoWait())
	must(err)
	l, err := lock.New(client, prefix)
	must(err)
	_, err = l.Lock(ctx, "deploy", "me", time.Hour)
	must(err)
	lp, err := lock.NewPool(client, prefix, "printers")
	must(err)
	_, err = lp.Add(ctx, "a")
	must(err)
	s, err := health.NewSession(ctx, client, prefix, health.WithGroup("workers"),
		health.WithInterval(time.Hour), health.WithTimeout(3*time.Hour))
	must(err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
}

func TestDiscover(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		seedOneOfEach(t, b.Client, b.Prefix)
		// A prefix that starts like ours, and one with glob characters
		// that would match ours unescaped: neither is ours, nor we theirs.
		seedOneOfEach(t, b.Client, b.Prefix+"x")
		before := keyspace(t, b)

		n, err := redisallocator.Discover(ctx, b.Client, b.Prefix, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := redisallocator.Names{
			Pools: []string{"gpus"}, Queues: []string{"emails"}, Locks: []string{"deploy"},
			LockPools: []string{"printers"}, HealthGroups: []string{"workers"},
			Scanned: n.Scanned,
		}
		if d := cmp.Diff(want, n); d != "" {
			t.Errorf("names (-want +got):\n%s", d)
		}
		if n.Scanned == 0 {
			t.Error("no keys scanned")
		}
		if after := keyspace(t, b); !cmp.Equal(before, after) {
			t.Errorf("Discover wrote:\n%s", cmp.Diff(before, after))
		}

		// A tiny limit truncates, and says so (every namespace has several
		// keys on one node). miniredis ignores COUNT and answers the whole
		// scan at once, which is complete.
		n, err = redisallocator.Discover(ctx, b.Client, b.Prefix, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n.Truncated != b.Real() {
			t.Errorf("limit 1: %+v", n)
		}

		for _, prefix := range []string{b.Prefix[:len(b.Prefix)-1] + "*", b.Prefix + "?", b.Prefix[:len(b.Prefix)-1] + "[" + b.Prefix[len(b.Prefix)-1:] + "]"} {
			n, err = redisallocator.Discover(ctx, b.Client, prefix, 0)
			if err != nil {
				t.Fatal(err)
			}
			if n.Scanned != 0 || len(n.Pools)+len(n.Queues)+len(n.Locks)+len(n.LockPools)+len(n.HealthGroups) != 0 {
				t.Errorf("prefix %q found %+v", prefix, n)
			}
		}
	})
}

func TestDiscoverEmpty(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	n, err := redisallocator.Discover(t.Context(), b.Client, b.Prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Empty lists, not nil: JSON shows [] rather than null.
	if n.Pools == nil || n.Queues == nil || n.Locks == nil || n.LockPools == nil || n.HealthGroups == nil || n.Truncated {
		t.Errorf("%#v", n)
	}
}

func TestDiscoverBadInput(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	for _, prefix := range []string{"", "a{b}", "x\x00", strings.Repeat("p", 257)} {
		if _, err := redisallocator.Discover(t.Context(), b.Client, prefix, 0); !errors.Is(err, redisallocator.ErrInvalidName) {
			t.Errorf("prefix %.20q: %v", prefix, err)
		}
	}
	if _, err := redisallocator.Discover(t.Context(), b.Client, "p", -1); err == nil {
		t.Error("negative limit accepted")
	}
	if _, err := redisallocator.Discover(t.Context(), nil, "p", 0); err == nil {
		t.Error("nil client accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := redisallocator.Discover(ctx, b.Client, "p", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name          string
		nameOK, memOK bool
	}{
		{"proxies", true, true},
		{"a{b}", false, true},
		{"", false, false},
		{"tab\there", false, true},
		{"nul\x00", false, false},
		{strings.Repeat("k", 300), false, true},
		{strings.Repeat("k", 2000), false, false},
		{"\xff", false, false},
	} {
		errName := redisallocator.ValidateName("--pool", tt.name)
		errMem := redisallocator.ValidateMember("member key", tt.name)
		if (errName == nil) != tt.nameOK || (errMem == nil) != tt.memOK {
			t.Errorf("%.20q: ValidateName %v, ValidateMember %v; want ok %v, %v", tt.name, errName, errMem, tt.nameOK, tt.memOK)
		}
		for _, err := range []error{errName, errMem} {
			if err != nil && !errors.Is(err, redisallocator.ErrInvalidName) {
				t.Errorf("%.20q: %v does not match ErrInvalidName", tt.name, err)
			}
		}
		if errName != nil && !strings.Contains(errName.Error(), "--pool") {
			t.Errorf("error does not name the value: %v", errName)
		}
	}
	// The constructors apply the same rules.
	if _, err := pool.NewInspector(redisxtest.New(t, redisxtest.BackendMini).Client, "p", "a{b}"); !errors.Is(err, redisallocator.ErrInvalidName) {
		t.Errorf("pool.NewInspector: %v", err)
	}
}

// keyspace returns the backend's keys of every prefix the test used with
// their DUMP payloads (miniredis: its whole dump).
func keyspace(t *testing.T, b *redisxtest.Backend) map[string]string {
	t.Helper()
	if !b.Real() {
		return map[string]string{"*": b.Mini.Dump()}
	}
	out := map[string]string{}
	for _, node := range b.Client.Nodes() {
		keys, err := node.Do(t.Context(), node.B().Keys().Pattern(b.Prefix+"*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, err := b.Client.Do(t.Context(), b.Client.B().Dump().Key(k).Build()).ToString()
			if err != nil && !rueidis.IsRedisNil(err) {
				t.Fatalf("DUMP %s: %v", k, err)
			}
			out[k] = v
		}
	}
	return out
}
