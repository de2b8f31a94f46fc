// Package lease is the one lease keeper of the module: the local-deadline
// rule, the renewal loop, the synchronous validity check and the context of
// every lease-like thing a holder keeps alive on a Redis server (lock
// leases, pool leases, health sessions and task workers' liveness).
//
// # The deadline rule
//
// A holder learns that a renewal succeeded only after the server applied
// it, but the server's TTL may have started any time after the request was
// sent. So the local deadline counts from the monotonic time the request
// was SENT, and ends a drift margin early:
//
//	local deadline = sent + TTL − Margin(TTL),  Margin(TTL) = TTL/100 + 2ms
//
// That is strictly before the server can expire the thing and hand it to
// someone else, even with some clock-rate drift between the two hosts and
// late timers. Time is read from the monotonic clock only (time.Now's
// monotonic reading), so wall-clock steps do not move a deadline.
//
// # Expiry is decided by the clock, not by a timer
//
// [Keeper.Valid] reads the clock: a process resumed after a SIGSTOP (or a
// GC pause, or a suspended VM) longer than the lease finds it invalid at
// once, before any timer has run. A renewal whose answer arrives after the
// current local deadline does not revive the lease: the lease already
// ended locally, and the work bound to it was told to stop. The context
// ([Keeper.Context]) is cancelled by a timer at the deadline, which the Go
// runtime fires as soon as the process runs again, and its Err reads the
// clock as Valid does: past the deadline it ends the lease there and then,
// so ctx.Err() is never nil while Valid is false, however late the timer.
//
// # Leases without a deadline
//
// A TTL of 0 makes a lease with no deadline (a pool's permanent lease): it
// is valid until it ends (End, or a renewal that finds it lost), its
// context has no timer, Renew passes a TTL of 0 on, and Run does not renew
// it. RenewTTL with a positive TTL gives it a deadline from then on, by the
// rule above; nothing takes a deadline away again.
package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Margin is the drift margin of a lease of the given TTL: 1% of the TTL
// plus 2ms (the figures of the Redlock description). A TTL at or below the
// margin gives a lease that is never valid.
func Margin(ttl time.Duration) time.Duration { return ttl/100 + 2*time.Millisecond }

// Deadline is the local deadline of a grant or renewal of ttl whose request
// was sent at sent (read with time.Now, so it carries the monotonic clock):
// sent + ttl − Margin(ttl). A ttl of 0 (no deadline) gives the zero time.
func Deadline(sent time.Time, ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return sent.Add(ttl - Margin(ttl))
}

// Errors. Every cause a Keeper ends with matches one of them.
var (
	// ErrExpired is the cause of a lease whose local deadline passed
	// without a renewal.
	ErrExpired = errors.New("lease: expired")
	// ErrLost is the cause of a lease a renewal found gone on the server.
	ErrLost = errors.New("lease: lost")
	// ErrEnded is returned by Renew on a lease that already ended; it is
	// joined with the cause.
	ErrEnded = errors.New("lease: ended")
)

// RenewFunc renews the thing on the server for ttl (the Keeper's TTL, or
// the one given to RenewTTL). The ctx it gets ends at the current local
// deadline, or when the lease ends: an answer after that could not count.
// It returns nil when the server confirmed the renewal, an error
// for which the Keeper's IsLost reports true when the server says the
// thing is no longer held, and any other error for a renewal that may be
// retried.
type RenewFunc func(ctx context.Context, ttl time.Duration) error

// Config describes a lease. Renew is required.
type Config struct {
	// TTL is the server-side time to live each grant or renewal gives; 0
	// for a lease without a deadline (see the package doc).
	TTL time.Duration
	// Every is the renewal interval of Run (default a third of the current
	// TTL). It must be below TTL − Margin(TTL) for Run to keep the lease
	// alive.
	Every time.Duration
	// Retry is the delay before Run retries a failed renewal (default
	// a tenth of the current TTL, at most 100ms, at least 1ms).
	Retry time.Duration
	// Renew renews the thing on the server.
	Renew RenewFunc
	// IsLost reports whether a Renew error means the thing is gone for good
	// (default: never; every error is retried until the deadline).
	IsLost func(error) bool
	// Expired is the cause given to the context at the local deadline; it
	// should match ErrExpired or wrap it (default ErrExpired). Lost, if
	// set, wraps a Renew error IsLost accepted (default: the error joined
	// with ErrLost).
	Expired error
	Lost    func(err error) error
	// OnEnd, if set, is called once when the lease ends by expiry or loss
	// (not by End), with the cause, on the goroutine that noticed it (the
	// timer's, Run's, or a Renew or context Err caller's). It must not block for long or
	// call the Keeper.
	OnEnd func(cause error)
	// Parent supplies the values of the lease's context (default
	// context.Background()); its cancellation is ignored.
	Parent context.Context
	// Guard, if set, is one more condition of the lease, such as a
	// session that vouches for it: once it returns an error the lease
	// counts as ended. Valid then reports false, and the context's Err
	// ends the lease with that error. It is called without the Keeper's
	// lock and must not call the Keeper.
	Guard func() error
}

