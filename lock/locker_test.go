package lock_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// testBundle is what most tests need: a backend and a Locker on it.
type testBundle struct {
	b   *redisxtest.Backend
	l   *lock.Locker
	ctx context.Context
}

// setup returns a Locker over the backend's client, with the backend's
// unique prefix. On miniredis, TTLs follow the wall clock, as on Redis.
func setup(t *testing.T, b *redisxtest.Backend, opts ...lock.Option) *testBundle {
	t.Helper()
	if b.Mini != nil {
		b.Mini.ClockTTL(true)
	}
	l, err := lock.New(b.Client, b.Prefix, opts...)
	if err != nil {
		t.Fatalf("lock.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &testBundle{b: b, l: l, ctx: ctx}
}

// lockKey and holdsKey are the documented key layout of a Locker's lock.
func lockKey(b *redisxtest.Backend, name string) string {
	return b.Prefix + ":{lock:" + name + "}:lock"
}

func holdsKey(b *redisxtest.Backend, name string) string {
	return b.Prefix + ":{lock:" + name + "}:holds"
}

// get reads a key with a plain GET; "" with false when it is absent.
func get(t *testing.T, c rueidis.Client, key string) (string, bool) {
	t.Helper()
	v, err := c.Do(context.Background(), c.B().Get().Key(key).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v, true
}

// pttl reads a key's remaining TTL in milliseconds (-1 none, -2 absent).
func pttl(t *testing.T, c rueidis.Client, key string) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), c.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return n
}

func set(t *testing.T, c rueidis.Client, key, value string) {
	t.Helper()
	if err := c.Do(context.Background(), c.B().Set().Key(key).Value(value).Build()).Error(); err != nil {
		t.Fatalf("SET %s: %v", key, err)
	}
}

// must pairs a result with its error; .get(t) fails the test on the error:
//
//	ok := must(l.Lock(ctx, "k", "o", time.Minute)).get(t)
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) get(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func TestLockTakesOnlyFreeLocks(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		if ok := must(l.Lock(ctx, "job", "alice", time.Minute)).get(t); !ok {
			t.Fatal("Lock on a free key = false")
		}
		if ok := must(l.Lock(ctx, "job", "bob", time.Minute)).get(t); ok {
			t.Fatal("Lock by another owner = true")
		}
		// Parity: lock never refreshes, even for the same owner.
		if err := l.Update(ctx, "job", "alice", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if ok := must(l.Lock(ctx, "job", "alice", time.Hour)).get(t); ok {
			t.Fatal("Lock by the holder = true; the reference never re-enters with lock()")
		}
		if ms := pttl(t, b.Client, lockKey(b, "job")); ms > 30_000 || ms < 25_000 {
			t.Fatalf("PTTL after a refused Lock = %d ms; want the 30 s Update left", ms)
		}
		if v, _ := get(t, b.Client, lockKey(b, "job")); v != "alice" {
			t.Fatalf("stored owner %q, want alice", v)
		}
		if v := must(value(ctx, l, "job")).get(t); v != "alice" {
			t.Fatalf("Value = %q", v)
		}
		if !must(isLocked(ctx, l, "job")).get(t) {
			t.Fatal("IsLocked = false")
		}
		if n := must(l.Unlock(ctx, "job", "alice")).get(t); n != 0 {
			t.Fatalf("Unlock = %d holds left, want 0", n)
		}
		if must(isLocked(ctx, l, "job")).get(t) {
			t.Fatal("IsLocked after Unlock = true")
		}
		if in, err := l.Info(ctx, "job"); err != nil || in != (lock.Info{}) {
			t.Fatalf("Info of a free lock = %+v, %v; want the zero Info", in, err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("keys left after Unlock: %v", keys)
		}
	})
}

func TestTTLMillisecondsAndPermanence(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		// Rounded up to whole milliseconds, never down.
		must(l.Lock(ctx, "round", "o", 1500*time.Millisecond+1)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "round")); ms > 1501 || ms < 1400 {
			t.Fatalf("PTTL = %d ms, want 1501 or a little less", ms)
		}
		// A sub-millisecond TTL is one millisecond, not permanent (the
		// reference's truncation made 0.5 s permanent).
		must(l.Lock(ctx, "tiny", "o", 100*time.Microsecond)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "tiny")); ms == -1 || ms > 1 {
			t.Fatalf("PTTL of a 100µs lock = %d ms, want <= 1 (or gone)", ms)
		}
		// Permanence has to be named.
		must(l.Lock(ctx, "forever", "o", lock.Permanent)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "forever")); ms != -1 {
			t.Fatalf("PTTL of a permanent lock = %d, want -1", ms)
		}
		if ttl := must(ttlOf(ctx, l, "forever")).get(t); ttl != lock.Permanent {
			t.Fatalf("TTL = %v, want Permanent", ttl)
		}
		// Near-maximal TTLs must not overflow on the way to Redis.
		// The longest TTL is the documented 100 years (365-day years).
		const maxTTL = 100 * 365 * 24 * time.Hour
		for _, bad := range []time.Duration{0, -time.Second, -1, lock.KeepTTL, lock.Permanent - 2, maxTTL + 1} {
			if _, err := l.Lock(ctx, "zero", "o", bad); !errors.Is(err, lock.ErrInvalid) || !strings.Contains(err.Error(), "ttl") {
				t.Errorf("Lock with ttl %v: %v, want ErrInvalid naming the ttl", bad, err)
			}
		}
		must(l.Lock(ctx, "longest", "o", maxTTL)).get(t)
		if ttl := must(ttlOf(ctx, l, "longest")).get(t); ttl < maxTTL-time.Minute || ttl > maxTTL {
			t.Fatalf("TTL of a 100-year lock = %v", ttl)
		}
		if _, err := l.Mutex("m", lock.WithTTL(maxTTL)); err != nil {
			t.Errorf("Mutex WithTTL(100 years): %v", err)
		}
		// The shortest lease is the documented 10ms.
		if _, err := l.Mutex("m", lock.WithTTL(10*time.Millisecond)); err != nil {
			t.Errorf("Mutex WithTTL(10ms): %v", err)
		}
		for _, bad := range []time.Duration{10*time.Millisecond - 1, lock.Permanent - 2, maxTTL + 1} {
			if _, err := l.Mutex("m", lock.WithTTL(bad)); !errors.Is(err, lock.ErrInvalid) {
				t.Errorf("Mutex WithTTL(%v): %v, want ErrInvalid", bad, err)
			}
		}
		if ok := must(isLocked(ctx, l, "zero")).get(t); ok {
			t.Fatal("a refused TTL wrote a lock")
		}
	})
}

