package task

import (
	"testing"
	"time"
)

// TestDefaultBackoffJitter: the default backoff spreads retries. For each
// attempt every wait lies between half and all of the ceiling (1s doubling,
// capped at 5m), the waits differ, and they cover both halves of that
// range: tasks that failed together must not retry in one wave. A property
// of the distribution, not a timing.
func TestDefaultBackoffJitter(t *testing.T) {
	const n = 2000
	for attempt := -1; attempt <= 12; attempt++ {
		ceil := 5 * time.Minute
		if a := max(attempt, 1); a < 9 {
			ceil = time.Second << (a - 1)
		}
		lo, hi := ceil/2, ceil
		seen := map[time.Duration]bool{}
		var below, above int // around the middle of [lo, hi]
		mid := lo + (hi-lo)/2
		for range n {
			d := defaultBackoff(attempt, nil)
			if d < lo || d > hi {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", attempt, d, lo, hi)
			}
			seen[d] = true
			if d < mid {
				below++
			} else {
				above++
			}
		}
		// Uniform over [lo, hi]: each half gets about n/2; fewer than n/3
		// in one half is far outside chance (p < 1e-40).
		if len(seen) < n/2 || below < n/3 || above < n/3 {
			t.Errorf("attempt %d: %d distinct waits, %d below and %d above %v: not spread", attempt, len(seen), below, above, mid)
		}
	}
}
