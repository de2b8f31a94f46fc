package lock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Quorum is a lock over N independent Redis servers: the Redlock scheme
// the reference points Redis Cluster users to. A lease exists while a
// majority (N/2+1) of the servers hold its token, and only for the part of
// the TTL left after the acquisition round trips and a clock-drift margin.
// It keeps working while a minority of the servers is down.
//
// Each server holds the same keys a [Locker] with the same prefix would
// use. Fencing tokens stay strictly increasing across the servers: after
// taking a majority, the lease's token is the highest counter among them,
// and every server of that majority is raised to it before the lease is
// returned, so any later majority (which shares a server with this one)
// numbers above it. Like every Redlock, the scheme assumes servers that
// keep their data (persistence, or a restart delayed beyond the TTL) and
// bounded clock drift.
//
// A Quorum is safe for concurrent use. The caller owns the clients.
type Quorum struct {
	servers []quorumServer
	prefix  string
	opts    options
	inst    *instruments
	q       *queues
}

type quorumServer struct {
	r     *redisx.Runner
	track *redisx.Tracker
}

// NewQuorum returns a quorum lock over clients, one per independent Redis
// server (not nodes of one cluster, nor a primary and its replica: they
// share fate). One or two clients are allowed but give no fault
// tolerance. Errors: ErrInvalid (no clients, a nil client, one client
// twice, a bad prefix, a bad option). It sends nothing to
// Redis.
func NewQuorum(clients []rueidis.Client, prefix string, opts ...Option) (*Quorum, error) {
	if len(clients) == 0 {
		return nil, fmt.Errorf("lock.NewQuorum: %w: clients is empty", ErrInvalid)
	}
	for i, c := range clients {
		if c == nil {
			return nil, fmt.Errorf("lock.NewQuorum: client %d: %w", i, errNilClient)
		}
		for j := range i {
			if clients[j] == c {
				return nil, fmt.Errorf("lock.NewQuorum: %w: clients %d and %d are the same", ErrInvalid, j, i)
			}
		}
	}
	if err := redisx.ValidateName("prefix", prefix); err != nil {
		return nil, fmt.Errorf("lock.NewQuorum: %w", keyError(err))
	}
	o, err := buildOptions(options{}, opts)
	if err != nil {
		return nil, fmt.Errorf("lock.NewQuorum: %w", err)
	}
	prov := otel.NewProviders(o.tp, o.mp)
	q := &Quorum{prefix: prefix, opts: o, inst: newInstruments(prov), q: newQueues()}
	for _, c := range clients {
		q.servers = append(q.servers, quorumServer{r: redisx.NewRunner(c, prov, scriptErrors), track: redisx.NewTracker(c)})
	}
	return q, nil
}

// Mutex returns the quorum mutex for the lock key, with the Quorum's
// options and opts (WithTTL, WithWatchdog, WithPollInterval,
// WithQuorumTimeout). It sends nothing to Redis.
func (q *Quorum) Mutex(key string, opts ...MutexOption) (*Mutex, error) {
	k, err := space{prefix: q.prefix}.keys(key)
	if err != nil {
		return nil, fmt.Errorf("lock.Quorum.Mutex: %w", err)
	}
	o, err := buildOptions(q.opts, opts)
	if err != nil {
		return nil, fmt.Errorf("lock.Quorum.Mutex %q: %w", key, err)
	}
	b := &quorum{ttl: o.ttl, timeout: min(o.quorumTimeout, o.ttl/3)}
	for _, s := range q.servers {
		b.servers = append(b.servers, newSingle(s.r, s.track, k, o))
	}
	return newMutex(key, o, b, q.inst, q.q), nil
}

// quorum is the backend of a quorum Mutex.
type quorum struct {
	servers []*single
	ttl     time.Duration
	timeout time.Duration // per server and round
}

func (b *quorum) need() int { return len(b.servers)/2 + 1 }

// each runs fn on every server at once, each bounded by the round timeout.
func (b *quorum) each(ctx context.Context, fn func(ctx context.Context, i int, s *single)) {
	var wg sync.WaitGroup
	for i, s := range b.servers {
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, b.timeout)
			defer cancel()
			fn(c, i, s)
		})
	}
	wg.Wait()
}

func serverError(i int, err error) error {
	return fmt.Errorf("server %d: %w", i, err)
}

