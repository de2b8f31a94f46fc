package pool_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestFenceSurvivesLostWrites: a server that lost the fencing counter's
// last writes (an AOF tail lost in a crash, a failover to a lagging
// replica) must still number the next lease above every fence it handed
// out before, on the single and the batched malloc path and for a scaler's
// claim. Issue 13, point 8: after such a loss fences went out twice and a
// fenced resource took writes from two holders of one member.
func TestFenceSurvivesLostWrites(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a", "b", "c")
		var fences []int64
		for range 3 {
			a := tb.malloc(t, pool.LeaseTTL(time.Minute))
			fences = append(fences, a.Fence())
			if err := a.Release(tb.ctx); err != nil {
				t.Fatal(err)
			}
		}
		last := fences[2]
		lose := func() {
			t.Helper()
			// The counter comes back as it was after the first lease.
			if err := b.Client.Do(tb.ctx, b.Client.B().Set().Key(tb.p.FenceKey()).Value(strconv.FormatInt(fences[0], 10)).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		lose()
		a := tb.malloc(t, pool.LeaseTTL(time.Minute))
		if a.Fence() <= last {
			t.Fatalf("fence %d after a lost write, but %v went out before", a.Fence(), fences)
		}
		if err := a.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		last = a.Fence()

		lose()
		ls, err := tb.p.MallocBatch(tb.ctx, 2, time.Minute)
		if err != nil || len(ls) != 2 || ls[0] == nil || ls[1] == nil {
			t.Fatalf("MallocBatch = %v, %v", ls, err)
		}
		if ls[0].Fence() <= last || ls[1].Fence() <= ls[0].Fence() {
			t.Fatalf("batched fences %d, %d after a lost write, but %d went out before", ls[0].Fence(), ls[1].Fence(), last)
		}
		if s := tb.healthy(t); s.Fence != ls[1].Fence() {
			t.Fatalf("snapshot fence %d, last handed out %d", s.Fence, ls[1].Fence())
		}
	})
}
