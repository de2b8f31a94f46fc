package pool_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func TestStatsAgreesWithSnapshot(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c", "d")
		held := tb.malloc(t, pool.LeaseTTL(time.Hour))
		tb.malloc(t, pool.LeaseTTL(pool.Permanent))
		if err := tb.p.Admin().Quarantine(tb.ctx, "d", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.p.Malloc(tb.ctx, pool.Bind("job", time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Nothing is due and the clock does not matter: the two reads agree.
		snap := tb.healthy(t)
		st, err := tb.p.Admin().Stats(tb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Time = snap.Time
		if err := statsAgree(st, snap); err != nil {
			t.Fatal(err)
		}
		if st.Counts != (pool.Counts{Held: 3, Unhealthy: 1}) || st.Bindings != 1 || st.DueTimers != 0 || st.Fence <= held.Fence() {
			t.Fatalf("stats %+v", *st)
		}
	})
}

// TestStatsBoundsDueTimers: with more due timers than StatsDueLimit, Stats
// counts them all but classifies only the oldest, and says so.
func TestStatsBoundsDueTimers(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "x", "y")
		// The first lease must outlive the second malloc (a malloc takes a
		// lapsed member back: with 20ms leases a slow second malloc under
		// -race reclaimed "x" and left one lease, not two), and both must
		// fall due before the members expire, which are added after them.
		const leaseTTL, memberTTL = 300 * time.Millisecond, 400 * time.Millisecond
		a := tb.malloc(t, pool.LeaseTTL(leaseTTL))
		second := tb.malloc(t, pool.LeaseTTL(leaseTTL))
		if second.Key == a.Key {
			t.Fatalf("the second malloc took %s again: the first lease lapsed in between", a.Key)
		}
		keys := make([]string, 1000+200)
		for i := range keys {
			keys[i] = fmt.Sprintf("m%04d", i)
		}
		if _, err := tb.p.AddKeys(tb.ctx, keys, pool.MemberTTL(memberTTL)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(memberTTL + 100*time.Millisecond)
		st, err := tb.p.Admin().Stats(tb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The lapsed leases are the oldest due timers, so they are all seen.
		want := pool.Stats{
			Time: st.Time, Fence: second.Fence(), Allocations: 2, Counts: pool.Counts{Free: len(keys), Held: 2},
			DueTimers: len(keys) + 2, DueSampled: true, LapsedLeases: 2, OldestLapsed: st.OldestLapsed,
			ExpiredMembers: 1000 - 2,
		}
		if *st != want {
			t.Fatalf("stats %+v\nwant  %+v", *st, want)
		}
		if lag := st.Time.Sub(st.OldestLapsed); lag < 100*time.Millisecond || lag > time.Minute {
			t.Fatalf("oldest lapse %v before the read", lag)
		}
	})
}

// TestAllocationsCountLeases: Stats.Allocations and Snapshot.Allocations
// rise by exactly the leases granted, whichever way they are granted
// (Malloc, MallocN, MallocMember, a batch, a woken waiter, a session,
// shared mode), not at all for a malloc that gets nothing, and Clear
// keeps the count.
func TestAllocationsCountLeases(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b, pool.WithWaitPoll(30*time.Second))
		want := int64(0)
		check := func(step string, granted int) {
			t.Helper()
			want += int64(granted)
			snap := tb.healthy(t)
			st, err := tb.p.Admin().Stats(tb.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Allocations != want || st.Allocations != want || st.Corrupt != "" {
				t.Fatalf("after %s: snapshot %d, stats %d (%q), want %d", step, snap.Allocations, st.Allocations, st.Corrupt, want)
			}
		}
		check("nothing", 0)
		tb.extend(t, "a", "b", "c", "d", "e", "f", "g")
		var held []*pool.Allocation[proxy]
		held = append(held, tb.malloc(t, pool.LeaseTTL(time.Hour)))
		check("Malloc", 1)
		all, err := tb.p.MallocN(tb.ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, all...)
		check("MallocN(2)", 2)
		m, err := tb.p.MallocMember(tb.ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
		check("MallocMember", 1)
		sess := newFakeSession("w-allocs", time.Hour)
		held = append(held, tb.malloc(t, pool.InSession(sess), pool.Bind("job", time.Hour)))
		check("Malloc in a session with a binding", 1)
		// Two members left for a batch of three: it counts the two, once.
		ls, err := tb.p.MallocBatch(tb.ctx, 3, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if ls[0] == nil || ls[1] == nil || ls[2] != nil {
			t.Fatalf("batch of 3 on 2 free members: %v", ls)
		}
		check("MallocBatch(3) with 2 free", 2)
		// Mallocs that get nothing count nothing.
		if _, err := tb.p.Malloc(tb.ctx); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc on an empty pool: %v", err)
		}
		if _, err := tb.p.MallocN(tb.ctx, 2); !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("MallocN on an empty pool: %v", err)
		}
		if _, err := tb.p.MallocMember(tb.ctx, "a"); err == nil {
			t.Fatal("MallocMember of a held member succeeded")
		}
		if ls, err := tb.p.MallocBatch(tb.ctx, 2, time.Hour); err != nil || ls[0] != nil || ls[1] != nil {
			t.Fatalf("MallocBatch on an empty pool: %v %v", ls, err)
		}
		check("mallocs on an empty pool", 0)
		// A waiter registers (nothing granted), then is woken and granted.
		got := make(chan error, 1)
		go func() {
			a, err := tb.p.Malloc(tb.ctx, pool.Wait())
			if err == nil {
				err = a.Release(tb.ctx)
			}
			got <- err
		}()
		for deadline := time.Now().Add(10 * time.Second); tb.healthy(t).Waiters != 1; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the waiter never registered")
			}
		}
		check("a waiter registered", 0)
		if err := held[0].Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		check("a waiter woken", 1)
		// Shared leases count too (the members stay free).
		shared, err := pool.New[proxy](b.Client, b.Prefix, "proxies", pool.WithShared())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shared.Malloc(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := shared.MallocN(tb.ctx, 1); err != nil {
			t.Fatal(err)
		}
		check("shared Malloc and MallocN(1)", 2)
		if err := held[1].Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := shared.MallocN(tb.ctx, 2); err != nil {
			t.Fatal(err)
		}
		check("shared MallocN(2)", 2)
		// Clear keeps the count rising, as it keeps the fence.
		if _, err := tb.p.Admin().Clear(tb.ctx); err != nil {
			t.Fatal(err)
		}
		check("Clear", 0)
		tb.extend(t, "z")
		tb.malloc(t)
		check("Malloc after Clear", 1)
	})
}