func TestRLockCountsHolds(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		for want := 1; want <= 3; want++ {
			if n := must(l.RLock(ctx, "r", "alice", time.Minute)).get(t); n != want {
				t.Fatalf("RLock #%d = %d holds", want, n)
			}
		}
		if v, ok := get(t, b.Client, holdsKey(b, "r")); !ok || v != "3" {
			t.Fatalf("hold count key = %q, %v; want 3", v, ok)
		}
		if in := must(l.Info(ctx, "r")).get(t); in.Holds != 3 || in.Owner != "alice" {
			t.Fatalf("Info = %+v, want 3 holds by alice", in)
		}
		if n := must(l.RLock(ctx, "r", "bob", time.Minute)).get(t); n != 0 {
			t.Fatalf("RLock by another owner = %d, want 0", n)
		}
		if _, err := l.Unlock(ctx, "r", "bob"); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Unlock by another owner: %v, want ErrNotHeld", err)
		}
		// Re-entering sets the TTL of both keys.
		must(l.RLock(ctx, "r", "alice", time.Hour)).get(t)
		for _, k := range []string{lockKey(b, "r"), holdsKey(b, "r")} {
			if ms := pttl(t, b.Client, k); ms < 3_500_000 {
				t.Fatalf("PTTL %s = %d after re-entry with 1h", k, ms)
			}
		}
		for want := 3; want >= 1; want-- {
			if n := must(l.Unlock(ctx, "r", "alice")).get(t); n != want {
				t.Fatalf("Unlock = %d holds left, want %d", n, want)
			}
			if !must(isLocked(ctx, l, "r")).get(t) {
				t.Fatalf("lock gone with %d holds left", want)
			}
		}
		// The count key goes once one hold is left; the lock keeps its TTL.
		if _, ok := get(t, b.Client, holdsKey(b, "r")); ok {
			t.Fatal("hold count key left at one hold")
		}
		if ms := pttl(t, b.Client, lockKey(b, "r")); ms < 3_500_000 {
			t.Fatalf("PTTL after unlocks = %d", ms)
		}
		if n := must(l.Unlock(ctx, "r", "alice")).get(t); n != 0 {
			t.Fatalf("last Unlock = %d", n)
		}
		if _, err := l.Unlock(ctx, "r", "alice"); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Unlock of a free lock: %v, want ErrNotHeld", err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("keys left: %v", keys)
		}
		// A permanent re-entry removes the TTL of both keys.
		must(l.RLock(ctx, "p", "alice", time.Minute)).get(t)
		must(l.RLock(ctx, "p", "alice", lock.Permanent)).get(t)
		if a, b := pttl(t, b.Client, lockKey(b, "p")), pttl(t, b.Client, holdsKey(b, "p")); a != -1 || b != -1 {
			t.Fatalf("PTTL after a permanent re-entry: lock %d, holds %d; want -1, -1", a, b)
		}
	})
}

