package lock

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Op is a comparison of the conditional operations. The caller's number is
// the left operand and the stored number the right one, as in the
// reference: OpGT passes when operand > stored.
type Op int

// Comparisons; e is 1e-6, the reference's epsilon.
const (
	// OpGT passes when operand > stored.
	OpGT Op = iota + 1
	// OpLT passes when operand < stored.
	OpLT
	// OpGE passes when operand >= stored - e.
	OpGE
	// OpLE passes when operand <= stored + e.
	OpLE
	// OpEQ passes when |operand - stored| < e.
	OpEQ
	// OpNE passes when |operand - stored| > e. A difference of exactly e
	// is neither equal nor not equal.
	OpNE
)

var opNames = [...]string{OpGT: "gt", OpLT: "lt", OpGE: "ge", OpLE: "le", OpEQ: "eq", OpNE: "ne"}

// String returns the reference's suffix of the operation: gt, lt, ge, le,
// eq or ne.
func (op Op) String() string {
	if op >= OpGT && op <= OpNE {
		return opNames[op]
	}
	return "Op(" + strconv.Itoa(int(op)) + ")"
}

func (op Op) valid() bool { return op >= OpGT && op <= OpNE }

// formatNumber renders a number the way it is stored: the shortest
// decimal that reads back as the same float64, integral values without a
// fraction ("15", not "15.0").
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func checkNumber(op, what string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%s: %w: %s %v is not finite", op, ErrInvalid, what, f)
	}
	return nil
}

// CompareAndSet is the reference's set{gt,lt,ge,le,eq,ne} family in one
// call: it stores value at key when the key is absent or when
// "operand op stored" holds, and reports whether it wrote.
//
//   - An absent key passes, so the first write always succeeds.
//   - A stored value that is not a decimal number is an error
//     (ErrNotNumber) and is left alone. The reference overwrote it, which
//     could replace a lock's owner with a number.
//   - ttl is the new expiry: a positive duration (rounded up to whole
//     milliseconds), [Permanent] to store without expiry (removing any TTL
//     the key had, as the reference did), or [KeepTTL] to keep the key's
//     current TTL (an absent key then gets none).
//   - Holds counted by RLock are dropped: the key now holds a number, not
//     a reentrant lock.
//
// Numbers are stored in their shortest exact decimal form ("15", "0.1",
// "1e+21"). Errors: ErrInvalid (a bad key or ttl, an unknown op, NaN or
// infinite numbers; nothing is sent), ErrNotNumber, and Redis or ctx
// errors.
func (l *Locker) CompareAndSet(ctx context.Context, key string, op Op, operand, value float64, ttl time.Duration) (bool, error) {
	k, err := l.space.keys(key)
	if err != nil {
		return false, fmt.Errorf("lock.CompareAndSet: %w", err)
	}
	if err := l.checkCompare("lock.CompareAndSet", op, operand); err != nil {
		return false, err
	}
	if err := checkNumber("lock.CompareAndSet", "value", value); err != nil {
		return false, err
	}
	expiry := "keep"
	if ttl != KeepTTL {
		if expiry, err = ttlArg("lock.CompareAndSet", ttl); err != nil {
			return false, err
		}
	}
	args := []string{op.String(), formatNumber(operand), formatNumber(defaultEpsilon), formatNumber(value), expiry}
	msg, err := l.run(ctx, "CompareAndSet", key, script.LockCompareSet, k.pair, args)
	if err != nil {
		return false, err
	}
	n, err := msg.AsInt64()
	return n == 1, err
}

// CompareAndDelete is the reference's del{gt,lt,ge,le,eq,ne} family: it
// deletes key (with its holds) when "operand op stored" holds and reports
// whether the key is now gone. An absent key counts as success, as in the
// reference. A stored value that is not a decimal number is an error
// (ErrNotNumber) and the key stays. Errors as for [Locker.CompareAndSet].
func (l *Locker) CompareAndDelete(ctx context.Context, key string, op Op, operand float64) (bool, error) {
	k, err := l.space.keys(key)
	if err != nil {
		return false, fmt.Errorf("lock.CompareAndDelete: %w", err)
	}
	if err := l.checkCompare("lock.CompareAndDelete", op, operand); err != nil {
		return false, err
	}
	args := []string{op.String(), formatNumber(operand), formatNumber(defaultEpsilon)}
	msg, err := l.run(ctx, "CompareAndDelete", key, script.LockCompareDelete, k.pair, args)
	if err != nil {
		return false, err
	}
	n, err := msg.AsInt64()
	return n == 1, err
}

func (l *Locker) checkCompare(name string, op Op, operand float64) error {
	if !op.valid() {
		return fmt.Errorf("%s: %w: op %v is unknown", name, ErrInvalid, op)
	}
	return checkNumber(name, "operand", operand)
}
