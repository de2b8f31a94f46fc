package pool_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func TestExportImportRecords(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		s := setup(t, b)
		since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		if _, err := s.p.Add(s.ctx, map[string]proxy{"a": {Addr: "a:1", Since: since}}, pool.Priority(5)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.p.Add(s.ctx, map[string]proxy{"b": {Addr: "b:1"}}, pool.MemberTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.p.AddKeys(s.ctx, []string{"c"}); err != nil {
			t.Fatal(err)
		}
		held, err := s.p.MallocMember(s.ctx, "c", pool.LeaseTTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.p.Admin().Export(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[0].Key != "a" || recs[0].Priority != 5 || !recs[0].HasValue ||
			recs[1].Key != "b" || recs[1].Expiry.IsZero() || recs[1].TTL <= 0 || recs[1].TTL > time.Hour ||
			recs[2].Key != "c" || recs[2].HasValue || !recs[2].Expiry.IsZero() {
			t.Fatalf("records: %+v", recs)
		}

		dst, err := pool.New[proxy](b.Client, b.Prefix, "copy")
		if err != nil {
			t.Fatal(err)
		}
		added, err := dst.Admin().Import(s.ctx, recs)
		if err != nil || added != 3 {
			t.Fatalf("import: %d, %v", added, err)
		}
		got, err := dst.Admin().Export(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		opt := cmpopts.IgnoreFields(pool.Record{}, "TTL", "Expiry")
		if d := cmp.Diff(recs, got, opt); d != "" {
			t.Errorf("copy differs (-src +dst):\n%s", d)
		}
		if v, err := dst.Get(s.ctx, "a"); err != nil || !v.Since.Equal(since) || v.Addr != "a:1" {
			t.Errorf("value of a: %+v, %v", v, err)
		}

		// Importing over the source keeps c held by its holder.
		if _, err := s.p.Admin().Import(s.ctx, []pool.Record{{Key: "c", Priority: 1}}); err != nil {
			t.Fatal(err)
		}
		if st, err := s.p.Admin().State(s.ctx, "c"); err != nil || st != pool.StateHeld {
			t.Errorf("c: %v, %v", st, err)
		}
		if err := held.Release(s.ctx); err != nil {
			t.Errorf("holder's Free after import: %v", err)
		}

		// Members past their expiry, free or held, are not exported: the
		// export of an idle pool can always be imported again.
		if _, err := s.p.AddKeys(s.ctx, []string{"gone-free", "gone-held"}, pool.MemberTTL(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.p.MallocMember(s.ctx, "gone-held", pool.LeaseTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		recs, err = s.p.Admin().Export(s.ctx) // due timers not handled yet
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if strings.HasPrefix(r.Key, "gone-") {
				t.Errorf("exported %+v past its expiry", r)
			}
		}
		// A malloc handles the timers: the held one is flagged instead.
		other := s.malloc(t)
		if err := other.Release(s.ctx); err != nil {
			t.Fatal(err)
		}
		recs, err = s.p.Admin().Export(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if strings.HasPrefix(r.Key, "gone-") || (!r.Expiry.IsZero() && r.TTL <= 0) {
				t.Errorf("exported %+v past its expiry", r)
			}
		}
		if _, err := s.p.Admin().Import(s.ctx, recs); err != nil {
			t.Errorf("re-import of the export: %v", err)
		}
	})
}

func TestImportRecordsRejectsWhole(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	s := setup(t, b)
	for name, tc := range map[string]struct {
		rec  pool.Record
		want error
	}{
		"EmptyKey":    {pool.Record{Key: ""}, pool.ErrInvalid},
		"Priority":    {pool.Record{Key: "x", Priority: pool.MaxPriority + 1}, pool.ErrInvalid},
		"NegativeTTL": {pool.Record{Key: "x", TTL: -time.Second}, pool.ErrInvalid},
		"TinyTTL":     {pool.Record{Key: "x", TTL: time.Microsecond}, pool.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.p.Admin().Import(s.ctx, []pool.Record{{Key: "ok"}, tc.rec})
			if !errors.Is(err, tc.want) || !errors.Is(err, pool.ErrInvalid) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if n, err := s.p.Len(s.ctx); err != nil || n != 0 {
				t.Errorf("a rejected import left %d members (%v)", n, err)
			}
		})
	}
	if _, err := s.p.Admin().Import(s.ctx, make([]pool.Record, pool.MaxBatch+1)); !errors.Is(err, pool.ErrInvalid) {
		t.Errorf("too many: %v", err)
	}
}

// TestFreeFenced: an administrator's free of the leases it saw frees each
// member only while its lease keeps the fence seen, so a member freed and
// taken again meanwhile stays with its new holder.
func TestFreeFenced(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.extend(t, "a")
		seen := tb.malloc(t, pool.LeaseTTL(pool.Permanent))
		if err := seen.Release(tb.ctx); err != nil {
			t.Fatal(err)
		}
		again := tb.malloc(t, pool.LeaseTTL(pool.Permanent)) // the same member, a new lease
		if again.Key != seen.Key || again.Fence() == seen.Fence() {
			t.Fatalf("leases %s/%d and %s/%d", seen.Key, seen.Fence(), again.Key, again.Fence())
		}
		if n, err := tb.p.Admin().ForceRelease(tb.ctx, map[string]int64{seen.Key: seen.Fence()}); err != nil || n != 0 {
			t.Fatalf("FreeFenced of the old fence = %d, %v", n, err)
		}
		if st := tb.state(t, seen.Key); st != pool.StateHeld {
			t.Fatalf("the new holder's member is %s", st)
		}
		n, err := tb.p.Admin().ForceRelease(tb.ctx, map[string]int64{again.Key: again.Fence(), "zz": 3})
		if n != 1 || !errors.Is(err, pool.ErrNotMember) || tb.state(t, again.Key) != pool.StateFree {
			t.Fatalf("FreeFenced of the current fence = %d, %v", n, err)
		}
		if _, err := tb.p.Admin().ForceRelease(tb.ctx, map[string]int64{"a": -1}); !errors.Is(err, pool.ErrInvalid) {
			t.Fatalf("fence 0: %v", err)
		}
		tb.healthy(t)
	})
}