func TestRLockStartsFreshAfterForeignWrites(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		must(l.RLock(ctx, "r", "alice", time.Minute)).get(t)
		must(l.RLock(ctx, "r", "alice", time.Minute)).get(t)
		// ForceSet hands the lock to bob and drops alice's holds.
		if err := l.ForceSet(ctx, "r", "bob", time.Minute); err != nil {
			t.Fatal(err)
		}
		if in := must(l.Info(ctx, "r")).get(t); in.Owner != "bob" || in.Holds != 1 {
			t.Fatalf("after ForceSet: %+v, want bob with 1 hold", in)
		}
		if n := must(l.Unlock(ctx, "r", "bob")).get(t); n != 0 {
			t.Fatalf("one Unlock after ForceSet left %d holds", n)
		}
		// A stale count never leaks into a new lock.
		set(t, b.Client, holdsKey(b, "r"), "7")
		if ok := must(l.Lock(ctx, "r", "carol", time.Minute)).get(t); !ok {
			t.Fatal("Lock = false")
		}
		if in := must(l.Info(ctx, "r")).get(t); in.Holds != 1 {
			t.Fatalf("holds = %d after Lock over a stale count", in.Holds)
		}
	})
}

func TestUpdateIsOwnerChecked(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		if err := l.Update(ctx, "u", "alice", time.Minute); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Update of a free lock: %v, want ErrNotHeld", err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("Update of a free lock wrote %v", keys)
		}
		must(l.Lock(ctx, "u", "alice", time.Minute)).get(t)
		if err := l.Update(ctx, "u", "bob", time.Hour); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Update by another owner: %v, want ErrNotHeld", err)
		}
		if ms := pttl(t, b.Client, lockKey(b, "u")); ms > 60_000 {
			t.Fatalf("a refused Update changed the TTL to %d ms", ms)
		}
		if err := l.Update(ctx, "u", "alice", time.Hour); err != nil {
			t.Fatal(err)
		}
		if ms := pttl(t, b.Client, lockKey(b, "u")); ms < 3_500_000 {
			t.Fatalf("PTTL after Update = %d", ms)
		}
		if err := l.Update(ctx, "u", "alice", lock.Permanent); err != nil {
			t.Fatal(err)
		}
		if ttl := must(ttlOf(ctx, l, "u")).get(t); ttl != lock.Permanent {
			t.Fatalf("TTL after a permanent Update = %v", ttl)
		}
	})
}

func TestForceSetAndForceUnlock(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		must(l.Lock(ctx, "f", "alice", time.Minute)).get(t)
		if err := l.ForceSet(ctx, "f", "admin", lock.Permanent); err != nil {
			t.Fatal(err)
		}
		if v, _ := get(t, b.Client, lockKey(b, "f")); v != "admin" {
			t.Fatalf("value after ForceSet = %q", v)
		}
		if ms := pttl(t, b.Client, lockKey(b, "f")); ms != -1 {
			t.Fatalf("PTTL after a permanent ForceSet = %d", ms)
		}
		if !must(l.ForceUnlock(ctx, "f")).get(t) {
			t.Fatal("ForceUnlock of a lock = false")
		}
		if must(l.ForceUnlock(ctx, "f")).get(t) {
			t.Fatal("ForceUnlock of a free lock = true")
		}
		must(l.RLock(ctx, "f", "alice", time.Minute)).get(t)
		must(l.RLock(ctx, "f", "alice", time.Minute)).get(t)
		must(l.ForceUnlock(ctx, "f")).get(t)
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("ForceUnlock left %v", keys)
		}
	})
}

