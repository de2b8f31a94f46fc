package lock

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Waiting in one process: a queue per lock key.
//
// When several Acquires of one process wait for the same lock, only the
// first of them (the watcher) watches Redis and retries; the others park
// on a channel in arrival order. A release from this process with a queue
// behind it hands the lock to the first waiter: it deletes its own token
// and runs an ordinary acquisition for the waiter's token in the same
// round trip (two scripts, pipelined), so the waiter's lease has a token
// of its own and a fencing number Redis issued for it, as any other. Other
// processes may take the lock between the two scripts; the waiter then
// keeps its place at the head of the queue and waits on. Waiters in other
// processes still learn of a release from invalidations (or polling).
//
// Lock order: queues.mu before gate.mu; no Redis call under either.

// queues holds the queues of one Locker or Quorum, by lock key.
type queues struct {
	n  atomic.Int32 // len(m): an uncontended Acquire and Release read only this
	mu sync.Mutex
	m  map[string]*gate
}

func newQueues() *queues { return &queues{m: map[string]*gate{}} }

// gate is the queue of one lock key. It exists while anyone uses it (refs).
type gate struct {
	key  string
	refs int // guarded by queues.mu

	mu       sync.Mutex
	queue    []*ticket  // waiting, in arrival order
	watcher  *ticket    // the one that watches Redis for the queue, if any
	trying   bool       // the watcher's own attempt is in flight
	inflight int        // handoffs under way: the watcher waits for them
	poke     bool       // released while the watcher was trying: try again
	held     string     // token of a lease of this process that took the lock through the queue
	heldSeq  uint64     // counts the values of held
	expiry   time.Time  // when the last holder seen runs out; zero: unknown
	ws       watchState // the current watch; only the watcher replaces it
}

type ticketState uint8

const (
	queued    ticketState = iota
	claimed               // a release is handing the lock to it
	abandoned             // claimed, but its Acquire has given up
	handed                // the handoff succeeded: a holds it
)

// ticket is one waiting Acquire.
type ticket struct {
	m      *Mutex
	token  string
	wake   chan struct{} // capacity 1: look at state again
	notify chan struct{} // the watches of t, made when t first watches
	delay  time.Duration // next polling delay while watching
	lazy   uint64        // the heldSeq t has already waited out once

	state ticketState // guarded by gate.mu
	a     attempt     // when handed
}

// busy reports whether key has a queue: a new Acquire then queues behind
// it rather than trying first.
func (q *queues) busy(key string) bool {
	if q.n.Load() == 0 {
		return false
	}
	q.mu.Lock()
	_, ok := q.m[key]
	q.mu.Unlock()
	return ok
}

// join appends t to key's queue, creating it.
func (q *queues) join(key string, t *ticket) *gate {
	q.mu.Lock()
	g := q.m[key]
	if g == nil {
		g = &gate{key: key}
		q.m[key] = g
		q.n.Add(1)
	}
	g.refs++
	q.mu.Unlock()
	g.mu.Lock()
	g.queue = append(g.queue, t)
	if g.watcher == nil && g.queue[0] == t {
		signal(t.wake)
	}
	g.mu.Unlock()
	return g
}

// ref returns key's queue, if any, for the caller to use until drop.
func (q *queues) ref(key string) *gate {
	if q.n.Load() == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	g := q.m[key]
	if g != nil {
		g.refs++
	}
	return g
}

// drop ends one use of g; the last one removes it.
func (q *queues) drop(g *gate) {
	q.mu.Lock()
	if g.refs--; g.refs == 0 && q.m[g.key] == g {
		delete(q.m, g.key)
		q.n.Add(-1)
	}
	q.mu.Unlock()
}

func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// tidyLocked restores the invariants after a change: a queue without a
// watcher has its first ticket told to become it, and a gate nobody waits
// at gives up its watch, which the caller must stop.
func (g *gate) tidyLocked() watchState {
	if g.watcher != nil {
		return watchState{}
	}
	if len(g.queue) > 0 {
		signal(g.queue[0].wake)
		return watchState{}
	}
	ws := g.ws
	g.ws = watchState{}
	return ws
}

// removeLocked takes t out of the queue (and of the watcher's role).
func (g *gate) removeLocked(t *ticket) watchState {
	if i := slices.Index(g.queue, t); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
	}
	if g.watcher == t {
		g.watcher = nil
	}
	return g.tidyLocked()
}

// claimLocked takes the first waiter for a handoff, unless it is in the
// middle of an attempt of its own (then there is nobody to claim).
func (g *gate) claimLocked() (*ticket, watchState) {
	if len(g.queue) == 0 {
		return nil, watchState{}
	}
	t := g.queue[0]
	if t == g.watcher && g.trying {
		return nil, watchState{}
	}
	g.queue = slices.Delete(g.queue, 0, 1)
	t.state = claimed
	g.inflight++
	signal(t.wake)
	// t stays the watcher, if it was, until it notices the claim.
	return t, g.tidyLocked()
}

