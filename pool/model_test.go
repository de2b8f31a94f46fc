package pool_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// The state-machine test drives random sequences of pool operations against
// miniredis with a controlled clock and against a plain in-memory model of
// the documented behaviour, and after every step compares the two and checks
// the Snapshot invariants.

type mLease struct {
	token    string
	fence    int64
	deadline int64 // 0: permanent
	mark     int64 // pending quarantine in ms
	expired  bool
}

type mMember struct {
	prio      int
	expiry    int64 // 0: none
	state     pool.State
	lastFree  int64
	lease     *mLease
	unhealthy int64
}

type mBinding struct {
	key string
	exp int64 // 0: never
}

type model struct {
	now      int64
	fence    int64
	allocs   int64 // leases granted (Clear keeps it)
	members  map[string]*mMember
	bindings map[string]mBinding
}

func (m *model) remove(key string) {
	delete(m.members, key)
	for n, b := range m.bindings {
		if b.key == key {
			delete(m.bindings, n)
		}
	}
}

func (m *model) release(key string) {
	mm := m.members[key]
	l := mm.lease
	mm.lease = nil
	switch {
	case l.expired || (mm.expiry > 0 && mm.expiry <= m.now):
		m.remove(key)
	case l.mark > 0:
		mm.state, mm.unhealthy = pool.StateUnhealthy, m.now+l.mark
	default:
		mm.state, mm.lastFree = pool.StateFree, m.now
	}
}

// fire applies every due timer, as a script with an unlimited budget does.
func (m *model) fire() {
	type ev struct {
		at   int64
		kind byte
		key  string
	}
	var evs []ev
	for k, mm := range m.members {
		if mm.lease != nil && mm.lease.deadline > 0 && mm.lease.deadline <= m.now {
			evs = append(evs, ev{mm.lease.deadline, 'l', k})
		}
		if mm.expiry > 0 && mm.expiry <= m.now && (mm.lease == nil || !mm.lease.expired) {
			evs = append(evs, ev{mm.expiry, 'e', k})
		}
		if mm.state == pool.StateUnhealthy && mm.unhealthy <= m.now {
			evs = append(evs, ev{mm.unhealthy, 'u', k})
		}
	}
	for n, b := range m.bindings {
		if b.exp > 0 && b.exp <= m.now {
			evs = append(evs, ev{b.exp, 'b', n})
		}
	}
	slices.SortFunc(evs, func(a, b ev) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(string(a.kind)+":"+a.key, string(b.kind)+":"+b.key))
	})
	for _, e := range evs {
		mm := m.members[e.key]
		switch e.kind {
		case 'l':
			if mm != nil && mm.lease != nil {
				m.release(e.key)
			}
		case 'e':
			if mm == nil {
				continue
			}
			if mm.lease != nil {
				mm.lease.expired = true
				mm.expiry = 0 // its timer is gone; the flag remains
			} else {
				m.remove(e.key)
			}
		case 'u':
			if mm != nil && mm.state == pool.StateUnhealthy {
				mm.state, mm.lastFree = pool.StateFree, m.now
			}
		case 'b':
			delete(m.bindings, e.key)
		}
	}
}

func (m *model) freeOrder() []string {
	var keys []string
	for k, mm := range m.members {
		if mm.state == pool.StateFree {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		ma, mb := m.members[a], m.members[b]
		return cmp.Or(cmp.Compare(mb.prio, ma.prio), cmp.Compare(ma.lastFree, mb.lastFree), cmp.Compare(a, b))
	})
	return keys
}

type machine struct {
	t      *rapid.T
	ctx    context.Context
	b      *redisxtest.Backend
	p      *pool.Pool[proxy]
	m      *model
	base   time.Time
	leases []*pool.Allocation[proxy]
}

var universe = []string{"a", "b", "c", "d", "e"}

// nextFence is the fence rule: max(counter + 1, the server clock in
// microseconds); the model's clock is the embedded server's.
func (s *machine) nextFence() int64 {
	s.m.fence = max(s.m.fence+1, s.base.Add(time.Duration(s.m.now)*time.Millisecond).UnixMicro())
	return s.m.fence
}

