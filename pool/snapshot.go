package pool

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Snapshot is the whole state of a pool read at one instant (one read-only
// script), with every invariant violation found in it. Reading it costs
// O(n) in the pool size: it is for diagnostics, dashboards and tests, not
// hot paths.
type Snapshot struct {
	// Time is the Redis server's clock when the snapshot was read.
	Time time.Time
	// Fence is the last fencing number handed out, as the server knows it:
	// after Redis lost writes it may read lower than fences already handed
	// out; the next one is still above them (see the package doc).
	Fence int64
	// Allocations is the number of leases granted since the pool was
	// created (shared ones included; Admin.Clear keeps it); it may fall
	// back when Redis loses writes, so rates from it are estimates. Fences
	// jump with the clock and count nothing: take rates from this.
	Allocations int64
	// Counts are the members by state.
	Counts Counts
	// FreeOrder lists the free members in the order Malloc hands them out.
	FreeOrder []string
	// Members describes every member, sorted by key.
	Members []MemberInfo
	// Bindings lists every soft binding, sorted by name.
	Bindings []BindingInfo
	// LapsedLeases counts leases past their deadline not yet reclaimed (the
	// next malloc or GC reclaims them).
	LapsedLeases int
	// ExpiredMembers counts members past their expiry not yet removed.
	ExpiredMembers int
	// DueTimers counts timers due but not yet handled.
	DueTimers int
	// Waiters is how many mallocs wait for a free member.
	Waiters int
	// Sessions maps each worker session with leases here to when the pool
	// declares it dead unless its heartbeat moves that on.
	Sessions map[string]time.Time
	// Violations lists every broken invariant; empty for a healthy pool.
	Violations []string
}

// MemberInfo is one member in a Snapshot.
type MemberInfo struct {
	Key      string
	State    State
	Priority int
	// Expiry is when the member leaves the pool; zero for never.
	Expiry time.Time
	// HasValue reports whether the member carries a value.
	HasValue bool
	// Lease is set for held members.
	Lease *LeaseInfo
	// UnhealthyUntil is set for quarantined members.
	UnhealthyUntil time.Time
}

// LeaseInfo describes a lease in a Snapshot. The holder token is not
// included: it is the proof of holding.
type LeaseInfo struct {
	Fence int64
	// Deadline is zero for permanent leases.
	Deadline time.Time
	// Session is the worker session recorded with the lease, if any.
	Session string
	// PendingUnhealthy is the quarantine the member gets when the lease
	// ends (ReportUnhealthy), zero if none.
	PendingUnhealthy time.Duration
	// Expired reports that the member's expiry passed while held: it leaves
	// the pool when the lease ends.
	Expired bool
}

// BindingInfo is one soft binding in a Snapshot.
type BindingInfo struct {
	Name string
	Key  string
	// Expiry is zero for bindings that never expire.
	Expiry time.Time
	// Stale reports a binding to a member no longer in the pool or expired.
	Stale bool
}

// Score layout of the free set; see lua/lib/pool.lua.
const (
	scoreSpan  = 1 << 41
	scoreEpoch = 1704067200000
)

// Snapshot reads the pool atomically and checks its invariants. See
// Snapshot for what it costs.
func (a *Inspector) Snapshot(ctx context.Context) (*Snapshot, error) {
	msg, err := a.c.runScript(ctx, script.PoolSnapshot, nil)
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 14 {
		return nil, fmt.Errorf("pool %s: snapshot: unexpected reply: %w", a.c.name, err)
	}
	return buildSnapshot(arr, a.c.keys)
}

// counterNames name the pool's counters in reports of hostile state.
var counterNames = map[int]string{keyFence: "fencing counter", keyAllocs: "allocation counter"}

// parseCounter reads counter k (an index of keys) from the text a read
// script returned, whatever the key held: what is no integer reads as 0,
// with a description of it for Stats.Corrupt or Snapshot.Violations.
func parseCounter(m rueidis.RedisMessage, keys []string, k int) (int64, string) {
	s, _ := m.ToString()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("%s %s holds %q, not an integer", counterNames[k], keys[k], s)
	}
	return n, ""
}

// wrongType describes a key of the wrong type, from the (key, type) pair
// the snapshot and stats scripts report.
func wrongType(w [2]string) string {
	return fmt.Sprintf("key %s is a %s, which no pool operation writes there", w[0], w[1])
}

// rawSnapshot holds the structures as the script returned them.
type rawSnapshot struct {
	now       int64
	fence     int64
	allocs    int64
	free      [][2]string
	holders   [][2]string
	unhealthy [][2]string
	timers    [][2]string
	prio      [][2]string
	values    []string
	bind      [][2]string
	bindidx   []string
	waiters   int64
	sesidx    []string
	// corrupt describes keys of the wrong type and counters that are no
	// integer: violations reported first.
	corrupt []string
}