// deliver ends the handoff to t. A successful one gives t the lock; a
// failed one puts t back at the head of the queue. It reports whether t
// had given up meanwhile and got the lock all the same: the caller then
// holds it for t and must release it (handing it on).
func (g *gate) deliver(t *ticket, a attempt, ttl time.Duration) (orphan bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.watcher != nil {
		signal(g.watcher.wake) // it may watch again
	}
	if a.ok {
		g.expiry = a.sent.Add(ttl)
		g.setHeldLocked(t.token)
	}
	switch t.state {
	case abandoned:
		return a.ok
	case claimed:
		if a.ok {
			t.state, t.a = handed, a
		} else {
			t.state = queued
			g.queue = slices.Insert(g.queue, 0, t)
			g.tidyLocked() // the queue is not empty: nothing to stop
		}
		signal(t.wake)
	}
	return false
}

func (g *gate) setHeldLocked(token string) {
	g.held = token
	g.heldSeq++
}

// released records a release that handed nothing over: the watcher is
// told to try again, since its attempt may have run before the delete.
func (g *gate) released() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expiry = time.Time{}
	if len(g.queue) == 0 {
		return
	}
	g.poke = true
	if g.watcher != nil {
		signal(g.watcher.wake)
	} else {
		signal(g.queue[0].wake)
	}
}

// await waits in g's queue until t is handed the lock, t's own attempt
// as the watcher succeeds or fails, or ctx ends. holderTTL is the
// holder's remaining TTL t's attempt before queueing found (< 0: unknown);
// the queue keeps the latest such finding as the holder's expiry.
func (g *gate) await(ctx context.Context, t *ticket, holderTTL time.Duration) (attempt, error) {
	var stopping sync.WaitGroup // watches given up, being stopped
	defer stopping.Wait()
	stop := func(ws watchState) {
		if ws.end != nil {
			stopping.Go(ws.stop)
		}
	}
	if holderTTL >= 0 {
		g.mu.Lock()
		if g.expiry.IsZero() {
			g.expiry = time.Now().Add(holderTTL)
		}
		g.mu.Unlock()
	}
	for {
		g.mu.Lock()
		if t.state != queued && g.watcher == t {
			// Claimed: someone else watches for the queue from now on.
			g.watcher = nil
			stop(g.tidyLocked())
		}
		switch t.state {
		case handed:
			g.mu.Unlock()
			return t.a, nil
		case claimed:
			g.mu.Unlock()
			select {
			case <-t.wake:
			case <-ctx.Done():
				g.mu.Lock()
				if t.state == claimed {
					// The releaser sees this and hands the lock on.
					t.state = abandoned
					g.mu.Unlock()
					return attempt{}, ctx.Err()
				}
				g.mu.Unlock()
			}
			continue
		}
		if g.watcher == nil && g.queue[0] == t {
			g.watcher = t
		}
		if g.watcher != t || g.inflight > 0 {
			// Parked; the watcher also waits for a handoff under way,
			// which changes the lock key: watching it now would only
			// wake it for nothing.
			g.mu.Unlock()
			select {
			case <-t.wake:
				continue
			case <-ctx.Done():
				return g.leave(ctx, t, stop)
			}
		}
		tryNow := g.poke
		g.poke = false
		holderTTL = -1 // unknown
		if !g.expiry.IsZero() {
			holderTTL = max(time.Until(g.expiry), 0)
		}
		g.mu.Unlock()

		if !tryNow {
			again, err := g.watch(ctx, t, holderTTL, stop)
			if err != nil {
				return g.leave(ctx, t, stop)
			}
			if again {
				continue // the state changed: look again
			}
		}

		// The watcher's own attempt.
		g.mu.Lock()
		if t.state != queued {
			g.mu.Unlock()
			continue
		}
		g.poke = false
		g.trying = true
		if len(g.queue) == 1 {
			// Alone: the watch ends while the attempt runs. Giving the
			// tracking connection back costs a round trip, which would
			// otherwise delay a waiter that has just been woken.
			stop(g.ws)
			g.ws = watchState{}
		}
		g.mu.Unlock()
		a, err := t.m.be.try(ctx, t.token)
		g.mu.Lock()
		g.trying = false
		if err != nil || a.ok {
			if a.ok {
				g.expiry = a.sent.Add(t.m.o.ttl)
				g.poke = false
				g.setHeldLocked(t.token)
			}
			stop(g.removeLocked(t))
			g.mu.Unlock()
			return a, err
		}
		g.expiry = time.Time{}
		if a.wait >= 0 {
			g.expiry = time.Now().Add(a.wait)
		}
		g.mu.Unlock()
		t.m.inst.contended(ctx, opAcquire)
	}
}

// leave takes t out of the queue after ctx ended and returns ctx's error,
// unless t was handed the lock meanwhile: then it keeps it.
func (g *gate) leave(ctx context.Context, t *ticket, stop func(watchState)) (attempt, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch t.state {
	case queued:
		stop(g.removeLocked(t))
	case claimed, handed:
		if g.watcher == t {
			g.watcher = nil
			stop(g.tidyLocked())
		}
		if t.state == handed {
			return t.a, nil
		}
		t.state = abandoned
	}
	return attempt{}, ctx.Err()
}

