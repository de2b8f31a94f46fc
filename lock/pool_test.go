package lock_test

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

func newPool(t *testing.T, b *redisxtest.Backend, name string) *lock.Pool {
	t.Helper()
	if b.Mini != nil {
		b.Mini.ClockTTL(true)
	}
	p, err := lock.NewPool(b.Client, b.Prefix, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoolMembership(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		p := newPool(t, b, "proxies")
		if n := must(p.Add(ctx)).get(t); n != 0 {
			t.Fatalf("Add() = %d", n)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("empty Add wrote %v", keys)
		}
		if n := must(p.Add(ctx, "a", "b", "c", "a")).get(t); n != 3 {
			t.Fatalf("Add(a b c a) = %d new, want 3", n)
		}
		if n := must(p.Add(ctx, "c", "d")).get(t); n != 1 {
			t.Fatalf("Add(c d) = %d new, want 1", n)
		}
		if ms := must(p.Members(ctx)).get(t); !slices.Equal(ms, []string{"a", "b", "c", "d"}) {
			t.Fatalf("Members = %v", ms)
		}
		if !must(p.Contains(ctx, "b")).get(t) || must(p.Contains(ctx, "zz")).get(t) {
			t.Fatal("Contains wrong")
		}
		// Unknown members are ignored.
		if n := must(p.Remove(ctx, "b", "zz")).get(t); n != 1 {
			t.Fatalf("Remove(b zz) = %d", n)
		}
		if n := must(p.Remove(ctx)).get(t); n != 0 {
			t.Fatalf("Remove() = %d", n)
		}
		if err := p.Assign(ctx, "x", "y", "x"); err != nil {
			t.Fatal(err)
		}
		if ms := must(p.Members(ctx)).get(t); !slices.Equal(ms, []string{"x", "y"}) {
			t.Fatalf("Members after Assign = %v", ms)
		}
		if err := p.Assign(ctx); err != nil {
			t.Fatal(err)
		}
		if ms := must(p.Members(ctx)).get(t); len(ms) != 0 {
			t.Fatalf("Members after empty Assign = %v", ms)
		}
		must(p.Add(ctx, "q")).get(t)
		if err := p.Assign(ctx); err != nil {
			t.Fatal(err)
		}
		if ms := must(p.Members(ctx)).get(t); len(ms) != 0 {
			t.Fatalf("Members after Assign() = %v", ms)
		}
		// Members may hold what names may not: braces, colons, spaces.
		odd := []string{"{tag}", "a:b", "with space", "ünï"}
		must(p.Add(ctx, odd...)).get(t)
		if ms := must(p.Members(ctx)).get(t); len(ms) != len(odd) {
			t.Fatalf("Members = %v", ms)
		}
		// All of the pool's keys share one slot.
		keys := b.Keys(t)
		for _, k := range keys {
			if redisx.KeySlot(k) != redisx.KeySlot(keys[0]) {
				t.Fatalf("pool keys in two slots: %v", keys)
			}
		}
	})
}

func TestPoolLargeAssign(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		p := newPool(t, b, "big")
		var members []string
		for i := range 2500 { // more than one SADD batch inside the script
			members = append(members, "m"+strconv.Itoa(i))
		}
		if err := p.Assign(tb.ctx, members...); err != nil {
			t.Fatal(err)
		}
		if ms := must(p.Members(tb.ctx)).get(t); len(ms) != 2500 {
			t.Fatalf("%d members, want 2500", len(ms))
		}
		if n := must(p.Remove(tb.ctx, members[:1500]...)).get(t); n != 1500 {
			t.Fatalf("Remove = %d", n)
		}
	})
}

func TestPoolLocksAndHealth(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		p := newPool(t, b, "workers")
		l := p.Locker()
		if st := must(p.Infos(ctx)).get(t); len(st) != 0 {
			t.Fatalf("Infos of an empty pool = %+v", st)
		}
		must(p.Add(ctx, "free", "locked", "sick", "stuck", "{odd}")).get(t)
		must(l.Lock(ctx, "locked", "w1", time.Minute)).get(t)
		must(l.Lock(ctx, "{odd}", "w2", time.Minute)).get(t)
		must(l.Lock(ctx, "sick", "health", time.Hour)).get(t)
		must(l.Lock(ctx, "stuck", "w3", lock.Permanent)).get(t)
		// A lock on a non-member is allowed and not reported.
		must(l.Lock(ctx, "outsider", "w4", time.Minute)).get(t)

		st := must(p.Infos(ctx)).get(t)
		want := map[string]string{"free": "", "locked": "w1", "{odd}": "w2", "sick": "health", "stuck": "w3"}
		if len(st) != len(want) {
			t.Fatalf("Infos = %v", st)
		}
		for m, owner := range want {
			if st[m].Owner != owner || (owner != "") != (st[m].Holds > 0) {
				t.Errorf("Info of %s = %+v, want owner %q", m, st[m], owner)
			}
		}
		if st["stuck"].TTL != lock.Permanent || st["sick"].TTL <= time.Minute {
			t.Errorf("TTLs: stuck %v, sick %v", st["stuck"].TTL, st["sick"].TTL)
		}
		// Membership calls leave locks alone.
		must(p.Remove(ctx, "locked")).get(t)
		if err := p.Assign(ctx); err != nil {
			t.Fatal(err)
		}
		if !must(isLocked(ctx, l, "locked")).get(t) {
			t.Fatal("Shrink/Clear removed a member's lock")
		}
		// Pool locks are not the plain Locker's locks of the same name.
		plain := tb.l
		if must(isLocked(ctx, plain, "locked")).get(t) {
			t.Fatal("pool lock visible through the plain Locker")
		}
		// Reentrancy and mutexes work on members too.
		must(l.RLock(ctx, "locked", "w1", time.Minute)).get(t)
		if n := must(l.Unlock(ctx, "locked", "w1")).get(t); n != 1 {
			t.Fatalf("Unlock after re-entry = %d", n)
		}
		m := must(l.Mutex("free")).get(t)
		lease := must(m.TryAcquire(ctx)).get(t)
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
		keys := b.Keys(t)
		for _, k := range keys {
			if redisx.KeySlot(k) != redisx.KeySlot(keys[0]) {
				t.Fatalf("pool keys in two slots: %v", keys)
			}
		}
	})
}

func TestPoolBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		p := newPool(t, b, "bad")
		if _, err := p.Add(ctx, "ok", ""); !errors.Is(err, lock.ErrInvalid) {
			t.Errorf("Extend with an empty member: %v", err)
		}
		if _, err := p.Add(ctx, "ok", "nul\x00"); !errors.Is(err, lock.ErrInvalid) {
			t.Errorf("Extend with NUL: %v", err)
		}
		if err := p.Assign(ctx, "ok", ""); !errors.Is(err, lock.ErrInvalid) {
			t.Errorf("Assign with an empty member: %v", err)
		}
		if _, err := p.Remove(ctx, ""); !errors.Is(err, lock.ErrInvalid) {
			t.Errorf("Shrink with an empty member: %v", err)
		}
		if _, err := p.Contains(ctx, ""); !errors.Is(err, lock.ErrInvalid) {
			t.Errorf("Contains(\"\"): %v", err)
		}
		if _, err := p.Locker().Lock(ctx, "", "o", time.Minute); !errors.Is(err, lock.ErrInvalid) {
			t.Errorf("Lock of an empty member: %v", err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("bad input wrote %v", keys)
		}
	})
}
