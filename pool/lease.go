package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Lease is one member held by one caller. Its token proves the holding to
// every owner-checked operation; its fencing number is strictly greater than
// that of every earlier allocation of the pool, so a resource that sees
// fencing numbers can refuse a stale holder.
//
// A lease is kept by the module's one lease keeper (shared with lock
// leases, health sessions and task workers): it is valid until its local deadline
// ([Lease.Deadline]), the monotonic time at which the malloc or the last
// successful Refresh was sent, plus the TTL, less a margin of 1% + 2ms for
// clock drift, so strictly before the server can hand the member to
// someone else. Refresh and KeepAlive move it on. A process that stalls (a
// long GC pause, a SIGSTOP, a suspended VM) finds its lease invalid when it
// resumes, and a refresh answered after the deadline does not revive it.
// A permanent lease (LeaseTTL(Permanent)) has no deadline: it is valid until
// released or lost.
//
// A Lease is safe for concurrent use. In shared mode a lease holds nothing:
// Fence is 0, it is always valid, its Context never ends, and Release,
// Refresh and ReportUnhealthy do nothing but return nil.
type Lease struct {
	// Key is the member.
	Key string

	// token proves this holding to the scripts; empty in shared mode.
	token string
	fence int64
	c     *core
	// keep keeps the local deadline, the context and the renewals; nil in
	// shared mode.
	keep *lease.Keeper
	// unhook unhooks the lease from the context of the worker session it
	// was taken under, if any.
	unhook func() bool
	// doneKA is closed when the keep-alive goroutine, if any, has exited.
	doneKA chan struct{}
}

// Causes a lease's context ends with; each matches ErrNotHeld.
var (
	errLeaseEnded  = fmt.Errorf("%w: lease released", ErrNotHeld)
	errLeaseLapsed = fmt.Errorf("%w: lease lapsed (not refreshed within its TTL)", ErrNotHeld)
)

// newLease makes the lease of a member granted by a malloc sent at sent.
func newLease(c *core, key, token string, fence int64, sent time.Time, mc mallocConfig) *Lease {
	l := &Lease{Key: key, token: token, fence: fence, c: c}
	if token == "" {
		return l // shared mode: nothing held
	}
	ttl := mc.ttl
	if mc.permanent {
		ttl = 0 // no deadline; Refresh(ctx, 0) keeps it so
	}
	cfg := lease.Config{
		TTL:     ttl,
		Every:   mc.keepAlive,
		Renew:   l.renew,
		IsLost:  isNotHeld,
		Expired: errLeaseLapsed,
		Lost:    func(err error) error { return err }, // it matches ErrNotHeld
	}
	if mc.session != nil {
		cfg.OnEnd = l.ended // unhooks the lease from its session
		cfg.Guard = sessionGuard(mc.session)
	}
	k, err := lease.New(sent, cfg)
	if err != nil {
		panic("bug: pool lease config: " + err.Error()) // the options were validated
	}
	l.keep = k
	if mc.session != nil {
		sctx := mc.session.Context()
		// The session vouches for the lease: when it ends, so does the lease.
		l.unhook = context.AfterFunc(sctx, func() { k.End(sessionEnded(mc.session)) })
	}
	if mc.keepAlive > 0 {
		done := make(chan struct{})
		l.doneKA = done
		go func() {
			defer close(done)
			_ = k.Run(context.Background()) // returns when the lease ends
		}()
	}
	return l
}

func isNotHeld(err error) bool { return errors.Is(err, ErrNotHeld) }

// renew refreshes the lease on the server for ttl (0: permanent); the
// keeper calls it.
func (l *Lease) renew(ctx context.Context, ttl time.Duration) error {
	arg := "0"
	if ttl > 0 {
		arg = ms(ttl)
	}
	msg, err := l.c.runScript(ctx, script.PoolRefresh, []string{l.Key, l.token, arg})
	if err != nil {
		return err
	}
	if _, err := msg.AsInt64(); err != nil {
		return fmt.Errorf("pool %s: refresh: unexpected reply: %w", l.c.name, err)
	}
	return nil
}

// ended runs once when the keeper ends the lease by expiry or loss.
func (l *Lease) ended(error) {
	if l.unhook != nil {
		l.unhook()
	}
}