func (s *machine) setClock() { s.b.Mini.SetTime(s.base.Add(time.Duration(s.m.now) * time.Millisecond)) }

func (s *machine) keys(t *rapid.T) []string {
	return rapid.SliceOfNDistinct(rapid.SampledFrom(universe), 0, 3, rapid.ID[string]).Draw(t, "keys")
}

func (s *machine) Advance(t *rapid.T) {
	s.m.now += rapid.SampledFrom([]int64{0, 1, 400, 1500, 6000}).Draw(t, "ms")
	s.setClock()
}

func (s *machine) Extend(t *rapid.T) {
	keys := s.keys(t)
	var opts []pool.MemberOption
	prio := rapid.IntRange(-2, 3).Draw(t, "prio") // 3 means "keep"
	if prio != 3 {
		opts = append(opts, pool.Priority(prio))
	}
	exp := rapid.SampledFrom([]int64{-1, 0, 1000, 5000}).Draw(t, "expiry") // -1 keep, 0 none
	switch exp {
	case 0:
		opts = append(opts, pool.MemberTTL(0))
	case 1000, 5000:
		opts = append(opts, pool.MemberTTL(time.Duration(exp)*time.Millisecond))
	}
	n, err := s.p.AddKeys(s.ctx, keys, opts...)
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	added := 0
	for _, k := range keys {
		mm := s.m.members[k]
		if mm == nil {
			mm = &mMember{state: pool.StateFree, lastFree: s.m.now}
			s.m.members[k] = mm
			added++
		}
		if prio != 3 {
			mm.prio = prio
		}
		switch exp {
		case 0:
			mm.expiry = 0
			if mm.lease != nil {
				mm.lease.expired = false
			}
		case 1000, 5000:
			mm.expiry = s.m.now + exp
			if mm.lease != nil {
				mm.lease.expired = false
			}
		}
	}
	if n != added {
		t.Fatalf("Extend added %d, model %d", n, added)
	}
}

func (s *machine) Shrink(t *rapid.T) {
	keys := s.keys(t)
	n, err := s.p.Remove(s.ctx, keys...)
	if err != nil {
		t.Fatalf("Shrink: %v", err)
	}
	removed := 0
	for _, k := range keys {
		if s.m.members[k] != nil {
			s.m.remove(k)
			removed++
		}
	}
	if n != removed {
		t.Fatalf("Shrink removed %d, model %d", n, removed)
	}
}

func (s *machine) Assign(t *rapid.T) {
	keys := s.keys(t)
	if len(keys) == 0 {
		t.Skip("Assign of nothing is Clear")
	}
	added, removed, err := s.p.AssignKeys(s.ctx, keys)
	if err != nil {
		t.Fatalf("Assign: %v", err)
	}
	wantRemoved, wantAdded := 0, 0
	for k := range s.m.members {
		if !slices.Contains(keys, k) {
			s.m.remove(k)
			wantRemoved++
		}
	}
	for _, k := range keys {
		if s.m.members[k] == nil {
			s.m.members[k] = &mMember{state: pool.StateFree, lastFree: s.m.now}
			wantAdded++
		}
	}
	if added != wantAdded || removed != wantRemoved {
		t.Fatalf("Assign = +%d -%d, model +%d -%d", added, removed, wantAdded, wantRemoved)
	}
}

