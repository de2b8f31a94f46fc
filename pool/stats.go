package pool

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// statsDueLimit is how many due timers Stats classifies: the oldest ones.
// Due timers are normally few (the next malloc or GC handles them), so the
// limit only matters for a pool nobody has touched for a while.
const statsDueLimit = 1000

// Stats is a pool's summary, read in one script whose cost does not grow
// with the pool (counters, and at most 1000 due timers). Unlike
// Snapshot it is cheap enough to poll on a pool of any size; it checks no
// invariants and lists no members.
type Stats struct {
	// Time is the Redis server's clock when the stats were read.
	Time time.Time
	// Fence is the last fencing number handed out, as the server knows it
	// (see Snapshot.Fence).
	Fence int64
	// Allocations is the number of leases granted since the pool was
	// created; it may fall back when Redis loses writes, so rates from it
	// are estimates (see Snapshot.Allocations).
	Allocations int64
	// Counts are the members by state.
	Counts Counts
	// Waiters is how many mallocs wait for a free member.
	Waiters int
	// SessionLeases counts leases taken under a worker session.
	SessionLeases int
	// Bindings counts soft bindings, stale ones included.
	Bindings int
	// DueTimers counts timers due but not yet handled.
	DueTimers int
	// DueSampled reports that DueTimers exceeds 1000: the counts
	// below then cover the oldest 1000 due timers only.
	DueSampled bool
	// LapsedLeases counts leases past their deadline not yet reclaimed;
	// OldestLapsed is the earliest such deadline (zero when none).
	LapsedLeases int
	OldestLapsed time.Time
	// ExpiredMembers counts members past their expiry not yet removed.
	ExpiredMembers int
	// DeadSessions counts worker sessions with leases here whose deadline
	// passed; OldestDeadSession is the earliest such deadline.
	DeadSessions      int
	OldestDeadSession time.Time
	// Corrupt describes hostile state Stats met on its way, empty when
	// none: keys of the wrong type (the counts read from them are 0) or a
	// counter (fence, allocations) that is no integer, "; "-separated.
	// Stats checks nothing else: Snapshot checks every invariant. A
	// string, so that Stats stays comparable.
	Corrupt string
}

// Stats reads the pool's summary. See Stats for what it costs and covers.
func (a *Inspector) Stats(ctx context.Context) (*Stats, error) {
	c := a.c
	msg, err := c.runScript(ctx, script.PoolInspect, []string{"stats", strconv.Itoa(statsDueLimit)})
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) < 11 || (len(arr)-11)%2 != 0 {
		return nil, fmt.Errorf("pool %s: stats: unexpected reply (%d values): %w", c.name, len(arr), err)
	}
	var n [10]int64
	var corrupt []string
	for i := range n {
		// The counters come as their text, whatever they hold.
		if i == 1 || i == 9 {
			k := keyFence
			if i == 9 {
				k = keyAllocs
			}
			var bad string
			if n[i], bad = parseCounter(arr[i], c.keys, k); bad != "" {
				corrupt = append(corrupt, bad)
			}
			continue
		}
		if n[i], err = arr[i].AsInt64(); err != nil {
			return nil, fmt.Errorf("pool %s: stats: value %d: %w", c.name, i, err)
		}
	}
	wrong, err := pairs(arr[10])
	if err != nil {
		return nil, fmt.Errorf("pool %s: stats: wrong-typed keys: %w", c.name, err)
	}
	for _, w := range wrong {
		corrupt = append(corrupt, wrongType(w))
	}
	due := make([]string, 0, len(arr)-11)
	for _, m := range arr[11:] {
		v, err := m.ToString()
		if err != nil {
			return nil, fmt.Errorf("pool %s: stats: due timer: %w", c.name, err)
		}
		due = append(due, v)
	}
	st, err := parseStats(n, due)
	if err != nil {
		return nil, fmt.Errorf("pool %s: stats: %w", c.name, err)
	}
	st.Corrupt = strings.Join(corrupt, "; ")
	return st, nil
}

// parseStats builds Stats from the reply of pool_inspect's stats op: ten
// numbers, then (timer, ms) pairs of the oldest due timers.
func parseStats(n [10]int64, due []string) (*Stats, error) {
	now := n[0]
	st := &Stats{
		Time: time.UnixMilli(now), Fence: n[1], Allocations: n[9],
		Counts:  Counts{Free: int(n[2]), Held: int(n[3]), Unhealthy: int(n[4])},
		Waiters: int(n[5]), SessionLeases: int(n[6]), Bindings: int(n[7]), DueTimers: int(n[8]),
	}
	st.DueSampled = st.DueTimers > len(due)/2
	// Oldest first: the first timer of a kind is that kind's oldest.
	for i := 0; i < len(due); i += 2 {
		ms, err := strconv.ParseFloat(due[i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("timer %q has score %q", due[i], due[i+1])
		}
		at := time.UnixMilli(int64(ms))
		kind, _, _ := strings.Cut(due[i], ":")
		switch kind {
		case "l":
			if st.LapsedLeases == 0 {
				st.OldestLapsed = at
			}
			st.LapsedLeases++
		case "e":
			st.ExpiredMembers++
		case "s":
			if st.DeadSessions == 0 {
				st.OldestDeadSession = at
			}
			st.DeadSessions++
		}
	}
	return st, nil
}