// end ends the lease with cause (a release, a loss found by another call).
func (l *Lease) end(cause error) {
	l.keep.End(cause)
	l.ended(cause)
}

// Fence returns the allocation's fencing number: strictly greater than that
// of every earlier allocation of the pool, also across lost Redis writes
// (see the package doc: it is at least the server's clock in microseconds,
// so large and not consecutive), so a resource that sees it can refuse a
// stale holder. It is 0 in shared mode.
func (l *Lease) Fence() int64 { return l.fence }

// Deadline returns the lease's local deadline: it is valid strictly before
// it (unless released or lost), and the pool cannot hand the member to
// anyone else before it. Refresh and KeepAlive move it. The zero time for
// permanent and shared leases.
func (l *Lease) Deadline() time.Time {
	if l.keep == nil {
		return time.Time{}
	}
	return l.keep.Deadline()
}

// Valid reports whether the lease still holds the member as far as this
// process can know: not released, not lost (to a Refresh, ReportUnhealthy
// or the keep-alive that found it gone, or to the end of its session), and
// its local deadline not passed. It reads the monotonic clock now, so it
// is right even in the moment after a stall, before the lease's timers have
// run: call it right before acting on the resource. False for a nil Lease;
// always true in shared mode.
func (l *Lease) Valid() bool {
	switch {
	case l == nil:
		return false
	case l.keep == nil:
		return true
	}
	return l.keep.Valid() // the session's validity included (its Guard)
}

// sessionValid reports whether s still vouches for its leases: its own
// synchronous check when it has one (health.Session does), else its
// context.
func sessionValid(s Session) bool {
	if v, ok := s.(interface{ Valid() bool }); ok {
		return v.Valid()
	}
	return s.Context().Err() == nil
}

// errSessionInvalid is the cause given for a session that reports itself
// invalid while its context has not ended.
var errSessionInvalid = errors.New("session no longer valid")

// sessionCause is why s no longer vouches for its leases: its context's
// cause, or errSessionInvalid for a session that reports itself invalid
// before its context ended.
func sessionCause(s Session) error {
	sctx := s.Context()
	_ = sctx.Err() // a lease context checks its deadline here (see lease.Keeper.Context)
	if cause := context.Cause(sctx); cause != nil {
		return cause
	}
	return errSessionInvalid
}

// sessionEnded is the cause a lease taken under s ends with when s ends;
// it matches ErrNotHeld and the session's own cause.
func sessionEnded(s Session) error {
	return fmt.Errorf("%w: session %s ended: %w", ErrNotHeld, s.ID(), sessionCause(s))
}

// sessionOver is the error of a malloc under s once s has ended: bad
// input (nothing is written), matching the session's cause too.
func sessionOver(s Session) error {
	return fmt.Errorf("%w: InSession: session %s has ended: %w", errInvalidOption, s.ID(), sessionCause(s))
}

// sessionGuard is the lease-keeper guard of a lease taken under s: the
// lease is over as soon as s stops vouching for it, before the session's
// context ends (see Session).
func sessionGuard(s Session) func() error {
	return func() error {
		if sessionValid(s) {
			return nil
		}
		return sessionEnded(s)
	}
}

// Context returns a context that is cancelled when the lease ends: at its
// local deadline (see Lease), when Release succeeds, when Refresh,
// ReportUnhealthy or the keep-alive learns the lease is gone, or when the
// session it was taken under ends. context.Cause tells which; it matches
// ErrNotHeld. A refresh answered after the deadline does not revive it.
// Work bound to the resource should use it, and check Valid right before
// acting. Its Err reads the clock as Valid does, so it is non-nil from the
// local deadline on even when the timer that closes Done runs late. In
// shared mode the context never ends.
func (l *Lease) Context() context.Context {
	if l.keep == nil {
		return context.Background()
	}
	return l.keep.Context()
}

// Release ends the lease and returns the member to the pool (to quarantine
// if ReportUnhealthy was called, or out of the pool if it expired
// meanwhile). A second Release, or a Release after the lease lapsed and the
// member went to someone else, returns ErrNotHeld and changes nothing. A nil
// Lease returns ErrNotHeld. It also stops the keep-alive, if any.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil {
		return ErrNotHeld
	}
	if l.token == "" {
		return nil
	}
	start := time.Now()
	err := l.c.free(ctx, []*Lease{l})
	l.c.met.freed(ctx, start, err)
	return err
}