// Keeper is one lease: its local deadline, its context and its renewals.
// It is safe for concurrent use.
type Keeper struct {
	cfg Config

	mu       sync.Mutex
	deadline time.Time // local deadline, monotonic; zero: none
	sent     time.Time // when the request behind deadline was sent
	ttl      time.Duration
	every    time.Duration // 0: a third of ttl
	cause    error         // non-nil once ended
	ctx      context.Context
	cancel   context.CancelCauseFunc
	timer    *time.Timer
	// kick wakes Run when the deadline moved or the lease ended; made by
	// the first Run.
	kick chan struct{}
	// life ends when the lease ends, stopping renewals in flight; made by
	// the first renewal. Both are made lazily: most leases (a pool's
	// without KeepAlive) are never renewed.
	life context.Context
	die  context.CancelFunc
}

// New returns the keeper of a lease granted by a request sent at sent (read
// with time.Now before the request went out). It starts no goroutine; the
// context's timer is armed when Context is first called.
func New(sent time.Time, cfg Config) (*Keeper, error) {
	switch {
	case cfg.TTL < 0 || (cfg.TTL > 0 && cfg.TTL <= Margin(cfg.TTL)):
		return nil, fmt.Errorf("lease: ttl %v not above its margin %v", cfg.TTL, Margin(cfg.TTL))
	case cfg.Renew == nil:
		return nil, errors.New("lease: nil Renew")
	case cfg.Every < 0 || cfg.Retry < 0:
		return nil, fmt.Errorf("lease: negative interval (every %v, retry %v)", cfg.Every, cfg.Retry)
	}
	if cfg.IsLost == nil {
		cfg.IsLost = func(error) bool { return false }
	}
	if cfg.Expired == nil {
		cfg.Expired = ErrExpired
	}
	if cfg.Lost == nil {
		cfg.Lost = func(err error) error { return errors.Join(ErrLost, err) }
	}
	if cfg.Parent == nil {
		cfg.Parent = context.Background()
	}
	return &Keeper{
		cfg:      cfg,
		sent:     sent,
		deadline: Deadline(sent, cfg.TTL),
		ttl:      cfg.TTL,
		every:    cfg.Every,
	}, nil
}

// TTL returns the lease's current TTL.
func (k *Keeper) TTL() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ttl
}

// Deadline returns the local deadline: the lease is valid strictly before
// it (unless ended). The zero time for a lease without a deadline.
func (k *Keeper) Deadline() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.deadline
}

// Valid reports whether the lease is held as far as this process can know:
// not ended and its local deadline not reached. It reads the monotonic
// clock now, so it is right in the moment after a stall, before any timer
// has run; call it right before acting on the resource. It only reads: the
// context ends by its own timer.
func (k *Keeper) Valid() bool {
	now := time.Now()
	k.mu.Lock()
	ok := k.cause == nil && !k.lapsedLocked(now)
	k.mu.Unlock()
	return ok && (k.cfg.Guard == nil || k.cfg.Guard() == nil)
}

// lapsedLocked reports whether the local deadline passed at now; never for
// a lease without a deadline. k.mu is held.
func (k *Keeper) lapsedLocked(now time.Time) bool {
	return !k.deadline.IsZero() && !now.Before(k.deadline)
}

// Err returns nil while the lease has not ended, else the cause it ended
// with. Unlike Valid it does not read the clock: a lease past its deadline
// whose timer has not run yet still reports nil.
func (k *Keeper) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cause
}

