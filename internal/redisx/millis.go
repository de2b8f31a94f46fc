package redisx

import (
	"strconv"
	"time"
)

// CeilMS is d in whole milliseconds, rounded up: the one rounding rule for
// every duration sent to Redis, so a positive duration never becomes 0 and a
// lease is never shorter than asked. Negative durations round towards zero.
func CeilMS(d time.Duration) int64 {
	ms := d / time.Millisecond
	if d%time.Millisecond > 0 {
		ms++
	}
	return int64(ms)
}

// MSArg is CeilMS formatted as a script argument.
func MSArg(d time.Duration) string { return strconv.FormatInt(CeilMS(d), 10) }