func pairs(m rueidis.RedisMessage) ([][2]string, error) {
	ss, err := m.AsStrSlice()
	if err != nil || len(ss)%2 != 0 {
		return nil, fmt.Errorf("bad pair list: %w", err)
	}
	out := make([][2]string, 0, len(ss)/2)
	for i := 0; i < len(ss); i += 2 {
		out = append(out, [2]string{ss[i], ss[i+1]})
	}
	return out, nil
}

func buildSnapshot(arr []rueidis.RedisMessage, keys []string) (*Snapshot, error) {
	var r rawSnapshot
	var err error
	var errs []error
	get := func(i int) [][2]string {
		p, e := pairs(arr[i])
		if e != nil {
			errs = append(errs, e)
		}
		return p
	}
	r.now, err = arr[0].AsInt64()
	errs = append(errs, err)
	var bad string
	if r.fence, bad = parseCounter(arr[1], keys, keyFence); bad != "" {
		r.corrupt = append(r.corrupt, bad)
	}
	r.free, r.holders, r.unhealthy, r.timers, r.prio = get(2), get(3), get(4), get(5), get(6)
	r.values, err = arr[7].AsStrSlice()
	errs = append(errs, err)
	r.bind = get(8)
	r.bindidx, err = arr[9].AsStrSlice()
	errs = append(errs, err)
	r.waiters, err = arr[10].AsInt64()
	errs = append(errs, err)
	r.sesidx, err = arr[11].AsStrSlice()
	errs = append(errs, err)
	for _, w := range get(12) {
		r.corrupt = append(r.corrupt, wrongType(w))
	}
	if r.allocs, bad = parseCounter(arr[13], keys, keyAllocs); bad != "" {
		r.corrupt = append(r.corrupt, bad)
	}
	for _, e := range errs {
		if e != nil {
			return nil, fmt.Errorf("pool: snapshot: %w", e)
		}
	}
	return r.check(), nil
}

func msTime(v float64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(v))
}

