package lock_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

func TestCompareAndSetSemantics(t *testing.T) {
	t.Parallel()
	// The caller's number is the left operand, the stored one the right;
	// epsilon 1e-6 (the default).
	tests := map[string]struct {
		op      lock.Op
		stored  string
		operand float64
		want    bool
	}{
		"GTAbove":        {lock.OpGT, "4", 5, true},
		"GTEqual":        {lock.OpGT, "4", 4, false},
		"GTBelow":        {lock.OpGT, "4", 3, false},
		"LTBelow":        {lock.OpLT, "4", 3, true},
		"LTEqual":        {lock.OpLT, "4", 4, false},
		"GEEqual":        {lock.OpGE, "4", 4, true},
		"GEWithinEps":    {lock.OpGE, "4", 4 - 5e-7, true},
		"GEBelow":        {lock.OpGE, "4", 3.99, false},
		"LEEqual":        {lock.OpLE, "4", 4, true},
		"LEWithinEps":    {lock.OpLE, "4", 4 + 5e-7, true},
		"LEAbove":        {lock.OpLE, "4", 4.01, false},
		"EQWithinEps":    {lock.OpEQ, "4", 4 + 5e-7, true},
		"EQApart":        {lock.OpEQ, "4", 4.1, false},
		"NEApart":        {lock.OpNE, "4", 4.1, true},
		"NEWithinEps":    {lock.OpNE, "4", 4 + 5e-7, false},
		"Fraction":       {lock.OpGT, "0.25", 0.5, true},
		"Negative":       {lock.OpLT, "-2.5", -3, true},
		"Exponent":       {lock.OpGT, "1e+21", 2e21, true},
		"LeadingDot":     {lock.OpEQ, ".5", 0.5, true},
		"TrailingDot":    {lock.OpEQ, "5.", 5, true},
		"PlusSign":       {lock.OpEQ, "+7", 7, true},
		"LowerExponent":  {lock.OpEQ, "1e5", 100000, true},
		"NegativeExpon":  {lock.OpEQ, "25e-1", 2.5, true},
		"IntegerLarge":   {lock.OpGT, "9007199254740992", 9007199254740994, true},
		"GTFalseOnEqual": {lock.OpGT, "1700000000", 1700000000, false},
		"LeadingZero":    {lock.OpEQ, "010", 10, true},
		"DotExponent":    {lock.OpEQ, "5.e3", 5000, true},
		"HugeInteger":    {lock.OpEQ, "99999999999999999999", 1e20, true},
		"Underflow":      {lock.OpEQ, "1e-400", 0, true},
		"ShortestThird":  {lock.OpGE, "0.3333333333333333", 1.0 / 3, true},
		"ExactThird":     {lock.OpGT, "0.3333333333333333", 1.0 / 3, false},
	}
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		for name, tc := range tests {
			key := "cmp-" + name
			set(t, b.Client, lockKey(b, key), tc.stored)
			got, err := l.CompareAndSet(ctx, key, tc.op, tc.operand, 99, time.Minute)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got != tc.want {
				t.Errorf("%s: %v %s stored %s = %v, want %v", name, tc.operand, tc.op, tc.stored, got, tc.want)
			}
			v, _ := get(t, b.Client, lockKey(b, key))
			if tc.want && v != "99" || !tc.want && v != tc.stored {
				t.Errorf("%s: stored value %q after the call", name, v)
			}
			// The delete family agrees with the set family.
			set(t, b.Client, lockKey(b, key), tc.stored)
			deleted, err := l.CompareAndDelete(ctx, key, tc.op, tc.operand)
			if err != nil || deleted != tc.want {
				t.Errorf("%s: CompareAndDelete = %v, %v; want %v", name, deleted, err, tc.want)
			}
			if _, exists := get(t, b.Client, lockKey(b, key)); exists == tc.want {
				t.Errorf("%s: key exists=%v after CompareAndDelete=%v", name, exists, deleted)
			}
		}
	})
}

func TestCompareEpsilonBoundary(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		// Within the reference's epsilon (1e-6) numbers are equal.
		for op, want := range map[lock.Op]bool{lock.OpEQ: true, lock.OpNE: false, lock.OpGE: true, lock.OpLE: true} {
			set(t, b.Client, lockKey(b, "e"), "1")
			if ok := must(l.CompareAndSet(ctx, "e", op, 1-5e-7, 7, time.Minute)).get(t); ok != want {
				t.Errorf("%s half an epsilon below: %v, want %v", op, ok, want)
			}
		}
		// Beyond it they are not.
		set(t, b.Client, lockKey(b, "e"), "1")
		if ok := must(l.CompareAndSet(ctx, "e", lock.OpEQ, 1-2e-6, 7, time.Minute)).get(t); ok {
			t.Error("eq two epsilons apart passed")
		}
	})
}