// watch is the watcher's wait: it watches the lock key (or polls) until
// the lock may have become free. It reports again when t's state changed
// and must be looked at first, and ctx.Err() when ctx ended.
func (g *gate) watch(ctx context.Context, t *ticket, holderTTL time.Duration, stop func(watchState)) (again bool, err error) {
	m := t.m
	if again, err := g.lazyWait(ctx, t); again || err != nil {
		return again, err
	}
	if t.notify == nil {
		t.notify = make(chan struct{}, 1)
	}
	select {
	case <-t.notify: // from an earlier watch: this one reads afresh
	default:
	}
	var timeout time.Duration
	if !m.o.noTracking {
		ws := m.be.watch(ctx, t.token, t.notify)
		g.mu.Lock()
		old := g.ws
		g.ws = ws
		st, poked := t.state, g.poke
		g.mu.Unlock()
		stop(old)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if st != queued || poked || ws.free >= m.be.need() {
			return st != queued, nil
		}
		if ws.tracked {
			timeout = trackedRecheck
			if holderTTL >= 0 {
				timeout = min(timeout, holderTTL+time.Millisecond)
			}
		}
	}
	if timeout == 0 {
		timeout = jitter(t.delay)
		t.delay = min(2*t.delay, m.o.pollMax)
		if holderTTL >= 0 {
			timeout = min(timeout, holderTTL+time.Millisecond)
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.notify:
			return false, nil
		case <-timer.C:
			return false, nil
		case <-t.wake:
			g.mu.Lock()
			st, poked := t.state, g.poke
			g.mu.Unlock()
			if st != queued {
				return true, nil
			}
			if poked {
				return false, nil
			}
		}
	}
}

// lazyWait puts off watching Redis while a lease of this process holds
// the lock: its release hands the lock over directly, so a watch would
// mostly cost a read and an invalidation per holder. Changes made
// elsewhere in the meantime (the lock deleted by force, taken after its
// TTL) are noticed at the holder's expiry or within trackedRecheck, and
// the wait is made once per holder.
func (g *gate) lazyWait(ctx context.Context, t *ticket) (again bool, err error) {
	g.mu.Lock()
	if g.held == "" || t.lazy == g.heldSeq || g.poke || t.state != queued {
		g.mu.Unlock()
		return false, nil
	}
	t.lazy = g.heldSeq
	timeout := trackedRecheck
	if !g.expiry.IsZero() {
		timeout = min(timeout, time.Until(g.expiry)+time.Millisecond)
	}
	g.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			return false, nil
		case <-t.wake:
			g.mu.Lock()
			st, poked, held := t.state, g.poke, g.held
			g.mu.Unlock()
			if st != queued || poked || held == "" {
				return true, nil
			}
		}
	}
}

// lost tells the queue that the lease of token found its lock deleted or
// taken over: the first waiter stops waiting for its release.
func (m *Mutex) lost(token string) {
	g := m.q.ref(m.key)
	if g == nil {
		return
	}
	defer m.q.drop(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == token {
		g.held = ""
		if g.watcher != nil {
			signal(g.watcher.wake)
		}
	}
}

// release ends token's hold on the lock. When another Acquire of this
// process waits for the lock, the same round trip acquires it for the
// first of them (see the top of this file). It returns the outcome of
// deleting token's lock.
func (m *Mutex) release(ctx context.Context, token string) error {
	g := m.q.ref(m.key)
	if g == nil {
		return m.be.release(ctx, token)
	}
	defer m.q.drop(g)
	be := m.be
	var first error
	for n := 0; ; n++ {
		g.mu.Lock()
		if g.held == token {
			g.held = ""
		}
		t, ws := g.claimLocked()
		g.mu.Unlock()
		ws.stop()
		if t == nil {
			err := be.release(ctx, token)
			g.released()
			if n == 0 {
				first = err
			}
			return first
		}
		a, relErr, err := be.handoff(ctx, token, t.m.be, t.token)
		if n == 0 {
			first = relErr
		}
		if err != nil {
			a = attempt{wait: -1}
		}
		if !g.deliver(t, a, t.m.o.ttl) {
			return first
		}
		// t gave up while we acquired for it: release its lock in turn,
		// handing it on, even if ctx has ended.
		be, token = t.m.be, t.token
		if n == 0 {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(m.o.quorumTimeout, time.Second))
			defer cancel()
			ctx = c
		}
	}
}

// sequentialHandoff is a handoff in two round trips: release, then an
// attempt for next (by its own storage), unless the release failed.
func sequentialHandoff(ctx context.Context, be backend, token string, next backend, nextToken string) (a attempt, relErr, err error) {
	relErr = be.release(ctx, token)
	if relErr != nil && !errors.Is(relErr, ErrNotHeld) {
		return attempt{wait: -1}, relErr, nil
	}
	a, err = next.try(ctx, nextToken)
	return a, relErr, err
}