// check builds the Snapshot and lists violations of the pool invariants:
//
//   - every member is in exactly one state (free, held, unhealthy);
//   - a lease record parses, its fence is unique and not above the counter,
//     and a lease with a deadline has a matching "l:" timer (and vice versa);
//   - a quarantine has a matching "u:" timer (and vice versa);
//   - expiry timers, priorities and values belong to members;
//   - a free member's score lies in the band of its priority;
//   - bindings and the binding index agree, with "b:" timers matching;
//   - the session index lists exactly the leases taken under a session.
func (r *rawSnapshot) check() *Snapshot {
	s := &Snapshot{Time: time.UnixMilli(r.now), Fence: r.fence, Allocations: r.allocs, Waiters: int(r.waiters)}
	bad := func(format string, args ...any) { s.Violations = append(s.Violations, fmt.Sprintf(format, args...)) }
	s.Violations = append(s.Violations, r.corrupt...)
	members := map[string]*MemberInfo{}
	add := func(key string, st State) *MemberInfo {
		if m, ok := members[key]; ok {
			bad("member %q is both %s and %s", key, m.State, st)
			return m
		}
		m := &MemberInfo{Key: key, State: st}
		members[key] = m
		return m
	}
	timers := map[string]float64{}
	for _, t := range r.timers {
		v, err := strconv.ParseFloat(t[1], 64)
		if err != nil {
			bad("timer %q has score %q", t[0], t[1])
		}
		timers[t[0]] = v
		if v <= float64(r.now) {
			s.DueTimers++
		}
	}
	prio := map[string]int{}
	for _, pr := range r.prio {
		v, err := strconv.Atoi(pr[1])
		if err != nil || v < minPriority || v > maxPriority || v == 0 {
			bad("priority of %q is %q", pr[0], pr[1])
		}
		prio[pr[0]] = v
	}
	for _, f := range r.free {
		add(f[0], StateFree)
		s.FreeOrder = append(s.FreeOrder, f[0])
		sc, err := strconv.ParseFloat(f[1], 64)
		band := math.Floor(sc / scoreSpan)
		if err != nil || band != float64(2047-prio[f[0]]) {
			bad("free member %q has score %s outside the band of priority %d", f[0], f[1], prio[f[0]])
		}
	}
	fences := map[int64]string{}
	for _, h := range r.holders {
		m := add(h[0], StateHeld)
		f := strings.Fields(h[1])
		if len(f) != 6 {
			bad("lease record of %q is %q", h[0], h[1])
			continue
		}
		fence, e1 := strconv.ParseInt(f[1], 10, 64)
		dl, e2 := strconv.ParseInt(f[2], 10, 64)
		mark, e3 := strconv.ParseInt(f[4], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil || (f[5] != "0" && f[5] != "1") {
			bad("lease record of %q is %q", h[0], h[1])
			continue
		}
		if other, dup := fences[fence]; dup {
			bad("members %q and %q hold the same fence %d", other, h[0], fence)
		}
		fences[fence] = h[0]
		if fence > r.fence || fence < 1 {
			bad("lease of %q has fence %d, counter is %d", h[0], fence, r.fence)
		}
		li := &LeaseInfo{Fence: fence, Deadline: msTime(float64(dl)), PendingUnhealthy: time.Duration(mark) * time.Millisecond, Expired: f[5] == "1"}
		if f[3] != "-" {
			li.Session = f[3]
		}
		m.Lease = li
		t, ok := timers["l:"+h[0]]
		switch {
		case dl > 0 && (!ok || int64(t) != dl):
			bad("lease of %q ends at %d but its timer says %v (present %v)", h[0], dl, int64(t), ok)
		case dl == 0 && ok:
			bad("permanent lease of %q has a timer", h[0])
		}
		if dl > 0 && dl <= r.now {
			s.LapsedLeases++
		}
	}
	for _, u := range r.unhealthy {
		m := add(u[0], StateUnhealthy)
		until, err := strconv.ParseInt(u[1], 10, 64)
		if err != nil {
			bad("quarantine of %q is %q", u[0], u[1])
			continue
		}
		m.UnhealthyUntil = time.UnixMilli(until)
		if t, ok := timers["u:"+u[0]]; !ok || int64(t) != until {
			bad("quarantine of %q ends at %d but its timer says %v (present %v)", u[0], until, int64(t), ok)
		}
	}
	for k := range prio {
		if m, ok := members[k]; ok {
			m.Priority = prio[k]
		} else {
			bad("priority kept for non-member %q", k)
		}
	}
	for _, k := range r.values {
		if m, ok := members[k]; ok {
			m.HasValue = true
		} else {
			bad("value kept for non-member %q", k)
		}
	}
	bindings := map[string]string{}
	inIndex := make(map[string]bool, len(r.bindidx))
	for _, e := range r.bindidx {
		inIndex[e] = true
	}
	for _, b := range r.bind {
		exp, key, ok := strings.Cut(b[1], " ")
		e, err := strconv.ParseInt(exp, 10, 64)
		if !ok || err != nil {
			bad("binding %q is %q", b[0], b[1])
			continue
		}
		bindings[b[0]] = key
		bi := BindingInfo{Name: b[0], Key: key, Expiry: msTime(float64(e))}
		if _, isMember := members[key]; !isMember || (e > 0 && e <= r.now) {
			bi.Stale = true
		}
		s.Bindings = append(s.Bindings, bi)
		if t, ok := timers["b:"+b[0]]; (e > 0) != ok || (ok && int64(t) != e) {
			bad("binding %q expires at %d but its timer says %v (present %v)", b[0], e, int64(t), ok)
		}
		if !inIndex[key+"\x00"+b[0]] {
			bad("binding %q -> %q missing from the index", b[0], key)
		}
	}
	for _, e := range r.bindidx {
		key, name, ok := strings.Cut(e, "\x00")
		if !ok || bindings[name] != key {
			bad("binding index entry %q has no binding", e)
		}
	}
	for t, v := range timers {
		kind, key, ok := strings.Cut(t, ":")
		switch {
		case !ok:
			bad("timer %q is malformed", t)
		case kind == "l":
			if m := members[key]; m == nil || m.Lease == nil {
				bad("lease timer for %q, which is not held", key)
			}
		case kind == "u":
			if m := members[key]; m == nil || m.State != StateUnhealthy {
				bad("quarantine timer for %q, which is not quarantined", key)
			}
		case kind == "e":
			m := members[key]
			if m == nil {
				bad("expiry timer for non-member %q", key)
				continue
			}
			m.Expiry = msTime(v)
			if v <= float64(r.now) {
				s.ExpiredMembers++
			}
		case kind == "b":
			if _, ok := bindings[key]; !ok {
				bad("binding timer for missing binding %q", key)
			}
		case kind == "s":
			if s.Sessions == nil {
				s.Sessions = map[string]time.Time{}
			}
			s.Sessions[key] = msTime(v)
		default:
			bad("timer %q of unknown kind", t)
		}
	}
	indexed := map[string]bool{}
	for _, e := range r.sesidx {
		sess, key, ok := strings.Cut(e, "\x00")
		m := members[key]
		if !ok || m == nil || m.Lease == nil || m.Lease.Session != sess {
			bad("session index entry %q matches no lease", e)
		}
		indexed[key] = true
	}
	for _, m := range members {
		if m.Lease != nil && m.Lease.Session != "" && !indexed[m.Key] {
			bad("lease of %q under session %s is missing from the session index", m.Key, m.Lease.Session)
		}
		// A held member whose expiry timer fired carries the flag instead.
		if m.Lease != nil && m.Lease.Expired && !m.Expiry.IsZero() {
			bad("held member %q is flagged expired and still has an expiry timer", m.Key)
		}
		s.Members = append(s.Members, *m)
		switch m.State {
		case StateFree:
			s.Counts.Free++
		case StateHeld:
			s.Counts.Held++
		case StateUnhealthy:
			s.Counts.Unhealthy++
		}
	}
	slices.SortFunc(s.Members, func(a, b MemberInfo) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(s.Bindings, func(a, b BindingInfo) int { return strings.Compare(a.Name, b.Name) })
	return s
}