func TestStatusStates(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		normal := 2 * time.Minute
		must(l.Lock(ctx, "locked", "o", normal)).get(t)
		must(l.Lock(ctx, "short", "o", time.Second)).get(t)
		must(l.Lock(ctx, "unavailable", "o", time.Hour)).get(t)
		must(l.Lock(ctx, "error", "o", lock.Permanent)).get(t)
		// The reference's key_status, read off Info (see its doc).
		status := func(in lock.Info, timeout time.Duration) string {
			switch {
			case in.Holds == 0:
				return "FREE"
			case in.TTL == lock.Permanent:
				return "ERROR"
			case in.TTL > timeout:
				return "UNAVAILABLE"
			}
			return "LOCKED"
		}
		for key, want := range map[string]string{
			"free": "FREE", "locked": "LOCKED", "short": "LOCKED", "unavailable": "UNAVAILABLE", "error": "ERROR",
		} {
			if got := status(must(l.Info(ctx, key)).get(t), normal); got != want {
				t.Errorf("status of %s = %v, want %v", key, got, want)
			}
		}
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		long := strings.Repeat("x", 1025)
		calls := map[string]struct {
			call  func() error
			want  error
			names string // a word of the message: the argument
		}{
			"LockEmptyKey":       {func() error { _, err := l.Lock(ctx, "", "o", time.Minute); return err }, lock.ErrInvalid, "name"},
			"LockBraceKey":       {func() error { _, err := l.Lock(ctx, "a{b}", "o", time.Minute); return err }, lock.ErrInvalid, "name"},
			"LockControlKey":     {func() error { _, err := l.Lock(ctx, "a\x00b", "o", time.Minute); return err }, lock.ErrInvalid, "name"},
			"LockEmptyOwner":     {func() error { _, err := l.Lock(ctx, "k", "", time.Minute); return err }, lock.ErrInvalid, "owner"},
			"LockLongOwner":      {func() error { _, err := l.Lock(ctx, "k", long, time.Minute); return err }, lock.ErrInvalid, "owner"},
			"LockZeroTTL":        {func() error { _, err := l.Lock(ctx, "k", "o", 0); return err }, lock.ErrInvalid, "ttl"},
			"RLockNegativeTTL":   {func() error { _, err := l.RLock(ctx, "k", "o", -time.Second); return err }, lock.ErrInvalid, "ttl"},
			"RLockEmptyOwner":    {func() error { _, err := l.RLock(ctx, "k", "", time.Minute); return err }, lock.ErrInvalid, "owner"},
			"UpdateZeroTTL":      {func() error { return l.Update(ctx, "k", "o", 0) }, lock.ErrInvalid, "ttl"},
			"UpdateEmptyKey":     {func() error { return l.Update(ctx, "", "o", time.Minute) }, lock.ErrInvalid, "name"},
			"ForceSetEmptyValue": {func() error { return l.ForceSet(ctx, "k", "", time.Minute) }, lock.ErrInvalid, "value"},
			"ForceSetZeroTTL":    {func() error { return l.ForceSet(ctx, "k", "v", 0) }, lock.ErrInvalid, "ttl"},
			"UnlockEmptyOwner":   {func() error { _, err := l.Unlock(ctx, "k", ""); return err }, lock.ErrInvalid, "owner"},
			"UnlockNotOurs":      {func() error { _, err := l.Unlock(ctx, "k", "o"); return err }, lock.ErrNotHeld, ""},
			"ForceUnlockEmpty":   {func() error { _, err := l.ForceUnlock(ctx, ""); return err }, lock.ErrInvalid, "name"},
			"InfoLongKey":        {func() error { _, err := l.Info(ctx, long); return err }, lock.ErrInvalid, "name"},
			"InfoEmptyKey":       {func() error { _, err := l.Info(ctx, ""); return err }, lock.ErrInvalid, "name"},
			"CompareNaN": {func() error {
				_, err := l.CompareAndSet(ctx, "k", lock.OpGT, math.NaN(), 1, time.Minute)
				return err
			}, lock.ErrInvalid, "operand"},
			"CompareInfValue": {func() error {
				_, err := l.CompareAndSet(ctx, "k", lock.OpGT, 1, math.Inf(1), time.Minute)
				return err
			}, lock.ErrInvalid, "value"},
			"CompareBadOp": {func() error {
				_, err := l.CompareAndSet(ctx, "k", lock.Op(42), 1, 1, time.Minute)
				return err
			}, lock.ErrInvalid, "op"},
			"CompareZeroTTL": {func() error {
				_, err := l.CompareAndSet(ctx, "k", lock.OpGT, 1, 1, 0)
				return err
			}, lock.ErrInvalid, "ttl"},
			"DeleteBadOp": {func() error {
				_, err := l.CompareAndDelete(ctx, "k", 0, 1)
				return err
			}, lock.ErrInvalid, "op"},
			"MutexEmptyKey": {func() error { _, err := l.Mutex(""); return err }, lock.ErrInvalid, "name"},
			"MutexShortTTL": {func() error { _, err := l.Mutex("k", lock.WithTTL(time.Millisecond)); return err }, lock.ErrInvalid, "WithTTL"},
		}
		for name, c := range calls {
			if err := c.call(); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.names) {
				t.Errorf("%s: %v, want %v naming %q", name, err, c.want, c.names)
			}
		}
		// Key errors also match the module-wide name error.
		if _, err := l.Lock(ctx, "", "o", time.Minute); !errors.Is(err, redisx.ErrInvalidName) {
			t.Errorf("empty key: %v does not match redisx.ErrInvalidName", err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Fatalf("bad input wrote %v", keys)
		}
	})
}