func (b *quorum) try(ctx context.Context, token string) (attempt, error) {
	start := time.Now()
	validUntil := lease.Deadline(start, b.ttl)
	res := make([]attempt, len(b.servers))
	errs := make([]error, len(b.servers))
	b.each(ctx, func(c context.Context, i int, s *single) {
		res[i], errs[i] = s.attempt(c, token)
	})
	var got, failed int
	var fence int64
	wait := time.Duration(-1)
	for i, a := range res {
		switch {
		case errs[i] != nil:
			failed++
			errs[i] = serverError(i, errs[i])
		case a.ok:
			got++
			fence = max(fence, a.fence)
		case a.wait >= 0 && (wait < 0 || a.wait < wait):
			wait = a.wait
		}
	}
	if got >= b.need() && time.Now().Before(validUntil) &&
		b.raise(ctx, res, errs, fence) >= b.need() && time.Now().Before(validUntil) {
		return attempt{ok: true, fence: fence, sent: start}, nil
	}
	// No lease: undo whatever was taken, on every server that granted it
	// or did not answer (it may have taken it all the same).
	b.releaseWhere(ctx, token, func(i int) bool { return res[i].ok || errs[i] != nil })
	if failed > len(b.servers)-b.need() {
		return attempt{}, errors.Join(ErrNoQuorum, errors.Join(errs...))
	}
	return attempt{wait: wait}, nil
}

// raise lifts the fencing counters of the servers that granted the lease
// to fence, and returns how many of them are at fence afterwards.
func (b *quorum) raise(ctx context.Context, res []attempt, errs []error, fence int64) int {
	var mu sync.Mutex
	at := 0
	floor := strconv.FormatInt(fence, 10)
	b.each(ctx, func(c context.Context, i int, s *single) {
		if errs[i] != nil || !res[i].ok {
			return
		}
		if res[i].fence < fence {
			if _, err := s.r.Run(c, script.LockFenceRaise, s.k.fence, []string{floor}); err != nil {
				return
			}
		}
		mu.Lock()
		at++
		mu.Unlock()
	})
	return at
}

// releaseWhere releases token on the servers where pick is true, even
// when ctx has ended: an abandoned attempt must not leave keys behind.
func (b *quorum) releaseWhere(ctx context.Context, token string, pick func(i int) bool) {
	ctx = context.WithoutCancel(ctx)
	b.each(ctx, func(c context.Context, i int, s *single) {
		if pick(i) {
			_ = s.release(c, token) // best effort; the TTL ends what remains
		}
	})
}

func (b *quorum) refresh(ctx context.Context, token string) error {
	errs := make([]error, len(b.servers))
	b.each(ctx, func(c context.Context, i int, s *single) {
		errs[i] = s.refresh(c, token)
	})
	var ok, notHeld int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrNotHeld):
			notHeld++
		default:
			errs[i] = serverError(i, err)
		}
	}
	switch {
	case ok >= b.need():
		return nil
	case notHeld > len(b.servers)-b.need():
		return ErrNotHeld
	}
	return errors.Join(ErrNoQuorum, errors.Join(errs...))
}

func (b *quorum) release(ctx context.Context, token string) error {
	errs := make([]error, len(b.servers))
	b.each(ctx, func(c context.Context, i int, s *single) {
		errs[i] = s.release(c, token)
	})
	var failed []error
	for i, err := range errs {
		switch {
		case err == nil:
			return nil // deleted somewhere: the lease was still there
		case !errors.Is(err, ErrNotHeld):
			failed = append(failed, serverError(i, err))
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	return ErrNotHeld
}

// handoff takes two round trips: the attempt for the next token needs a
// majority of its own, with the fencing counters raised.
func (b *quorum) handoff(ctx context.Context, token string, next backend, nextToken string) (a attempt, relErr, err error) {
	return sequentialHandoff(ctx, b, token, next, nextToken)
}

func (b *quorum) check(ctx context.Context, token string) (bool, error) {
	var mu sync.Mutex
	var ours, failed int
	var errs []error
	b.each(ctx, func(c context.Context, i int, s *single) {
		ok, err := s.check(c, token)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failed++
			errs = append(errs, serverError(i, err))
		case ok:
			ours++
		}
	})
	switch {
	case ours >= b.need():
		return true, nil
	case ours+failed < b.need():
		return false, nil
	}
	return false, errors.Join(ErrNoQuorum, errors.Join(errs...))
}

func (b *quorum) watch(ctx context.Context, token string, notify chan<- struct{}) watchState {
	states := make([]watchState, len(b.servers))
	b.each(ctx, func(c context.Context, i int, s *single) {
		states[i] = s.watch(c, token, notify)
	})
	ws := watchState{tracked: true}
	for _, st := range states {
		ws.tracked = ws.tracked && st.tracked
		ws.free += st.free
		ws.ours += st.ours
		ws.unknown += st.unknown
	}
	ws.end = func() {
		for _, st := range states {
			st.stop()
		}
	}
	return ws
}