// Context returns a context that ends when the lease ends: at the local
// deadline without a renewal (cause Config.Expired), when a renewal finds
// it lost (Config.Lost), when Config.Guard fails (its error) or at End
// (its cause). It carries Config.Parent's values. The first call arms a
// timer; a lease whose context is never asked for costs nothing in the
// background.
//
// Its Done channel is closed by that timer, which may run late on a
// loaded machine or after a stall; its Err does not wait for it: like
// Valid it reads the clock (and Guard), and a lease found over ends at
// once, so Err is non-nil (and Done closed) from the deadline on.
func (k *Keeper) Context() context.Context {
	k.mu.Lock()
	if k.ctx != nil {
		defer k.mu.Unlock()
		return k.ctx
	}
	inner, cancel := context.WithCancelCause(context.WithoutCancel(k.cfg.Parent))
	k.ctx, k.cancel = &leaseCtx{Context: inner, k: k}, cancel
	ctx := k.ctx
	switch {
	case k.cause != nil:
		k.cancel(k.cause)
	case k.lapsedLocked(time.Now()):
		k.endLocked(k.cfg.Expired, true)
		return ctx
	case k.deadline.IsZero(): // no deadline, no timer (RenewTTL arms one)
	default:
		k.timer = time.AfterFunc(time.Until(k.deadline), k.fire)
	}
	k.mu.Unlock()
	return ctx
}

// leaseCtx is a lease's context: a cancel context whose Err checks the
// lease first (see Keeper.Context). Done and Value are the inner
// context's, so contexts derived from it hang on the inner one directly.
type leaseCtx struct {
	context.Context
	k *Keeper
}

// Err ends the lease if it is over by the clock or its Guard, then
// reports the inner context's error.
func (c *leaseCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	c.k.expire()
	if g := c.k.cfg.Guard; g != nil {
		if err := g(); err != nil {
			c.k.End(err)
		}
	}
	return c.Context.Err()
}

// fire runs at the timer: it ends the lease if its deadline passed, else
// (a renewal moved it meanwhile) re-arms.
func (k *Keeper) fire() {
	now := time.Now()
	k.mu.Lock()
	if k.cause != nil || k.deadline.IsZero() {
		k.mu.Unlock()
		return
	}
	if now.Before(k.deadline) {
		k.timer.Reset(k.deadline.Sub(now))
		k.mu.Unlock()
		return
	}
	k.endLocked(k.cfg.Expired, true)
}

// expire ends the lease if its deadline passed.
func (k *Keeper) expire() {
	now := time.Now()
	k.mu.Lock()
	if k.cause != nil || !k.lapsedLocked(now) {
		k.mu.Unlock()
		return
	}
	k.endLocked(k.cfg.Expired, true)
}

// endLocked ends the lease with cause and unlocks k.mu. notify calls
// OnEnd (after unlocking).
func (k *Keeper) endLocked(cause error, notify bool) {
	k.cause = cause
	if k.die != nil {
		k.die()
	}
	if k.cancel != nil {
		k.cancel(cause)
	}
	if k.timer != nil {
		k.timer.Stop()
	}
	kick := k.kick
	k.mu.Unlock()
	signal(kick)
	if notify && k.cfg.OnEnd != nil {
		k.cfg.OnEnd(cause)
	}
}

// End ends the lease with cause (a release, a loss found by other means)
// and reports whether it was still held; a lease past its deadline counts
// as expired, not held. OnEnd is not called.
func (k *Keeper) End(cause error) bool {
	now := time.Now()
	k.mu.Lock()
	if k.cause != nil {
		k.mu.Unlock()
		return false
	}
	if k.lapsedLocked(now) {
		k.endLocked(k.cfg.Expired, true)
		return false
	}
	k.endLocked(cause, false)
	return true
}

// Renew renews the lease once. Its deadline, if the server confirms in
// time, becomes Deadline(sent, TTL) for the time the request was sent. It
// returns an error matching ErrEnded (joined with the cause) when the
// lease had ended or its deadline passed before the renewal was confirmed
// (a late renewal never revives a lease), the Renew error (the lease then
// ends with Config.Lost when IsLost accepts it), or nil.
func (k *Keeper) Renew(ctx context.Context) error { return k.renew(ctx, 0) }

// RenewTTL renews the lease once for ttl, which becomes its TTL from now
// on (for Run too); a shorter TTL moves the local deadline earlier, and a
// lease without a deadline gets one. As Renew otherwise. A ttl not above
// its margin ends nothing and returns an error.
func (k *Keeper) RenewTTL(ctx context.Context, ttl time.Duration) error {
	if ttl <= Margin(ttl) {
		return fmt.Errorf("lease: ttl %v not above its margin %v", ttl, Margin(ttl))
	}
	return k.renew(ctx, ttl)
}

