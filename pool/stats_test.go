package pool_test

import (
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
			Time: st.Time, Fence: second.Fence(), Counts: pool.Counts{Free: len(keys), Held: 2},
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
