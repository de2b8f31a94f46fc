package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/redisallocator/redisallocator/pool"
)

// hold is a worker's holding of a member as the demo's workers record it.
type hold struct {
	worker string
	fence  int64
	// until is a local-clock bound before which the lease cannot have
	// lapsed: the malloc's start plus the TTL (the server's deadline is
	// later, since it counts from when the script ran).
	until   time.Time
	crashed bool // held by the crashing worker, which never frees
}

// tracker checks, independently of the pool's own Snapshot checks, what the
// workers saw: per member, fencing numbers only grow and no two holders
// overlap while both leases are valid. It also counts the crashed leases
// that were reclaimed. It is safe for concurrent use.
type tracker struct {
	onViolation func(string) // called without the lock held

	mu         sync.Mutex
	lastFence  map[string]int64
	holds      map[string]hold
	allocs     map[string]int // allocations per member
	checked    int            // allocations whose fence was checked
	late       int            // allocations recorded only after their lease lapsed
	reclaimed  int            // crashed leases seen ended
	snapshots  int            // snapshots checked
	counter    int64          // the pool's fence counter in the last snapshot
	seen       map[string]bool
	violations []string // distinct, in order
}

func newTracker(onViolation func(string)) *tracker {
	return &tracker{
		onViolation: onViolation,
		lastFence:   map[string]int64{}, holds: map[string]hold{}, allocs: map[string]int{},
		seen: map[string]bool{},
	}
}

// acquire records a new exclusive allocation of key. It must be called after
// Malloc returned and before the holder frees.
func (t *tracker) acquire(key string, h hold) {
	now := time.Now()
	var bad []string
	t.mu.Lock()
	t.allocs[key]++
	// A lease that lapsed before we got to record it (a goroutine paused
	// longer than the TTL) may already have a successor recorded, so the
	// fence order is checked only for leases still valid.
	late := !now.Before(h.until)
	if late {
		t.late++
	} else {
		t.checked++
		if prev, ok := t.lastFence[key]; ok && h.fence <= prev {
			bad = append(bad, fmt.Sprintf("%s got %s with fence %d, not above the previous fence %d", h.worker, key, h.fence, prev))
		}
	}
	t.lastFence[key] = max(t.lastFence[key], h.fence)
	cur, ok := t.holds[key]
	switch {
	case ok && cur.fence > h.fence:
		// A later holder is recorded already: h ended before it began.
		if h.crashed {
			t.reclaimed++
		}
	case ok && now.Before(cur.until):
		// cur's allocation came first and cur has not freed, so its lease
		// must have lapsed on the server before h's malloc; its local bound
		// lies earlier still.
		bad = append(bad, fmt.Sprintf("%s and %s hold %s at once (fences %d and %d)", cur.worker, h.worker, key, cur.fence, h.fence))
		t.holds[key] = h
	default:
		if ok && cur.crashed {
			t.reclaimed++
		}
		// A live worker whose lease lapsed counts the loss at its Free.
		t.holds[key] = h
	}
	t.mu.Unlock()
	t.report(bad)
}

// release forgets a holding; call it before Free.
func (t *tracker) release(key string, fence int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.holds[key]; ok && h.fence == fence {
		delete(t.holds, key)
	}
}

// checkSnapshot records the snapshot's violations and compares it with the
// holdings recorded: a crashed lease no longer held is reclaimed; a live
// worker's lease that is still valid must be held with its fence. now must
// be read after the snapshot.
func (t *tracker) checkSnapshot(s *pool.Snapshot, now time.Time) {
	var bad []string
	for _, v := range s.Violations {
		bad = append(bad, "snapshot: "+v)
	}
	lease := make(map[string]int64, len(s.Members))
	for _, m := range s.Members {
		if m.Lease != nil {
			lease[m.Key] = m.Lease.Fence
		}
	}
	t.mu.Lock()
	t.snapshots++
	if s.Fence < t.counter {
		bad = append(bad, fmt.Sprintf("fence counter went back from %d to %d", t.counter, s.Fence))
	}
	t.counter = max(t.counter, s.Fence)
	for key, h := range t.holds {
		if h.fence > s.Fence {
			continue // allocated after the snapshot was read
		}
		// The allocation happened before the snapshot and the holder had not
		// released it when we looked, so Redis must show it held unless the
		// lease lapsed.
		if lease[key] == h.fence {
			continue
		}
		switch {
		case h.crashed:
			t.reclaimed++
			delete(t.holds, key)
		case now.Before(h.until):
			bad = append(bad, fmt.Sprintf("%s holds %s with fence %d but Redis shows %s", h.worker, key, h.fence, describeLease(key, lease)))
		}
	}
	t.mu.Unlock()
	t.report(bad)
}

func describeLease(key string, lease map[string]int64) string {
	if f, ok := lease[key]; ok {
		return fmt.Sprintf("fence %d", f)
	}
	return "it not held"
}

// report records violations not seen before (a broken state found by every
// snapshot counts once) and passes them on.
func (t *tracker) report(msgs []string) {
	var fresh []string
	t.mu.Lock()
	for _, m := range msgs {
		if !t.seen[m] {
			t.seen[m] = true
			t.violations = append(t.violations, m)
			fresh = append(fresh, m)
		}
	}
	t.mu.Unlock()
	if t.onViolation != nil {
		for _, m := range fresh {
			t.onViolation(m)
		}
	}
}

func (t *tracker) violationCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.violations)
}

func (t *tracker) holdsCopy() map[string]hold {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]hold, len(t.holds))
	for k, h := range t.holds {
		out[k] = h
	}
	return out
}

// trackerStats is a consistent copy of the tracker's counters.
type trackerStats struct {
	checked, late, reclaimed, snapshots int
	pendingCrashed                      int // crashed leases not yet seen reclaimed
	violations                          []string
	allocs                              map[string]int
	holders                             map[string]string // member -> worker
}

func (t *tracker) stats() trackerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := trackerStats{
		checked: t.checked, late: t.late, reclaimed: t.reclaimed, snapshots: t.snapshots,
		violations: append([]string(nil), t.violations...),
		allocs:     make(map[string]int, len(t.allocs)),
		holders:    make(map[string]string, len(t.holds)),
	}
	for k, n := range t.allocs {
		s.allocs[k] = n
	}
	for k, h := range t.holds {
		s.holders[k] = h.worker
		if h.crashed {
			s.pendingCrashed++
		}
	}
	return s
}