func (s *machine) Malloc(t *rapid.T) {
	bind := rapid.SampledFrom([]string{"", "w1", "w2"}).Draw(t, "bind")
	ttl := rapid.SampledFrom([]time.Duration{time.Second, 5 * time.Second, 0}).Draw(t, "ttl")
	opts := []pool.MallocOption{pool.LeaseTTL(time.Second)}
	if ttl == 0 {
		opts = []pool.MallocOption{pool.LeaseTTL(pool.Permanent)}
	} else {
		opts[0] = pool.LeaseTTL(ttl)
	}
	if bind != "" {
		opts = append(opts, pool.Bind(bind, 3*time.Second))
	}
	a, err := s.p.Malloc(s.ctx, opts...)
	s.m.fire()
	order := s.m.freeOrder()
	want := ""
	if b, ok := s.m.bindings[bind]; ok && bind != "" && s.m.members[b.key] != nil && s.m.members[b.key].state == pool.StateFree {
		want = b.key
	} else if len(order) > 0 {
		want = order[0]
	}
	if want == "" {
		if !errors.Is(err, pool.ErrEmpty) {
			t.Fatalf("Malloc = %v, model says empty", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Malloc: %v (model would give %q)", err, want)
	}
	if a.Key != want {
		t.Fatalf("Malloc gave %q, model %q (order %q)", a.Key, want, order)
	}
	if f := s.nextFence(); a.Fence() != f {
		t.Fatalf("fence %d, model %d", a.Fence(), f)
	}
	s.m.allocs++
	mm := s.m.members[want]
	mm.state = pool.StateHeld
	mm.lease = &mLease{token: a.Token(), fence: a.Fence()}
	if ttl > 0 {
		mm.lease.deadline = s.m.now + ttl.Milliseconds()
	}
	if bind != "" {
		s.m.bindings[bind] = mBinding{key: want, exp: s.m.now + 3000}
	}
	s.leases = append(s.leases, a)
}

func (s *machine) lease(t *rapid.T) *pool.Allocation[proxy] {
	if len(s.leases) == 0 {
		t.Skip("no leases yet")
	}
	return rapid.SampledFrom(s.leases).Draw(t, "lease")
}

// holds reports whether the model says a is the current holding.
func (s *machine) holds(a *pool.Allocation[proxy]) bool {
	mm := s.m.members[a.Key]
	return mm != nil && mm.lease != nil && mm.lease.token == a.Token()
}

func (s *machine) Free(t *rapid.T) {
	a := s.lease(t)
	err := a.Release(s.ctx)
	if s.holds(a) {
		if err != nil {
			t.Fatalf("Free of a current lease: %v", err)
		}
		s.m.release(a.Key)
		return
	}
	if !errors.Is(err, pool.ErrNotHeld) {
		t.Fatalf("Free of a stale lease = %v, want ErrNotHeld", err)
	}
}

// MallocBatch runs several simple mallocs as one pool_malloc_many run,
// what concurrent callers get: the best free members in order, one each,
// with fences in that order, and nothing for those beyond the free ones.
func (s *machine) MallocBatch(t *rapid.T) {
	n := rapid.IntRange(2, 4).Draw(t, "n")
	ls, err := s.p.MallocBatch(s.ctx, n, 5*time.Second)
	if err != nil {
		t.Fatalf("MallocBatch: %v", err)
	}
	s.m.fire()
	order := s.m.freeOrder()
	for i, l := range ls {
		if i >= len(order) {
			if l != nil {
				t.Fatalf("malloc %d of the batch got %q, model says empty (order %q)", i, l.Key, order)
			}
			continue
		}
		if l == nil || l.Key != order[i] {
			t.Fatalf("malloc %d of the batch got %v, model %q (order %q)", i, l, order[i], order)
		}
		if f := s.nextFence(); l.Fence() != f {
			t.Fatalf("fence %d, model %d", l.Fence(), f)
		}
		s.m.allocs++
		mm := s.m.members[l.Key]
		mm.state = pool.StateHeld
		mm.lease = &mLease{token: l.Token(), fence: l.Fence(), deadline: s.m.now + 5000}
		s.leases = append(s.leases, &pool.Allocation[proxy]{Lease: l})
	}
}

// FreeMany frees several leases in one call, so one pool_free run: current
// and stale ones, the same lease twice, in any order. The outcome must be
// what freeing them one at a time in that order gives.
func (s *machine) FreeMany(t *rapid.T) {
	if len(s.leases) == 0 {
		t.Skip("no leases yet")
	}
	picks := rapid.SliceOfN(rapid.SampledFrom(s.leases), 2, 6).Draw(t, "leases")
	err := s.p.Release(s.ctx, picks...)
	lost := 0
	for _, a := range picks {
		if s.holds(a) {
			s.m.release(a.Key)
		} else {
			lost++
		}
	}
	var got []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		got = j.Unwrap()
	} else if err != nil {
		got = []error{err}
	}
	if len(got) != lost {
		t.Fatalf("Free of %d leases, %d not held: err %v", len(picks), lost, err)
	}
	for _, e := range got {
		if !errors.Is(e, pool.ErrNotHeld) {
			t.Fatalf("Free: %v, want ErrNotHeld", e)
		}
	}
}

func (s *machine) Refresh(t *rapid.T) {
	a := s.lease(t)
	// The server's clock here is the model's, the lease keeper's the real
	// one: refresh only leases far from their local deadline, so that no
	// call straddles it (one past it is refused without a call).
	if dl := a.Deadline(); !dl.IsZero() && time.Until(dl) < 250*time.Millisecond {
		t.Skip("the lease is near its local deadline")
	}
	err := a.Refresh(s.ctx, 2*time.Second)
	if s.holds(a) && (s.m.members[a.Key].lease.deadline == 0 || s.m.members[a.Key].lease.deadline > s.m.now) {
		if err != nil {
			t.Fatalf("Refresh of a current lease: %v", err)
		}
		s.m.members[a.Key].lease.deadline = s.m.now + 2000
		return
	}
	if !errors.Is(err, pool.ErrNotHeld) {
		t.Fatalf("Refresh of a lost lease = %v, want ErrNotHeld", err)
	}
	if s.holds(a) { // lapsed but not yet reclaimed: refresh reclaims it
		s.m.release(a.Key)
	}
}

func (s *machine) ReportUnhealthy(t *rapid.T) {
	a := s.lease(t)
	err := a.ReportUnhealthy(s.ctx, 2*time.Second)
	if s.holds(a) {
		if err != nil {
			t.Fatalf("ReportUnhealthy: %v", err)
		}
		s.m.members[a.Key].lease.mark = 2000
		return
	}
	if !errors.Is(err, pool.ErrNotHeld) && !errors.Is(err, pool.ErrNotMember) {
		t.Fatalf("ReportUnhealthy of a lost lease = %v", err)
	}
}

func (s *machine) FreeKeys(t *rapid.T) {
	k := rapid.SampledFrom(universe).Draw(t, "key")
	n, err := s.p.Admin().ForceReleaseKeys(s.ctx, k)
	mm := s.m.members[k]
	switch {
	case mm == nil:
		if !errors.Is(err, pool.ErrNotMember) {
			t.Fatalf("FreeKeys of a non-member = %v", err)
		}
	case mm.lease != nil:
		if err != nil || n != 1 {
			t.Fatalf("FreeKeys = %d, %v", n, err)
		}
		s.m.release(k)
	default:
		if err != nil || n != 0 {
			t.Fatalf("FreeKeys of an unheld member = %d, %v", n, err)
		}
	}
}

func (s *machine) SetUnhealthy(t *rapid.T) {
	k := rapid.SampledFrom(universe).Draw(t, "key")
	err := s.p.Admin().Quarantine(s.ctx, k, 2*time.Second)
	mm := s.m.members[k]
	switch {
	case mm == nil:
		if !errors.Is(err, pool.ErrNotMember) {
			t.Fatalf("SetUnhealthy of a non-member = %v", err)
		}
		return
	case err != nil:
		t.Fatalf("SetUnhealthy: %v", err)
	case mm.lease != nil:
		mm.lease.mark = 2000
	default:
		mm.state, mm.unhealthy = pool.StateUnhealthy, s.m.now+2000
	}
}

func (s *machine) SetHealthy(t *rapid.T) {
	k := rapid.SampledFrom(universe).Draw(t, "key")
	err := s.p.Admin().Quarantine(s.ctx, k, 0)
	mm := s.m.members[k]
	switch {
	case mm == nil:
		if !errors.Is(err, pool.ErrNotMember) {
			t.Fatalf("SetHealthy of a non-member = %v", err)
		}
		return
	case err != nil:
		t.Fatalf("SetHealthy: %v", err)
	case mm.lease != nil:
		mm.lease.mark = 0
	case mm.state == pool.StateUnhealthy:
		mm.state, mm.lastFree = pool.StateFree, s.m.now
	}
}

func (s *machine) Bind(t *rapid.T) {
	name := rapid.SampledFrom([]string{"w1", "w2"}).Draw(t, "name")
	k := rapid.SampledFrom(universe).Draw(t, "key")
	err := s.p.Admin().Bind(s.ctx, name, k, 0)
	if s.m.members[k] == nil {
		if !errors.Is(err, pool.ErrNotMember) {
			t.Fatalf("bind to a non-member = %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("UpdateSoftBind: %v", err)
	}
	s.m.bindings[name] = mBinding{key: k}
}

func (s *machine) Unbind(t *rapid.T) {
	name := rapid.SampledFrom([]string{"w1", "w2"}).Draw(t, "name")
	ok, err := s.p.Admin().Unbind(s.ctx, name)
	if err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	_, want := s.m.bindings[name]
	if ok != want {
		t.Fatalf("Unbind found %v, model %v", ok, want)
	}
	delete(s.m.bindings, name)
}

func (s *machine) GC(t *rapid.T) {
	if _, err := s.p.Admin().GC(s.ctx, 1000); err != nil {
		t.Fatalf("GC: %v", err)
	}
	s.m.fire()
}

func (s *machine) Clear(t *rapid.T) {
	if _, err := s.p.Admin().Clear(s.ctx); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	s.m.members, s.m.bindings = map[string]*mMember{}, map[string]mBinding{}
}

// Check compares the pool with the model after every step. Only the
// operations that handle due timers (Malloc, GC, a Refresh of a lapsed
// lease) handle them in the model too, so lazy reclaiming is covered.
func (s *machine) Check(t *rapid.T) {
	snap, err := s.p.Admin().Snapshot(s.ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if len(snap.Violations) > 0 {
		t.Fatalf("violations: %q", snap.Violations)
	}
	// The clock stands still between the two reads, so the cheap summary
	// must say exactly what the full read implies.
	st, err := s.p.Admin().Stats(s.ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if err := statsAgree(st, snap); err != nil {
		t.Fatal(err)
	}
	if got, want := snap.FreeOrder, s.m.freeOrder(); !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Fatalf("free order %q, model %q", got, want)
	}
	if snap.Fence != s.m.fence || snap.Allocations != s.m.allocs {
		t.Fatalf("fence %d, allocations %d; model %d, %d", snap.Fence, snap.Allocations, s.m.fence, s.m.allocs)
	}
	if len(snap.Members) != len(s.m.members) {
		t.Fatalf("%d members, model %d", len(snap.Members), len(s.m.members))
	}
	for _, mi := range snap.Members {
		mm := s.m.members[mi.Key]
		if mm == nil {
			t.Fatalf("member %q not in the model", mi.Key)
		}
		if mi.State != mm.state || mi.Priority != mm.prio {
			t.Fatalf("member %q: %s prio %d, model %s prio %d", mi.Key, mi.State, mi.Priority, mm.state, mm.prio)
		}
		if mm.lease != nil {
			if mi.Lease == nil || mi.Lease.Fence != mm.lease.fence || mi.Lease.PendingUnhealthy.Milliseconds() != mm.lease.mark || mi.Lease.Expired != mm.lease.expired {
				t.Fatalf("member %q lease %+v, model %+v", mi.Key, mi.Lease, mm.lease)
			}
		}
	}
	var names []string
	for n := range s.m.bindings {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) != len(snap.Bindings) {
		t.Fatalf("bindings %+v, model %v", snap.Bindings, s.m.bindings)
	}
	for i, bi := range snap.Bindings {
		if bi.Name != names[i] || bi.Key != s.m.bindings[bi.Name].key {
			t.Fatalf("binding %+v, model %v", bi, s.m.bindings)
		}
	}
}

func TestStateMachine(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	iter := 0
	rapid.Check(t, func(t *rapid.T) {
		iter++
		p, err := pool.New[proxy](b.Client, b.Prefix, fmt.Sprintf("sm%d", iter), pool.WithTimerBudget(pool.MaxBatch))
		if err != nil {
			t.Fatal(err)
		}
		s := &machine{
			t: t, ctx: context.Background(), b: b, p: p, base: base,
			m: &model{members: map[string]*mMember{}, bindings: map[string]mBinding{}},
		}
		s.setClock()
		t.Repeat(rapid.StateMachineActions(s))
	})
}