// endedLocked returns the error a renewal reports on a lease that already
// ended, or whose local deadline passed by now (ending it, expired), and
// then releases k.mu; it returns nil, still locked, on a live lease.
func (k *Keeper) endedLocked(now time.Time) error {
	if k.cause != nil {
		cause := k.cause
		k.mu.Unlock()
		return errors.Join(ErrEnded, cause)
	}
	if k.lapsedLocked(now) {
		cause := k.cfg.Expired
		k.endLocked(cause, true)
		return errors.Join(ErrEnded, cause)
	}
	return nil
}

// renew is Renew with ttl, 0 for the current TTL.
func (k *Keeper) renew(ctx context.Context, ttl time.Duration) error {
	sent := time.Now()
	k.mu.Lock()
	if ttl == 0 {
		ttl = k.ttl
	}
	if err := k.endedLocked(sent); err != nil {
		return err
	}
	deadline := k.deadline
	if k.life == nil {
		k.life, k.die = context.WithCancel(context.Background())
	}
	life := k.life
	k.mu.Unlock()

	// The renewal stops at the deadline, and when the lease ends (End):
	// its answer could not count any more.
	var rctx context.Context
	var cancel context.CancelFunc
	if deadline.IsZero() {
		rctx, cancel = context.WithCancel(ctx)
	} else {
		rctx, cancel = context.WithDeadline(ctx, deadline)
	}
	stop := context.AfterFunc(life, cancel)
	err := k.cfg.Renew(rctx, ttl)
	stop()
	cancel()

	now := time.Now()
	k.mu.Lock()
	// Whatever the server said, a lease that ran out here first stays
	// ended: the work was (or is about to be) told to stop.
	if err := k.endedLocked(now); err != nil {
		return err
	}
	if err != nil {
		if k.cfg.IsLost(err) {
			k.endLocked(k.cfg.Lost(err), true)
			return err
		}
		k.mu.Unlock()
		return err
	}
	// The later request decides: the server applied it last.
	if !sent.Before(k.sent) {
		next := Deadline(sent, ttl)
		k.deadline, k.sent, k.ttl = next, sent, ttl
		switch {
		case next.IsZero(): // renewed without a deadline (a TTL of 0)
			if k.timer != nil {
				k.timer.Stop()
			}
		case k.timer != nil:
			k.timer.Reset(next.Sub(now))
		case k.ctx != nil: // the lease just got a deadline
			k.timer = time.AfterFunc(next.Sub(now), k.fire)
		}
	}
	kick := k.kick
	k.mu.Unlock()
	signal(kick)
	return nil
}

// Run renews the lease every Config.Every, counted from the send time of
// the last confirmed renewal, retrying a failed renewal every Config.Retry
// until the deadline. It returns when ctx ends (ctx.Err(); the lease is
// left as it is and lapses unless renewed otherwise) or when the lease
// ends (its cause). A Renew called elsewhere reschedules the loop. A lease
// without a deadline is not renewed: Run waits until RenewTTL gives it one
// or it ends.
func (k *Keeper) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	next := time.Time{}
	for {
		k.mu.Lock()
		if k.kick == nil {
			k.kick = make(chan struct{}, 1)
		}
		cause, sent, deadline, every, retry, kick := k.cause, k.sent, k.deadline, k.every, k.cfg.Retry, k.kick
		if every == 0 {
			every = k.ttl / 3
		}
		if retry == 0 {
			retry = max(min(k.ttl/10, 100*time.Millisecond), time.Millisecond)
		}
		k.mu.Unlock()
		if cause != nil {
			return cause
		}
		if deadline.IsZero() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-kick:
				continue
			}
		}
		if next.IsZero() || sent.Add(every).After(next) {
			next = sent.Add(every)
		}
		now := time.Now()
		if !now.Before(deadline) {
			k.expire()
			continue // ended: the next round returns the cause
		}
		if now.Before(next) {
			wake := next
			if deadline.Before(wake) {
				wake = deadline
			}
			t.Reset(wake.Sub(now))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-kick:
				continue
			case <-t.C:
				continue
			}
		}
		err := k.Renew(ctx)
		switch {
		case err == nil:
			next = time.Time{}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			next = time.Now().Add(retry)
		}
	}
}

// signal makes a non-blocking send: one pending wake-up is enough. A nil
// channel (no Run yet) takes none.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