func TestNewRejectsBadArguments(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tests := map[string]struct {
		call  func() error
		want  error
		names string // a word of the message: the argument
	}{
		"NilClient":      {func() error { _, err := lock.New(nil, "p"); return err }, lock.ErrInvalid, "client"},
		"EmptyPrefix":    {func() error { _, err := lock.New(b.Client, ""); return err }, lock.ErrInvalid, "prefix"},
		"BracePrefix":    {func() error { _, err := lock.New(b.Client, "{p}"); return err }, lock.ErrInvalid, "prefix"},
		"NilOption":      {func() error { _, err := lock.New(b.Client, "p", nil); return err }, lock.ErrInvalid, "nil option"},
		"NegativeTTL":    {func() error { _, err := lock.New(b.Client, "p", lock.WithTTL(-1)); return err }, lock.ErrInvalid, "WithTTL"},
		"PermanentLease": {func() error { _, err := lock.New(b.Client, "p", lock.WithTTL(lock.Permanent)); return err }, lock.ErrInvalid, "WithTTL"},
		"PollMinAboveMax": {func() error {
			_, err := lock.New(b.Client, "p", lock.WithPollInterval(time.Second, time.Millisecond))
			return err
		}, lock.ErrInvalid, "WithPollInterval"},
		"NegativeQuorumTO": {func() error { _, err := lock.New(b.Client, "p", lock.WithQuorumTimeout(-1)); return err }, lock.ErrInvalid, "WithQuorumTimeout"},
		"PoolNilClient":    {func() error { _, err := lock.NewPool(nil, "p", "n"); return err }, lock.ErrInvalid, "client"},
		"PoolEmptyName":    {func() error { _, err := lock.NewPool(b.Client, "p", ""); return err }, lock.ErrInvalid, "name"},
		"QuorumNone":       {func() error { _, err := lock.NewQuorum(nil, "p"); return err }, lock.ErrInvalid, "clients"},
		"QuorumNilClient":  {func() error { _, err := lock.NewQuorum([]rueidis.Client{b.Client, nil}, "p"); return err }, lock.ErrInvalid, "client"},
		"QuorumTwice":      {func() error { _, err := lock.NewQuorum([]rueidis.Client{b.Client, b.Client}, "p"); return err }, lock.ErrInvalid, "clients"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := tc.call(); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("%v, want %v naming %q", err, tc.want, tc.names)
			}
		})
	}
	if keys := b.Keys(t); len(keys) != 0 {
		t.Fatalf("constructors wrote %v", keys)
	}
}

func TestNamesSpreadOverSlots(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	tb := setup(t, b)
	// Different locks land in different slots; one lock's keys share one.
	slots := map[uint16]bool{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		must(tb.l.RLock(tb.ctx, name, "o", time.Minute)).get(t)
		must(tb.l.RLock(tb.ctx, name, "o", time.Minute)).get(t)
		if redisx.KeySlot(lockKey(b, name)) != redisx.KeySlot(holdsKey(b, name)) {
			t.Fatalf("keys of lock %s in two slots", name)
		}
		slots[redisx.KeySlot(lockKey(b, name))] = true
	}
	if len(slots) < 2 {
		t.Fatalf("six locks share %d slot(s)", len(slots))
	}
	keys := b.Keys(t)
	slices.Sort(keys)
	if len(keys) != 12 {
		t.Fatalf("keys = %v, want lock and holds of six locks", keys)
	}
}

// isLocked, value and ttlOf read one field of [lock.Locker.Info].
func isLocked(ctx context.Context, l *lock.Locker, key string) (bool, error) {
	in, err := l.Info(ctx, key)
	return in.Holds > 0, err
}

func value(ctx context.Context, l *lock.Locker, key string) (string, error) {
	in, err := l.Info(ctx, key)
	return in.Owner, err
}

func ttlOf(ctx context.Context, l *lock.Locker, key string) (time.Duration, error) {
	in, err := l.Info(ctx, key)
	return in.TTL, err
}