func TestCompareAbsentAndNonNumeric(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		// Absent passes, for every operator.
		for _, op := range []lock.Op{lock.OpGT, lock.OpLT, lock.OpGE, lock.OpLE, lock.OpEQ, lock.OpNE} {
			key := "absent-" + op.String()
			if ok := must(l.CompareAndSet(ctx, key, op, 3, 3, time.Minute)).get(t); !ok {
				t.Errorf("%s on an absent key = false", op)
			}
			if ok := must(l.CompareAndDelete(ctx, "never-"+op.String(), op, 3)).get(t); !ok {
				t.Errorf("delete %s on an absent key = false", op)
			}
		}
		// Not numbers: an error, and the value stays (the reference
		// overwrote it, replacing a lock owner with a number).
		for _, stored := range []string{"alice", "", " 5", "5 ", "0x10", "inf", "nan", "1e400", "1,5", "--1", "1e", "."} {
			set(t, b.Client, lockKey(b, "nn"), stored)
			if _, err := l.CompareAndSet(ctx, "nn", lock.OpGT, 1, 1, time.Minute); !errors.Is(err, lock.ErrNotNumber) {
				t.Errorf("set over %q: %v, want ErrNotNumber", stored, err)
			}
			if _, err := l.CompareAndDelete(ctx, "nn", lock.OpGT, 1); !errors.Is(err, lock.ErrNotNumber) {
				t.Errorf("delete over %q: %v, want ErrNotNumber", stored, err)
			}
			if v, _ := get(t, b.Client, lockKey(b, "nn")); v != stored {
				t.Errorf("value %q became %q", stored, v)
			}
		}
	})
}

func TestCompareAndSetStorageAndTTL(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		// Shortest exact decimal, integral values without a fraction.
		for value, want := range map[float64]string{15: "15", 0.1: "0.1", -2.5: "-2.5", 1e21: "1e+21", 1.0 / 3: "0.3333333333333333"} {
			must(l.CompareAndSet(ctx, "fmt", lock.OpGT, 1e300, value, time.Minute)).get(t)
			if v, _ := get(t, b.Client, lockKey(b, "fmt")); v != want {
				t.Errorf("stored %v as %q, want %q", value, v, want)
			}
		}
		// A positive TTL is set.
		must(l.CompareAndSet(ctx, "ttl", lock.OpGT, 1, 1, time.Hour)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "ttl")); ms < 3_500_000 {
			t.Fatalf("PTTL = %d after a 1h set", ms)
		}
		// KeepTTL keeps it.
		must(l.CompareAndSet(ctx, "ttl", lock.OpGT, 2, 2, lock.KeepTTL)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "ttl")); ms < 3_500_000 {
			t.Fatalf("PTTL = %d after KeepTTL", ms)
		}
		if v, _ := get(t, b.Client, lockKey(b, "ttl")); v != "2" {
			t.Fatalf("value %q after KeepTTL set", v)
		}
		// Permanent removes it, as the reference's ex=None did.
		must(l.CompareAndSet(ctx, "ttl", lock.OpGT, 3, 3, lock.Permanent)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "ttl")); ms != -1 {
			t.Fatalf("PTTL = %d after a Permanent set", ms)
		}
		// KeepTTL on an absent key stores without expiry.
		must(l.CompareAndSet(ctx, "fresh", lock.OpGT, 1, 1, lock.KeepTTL)).get(t)
		if ms := pttl(t, b.Client, lockKey(b, "fresh")); ms != -1 {
			t.Fatalf("PTTL = %d after KeepTTL on an absent key", ms)
		}
		// A failed comparison changes neither value nor TTL.
		must(l.CompareAndSet(ctx, "keep", lock.OpGT, 10, 10, time.Minute)).get(t)
		if ok := must(l.CompareAndSet(ctx, "keep", lock.OpGT, 5, 5, lock.Permanent)).get(t); ok {
			t.Fatal("5 > 10 passed")
		}
		if ms := pttl(t, b.Client, lockKey(b, "keep")); ms < 50_000 || ms > 60_000 {
			t.Fatalf("a failed set changed the TTL to %d", ms)
		}
		// Writing a number drops the holds of a numeric reentrant lock.
		must(l.RLock(ctx, "held", "5", time.Minute)).get(t)
		must(l.RLock(ctx, "held", "5", time.Minute)).get(t)
		if ok := must(l.CompareAndSet(ctx, "held", lock.OpGT, 6, 6, time.Minute)).get(t); !ok {
			t.Fatal("6 > 5 failed")
		}
		if _, ok := get(t, b.Client, holdsKey(b, "held")); ok {
			t.Fatal("hold count survived a conditional set")
		}
		must(l.RLock(ctx, "held2", "5", time.Minute)).get(t)
		must(l.RLock(ctx, "held2", "5", time.Minute)).get(t)
		must(l.CompareAndDelete(ctx, "held2", lock.OpGT, 6)).get(t)
		if _, ok := get(t, b.Client, holdsKey(b, "held2")); ok {
			t.Fatal("hold count survived a conditional delete")
		}
	})
}

func TestOpNames(t *testing.T) {
	t.Parallel()
	want := []string{"gt", "lt", "ge", "le", "eq", "ne"}
	for i, op := range []lock.Op{lock.OpGT, lock.OpLT, lock.OpGE, lock.OpLE, lock.OpEQ, lock.OpNE} {
		if op.String() != want[i] {
			t.Errorf("%d.String() = %q, want %q", op, op, want[i])
		}
	}
	if s := lock.Op(0).String(); s != "Op(0)" {
		t.Errorf("Op(0) = %q", s)
	}
}