// free ends leases in one script and ends each one released or found
// lost. The error joins one error per lease not released.
func (c *core) free(ctx context.Context, leases []*Lease) error {
	if len(leases) > maxBatch {
		return fmt.Errorf("%w: %d leases in one call, at most %d", errInvalidCount, len(leases), maxBatch)
	}
	args := make([]string, 0, 2*len(leases))
	var held []*Lease
	for _, l := range leases {
		if l == nil || l.token == "" {
			continue
		}
		args = append(args, l.Key, l.token)
		held = append(held, l)
	}
	if len(held) == 0 {
		return nil
	}
	if err := c.checkCtx(ctx); err != nil {
		return err
	}
	var codes []int64
	if len(held) == 1 {
		code, err := c.frees.do(ctx, [2]string{held[0].Key, held[0].token})
		if err != nil {
			return err
		}
		codes = []int64{code}
	} else {
		msg, err := c.runFast(ctx, script.PoolFreeFast, c.freeFastKeys, script.PoolFree, args)
		if err != nil {
			return err
		}
		codes, err = msg.AsIntSlice()
		if err != nil || len(codes) != len(held) {
			return fmt.Errorf("pool %s: free: unexpected reply: %w", c.name, err)
		}
	}
	var errs []error
	for i, l := range held {
		if codes[i] == 1 {
			l.end(errLeaseEnded)
			continue
		}
		lost := fmt.Errorf("pool %s: release %q: %w", c.name, l.Key, ErrNotHeld)
		l.end(lost)
		errs = append(errs, lost)
	}
	for _, l := range held {
		if l.doneKA != nil {
			<-l.doneKA
		}
	}
	return errors.Join(errs...)
}

// Refresh extends the lease to ttl counted from now (0 keeps its current
// TTL, and keeps a permanent lease permanent; a ttl turns a permanent lease
// into one that ends, and Context then ends with it). The new local
// deadline counts from when the refresh was sent (see Lease). It returns
// ErrNotHeld, and the lease's Context ends, when the lease already ended,
// went to another holder, or reached its local deadline before the
// server's answer arrived.
func (l *Lease) Refresh(ctx context.Context, ttl time.Duration) error {
	if l == nil {
		return ErrNotHeld
	}
	if l.token == "" {
		return nil
	}
	if err := l.c.checkCtx(ctx); err != nil {
		return err
	}
	var err error
	if ttl == 0 {
		err = l.keep.Renew(ctx)
	} else {
		if err := checkLeaseTTL(ttl); err != nil {
			return err
		}
		err = l.keep.RenewTTL(ctx, ttl)
	}
	if errors.Is(err, lease.ErrEnded) {
		// The keeper's cause matches ErrNotHeld.
		return fmt.Errorf("pool %s: refresh %q: %w", l.c.name, l.Key, l.keep.Err())
	}
	return err
}

// ReportUnhealthy tells the pool the member misbehaved while held: when the
// lease ends (Release or lapse) the member goes to quarantine for d instead of
// back to the free set. Owner-checked: ErrNotHeld if the lease is gone
// (also when the member was removed from the pool meanwhile); the lease
// then ends.
func (l *Lease) ReportUnhealthy(ctx context.Context, d time.Duration) error {
	if l == nil {
		return ErrNotHeld
	}
	if d < time.Millisecond || d > maxTTL {
		return fmt.Errorf("%w: quarantine %v", errInvalidDuration, d)
	}
	if l.token == "" {
		return nil
	}
	_, err := l.c.runScript(ctx, script.PoolMark, []string{l.Key, l.token, "u", ms(d)})
	if errors.Is(err, ErrNotMember) {
		// The member was removed: to its holder that is a lease gone,
		// as Refresh and Release report it.
		err = fmt.Errorf("pool %s: report %q: member removed: %w", l.c.name, l.Key, ErrNotHeld)
	}
	if errors.Is(err, ErrNotHeld) {
		l.end(err)
	}
	return err
}
