package pool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Lease is one member held by one caller. Its token proves the holding to
// every owner-checked operation; its fencing number is strictly greater than
// that of every earlier allocation of the pool, so a resource that sees
// fencing numbers can refuse a stale holder.
//
// A Lease is safe for concurrent use. In shared mode a lease holds nothing:
// Fence is 0, and Release, Refresh and ReportUnhealthy do nothing but
// return nil.
type Lease struct {
	// Key is the member.
	Key string

	// token proves this holding to the scripts; empty in shared mode.
	token string
	fence int64

	c  *core
	mu sync.Mutex
	// deadline is the server-clock end of the lease (zero: permanent).
	deadline time.Time
	// local is a local monotonic-clock bound that is never later than the
	// server deadline: the request's start plus the TTL.
	local  time.Time
	ttl    time.Duration
	ended  bool
	cause  error // why the lease ended
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	stopKA chan struct{}
	// stopSession unhooks the lease from its session's context.
	stopSession func() bool
	doneKA      chan struct{}
	endOnce     sync.Once
}

func newLease(c *core, key, token string, fence, deadlineMS int64, start time.Time, mc mallocConfig) *Lease {
	l := &Lease{Key: key, token: token, fence: fence, c: c, ttl: mc.ttl}
	if mc.permanent {
		l.ttl = 0 // Refresh(ctx, 0) keeps it permanent
	}
	if deadlineMS > 0 {
		l.deadline = time.UnixMilli(deadlineMS)
		l.local = start.Add(mc.ttl)
	}
	if mc.keepAlive > 0 && token != "" {
		l.startKeepAlive(mc.keepAlive)
	}
	if mc.session != nil && token != "" {
		sctx := mc.session.Context()
		// The session vouches for the lease: when it ends, so does the lease.
		l.stopSession = context.AfterFunc(sctx, func() {
			l.end(fmt.Errorf("%w: session %s ended: %w", ErrNotHeld, mc.session.ID(), context.Cause(sctx)))
		})
	}
	return l
}

// Fence returns the allocation's fencing number: strictly greater than that
// of every earlier allocation of the pool, so a resource that sees it can
// refuse a stale holder. It is 0 in shared mode.
func (l *Lease) Fence() int64 { return l.fence }

// Deadline returns when the lease ends unless refreshed, by the Redis
// server's clock; the zero time for permanent and shared leases.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}

// Context returns a context that is cancelled when the lease is known lost
// or ended: at the lease deadline by the local clock (measured from before
// the malloc was sent, so never later than the server's), when Release
// succeeds, or when Refresh or the keep-alive learns the lease is gone.
// context.Cause tells which; it matches ErrNotHeld for a lost lease. Work
// bound to the resource should use it.
func (l *Lease) Context() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx != nil {
		return l.ctx
	}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	if l.ended {
		l.cancel(l.cause)
	} else {
		l.armLocked()
	}
	return l.ctx
}

// armLocked makes Context end at the local deadline: it sets, moves or (for
// a lease made permanent) stops the timer. l.mu is held and Context was
// asked for.
func (l *Lease) armLocked() {
	if l.local.IsZero() {
		if l.timer != nil {
			l.timer.Stop()
		}
		return
	}
	left := time.Until(l.local)
	if l.timer != nil {
		l.timer.Reset(left)
		return
	}
	lapsed := fmt.Errorf("%w: lease of %q lapsed", ErrNotHeld, l.Key)
	if left <= 0 {
		l.cancel(lapsed) // at once: a timer would fire a moment later
		return
	}
	l.timer = time.AfterFunc(left, func() { l.cancel(lapsed) })
}

var errLeaseEnded = fmt.Errorf("%w: lease released", ErrNotHeld)

// end marks the lease over and cancels its context with cause.
func (l *Lease) end(cause error) {
	l.endOnce.Do(func() {
		l.mu.Lock()
		l.ended, l.cause = true, cause
		if l.timer != nil {
			l.timer.Stop()
		}
		if l.cancel != nil {
			l.cancel(cause)
		}
		stop := l.stopKA
		l.stopKA = nil
		unhook := l.stopSession
		l.mu.Unlock()
		if unhook != nil {
			unhook()
		}
		if stop != nil {
			close(stop)
		}
	})
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
	if len(leases) > MaxBatch {
		return fmt.Errorf("%w: %d leases in one call, at most %d", errInvalidCount, len(leases), MaxBatch)
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
	var codes []int64
	if len(held) == 1 {
		code, err := c.frees.do(ctx, [2]string{held[0].Key, held[0].token})
		if err != nil {
			return err
		}
		codes = []int64{code}
	} else {
		msg, err := c.runScript(ctx, script.PoolFree, args)
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
		l.waitKeepAlive()
	}
	return errors.Join(errs...)
}

// Refresh extends the lease to ttl from now (0 keeps the TTL it was made
// with, or keeps a permanent lease permanent; a ttl turns a permanent lease
// into one that ends, and Context then ends with it). It returns
// ErrNotHeld, and cancels Context, when the lease already ended or went to
// another holder.
func (l *Lease) Refresh(ctx context.Context, ttl time.Duration) error {
	if l == nil {
		return ErrNotHeld
	}
	if l.token == "" {
		return nil
	}
	l.mu.Lock()
	keep := l.ttl
	l.mu.Unlock()
	if ttl == 0 {
		ttl = keep // 0 again for a permanent lease
	}
	arg := "0" // permanent
	if ttl != 0 {
		if ttl < time.Millisecond || ttl > MaxTTL {
			return fmt.Errorf("%w: lease TTL %v", errInvalidDuration, ttl)
		}
		arg = ms(ttl)
	}
	start := time.Now()
	msg, err := l.c.runScript(ctx, script.PoolRefresh, []string{l.Key, l.token, arg})
	if errors.Is(err, ErrNotHeld) {
		l.end(err)
		return err
	}
	if err != nil {
		return err
	}
	d, err := msg.AsInt64()
	if err != nil {
		return fmt.Errorf("pool %s: refresh: unexpected reply: %w", l.c.name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return fmt.Errorf("pool %s: refresh %q: %w", l.c.name, l.Key, ErrNotHeld)
	}
	l.deadline, l.local, l.ttl = time.Time{}, time.Time{}, ttl
	if d > 0 {
		l.deadline, l.local = time.UnixMilli(d), start.Add(ttl)
	}
	if l.ctx != nil {
		l.armLocked()
	}
	return nil
}

// ReportUnhealthy tells the pool the member misbehaved while held: when the
// lease ends (Release or lapse) the member goes to quarantine for d instead of
// back to the free set. Owner-checked: ErrNotHeld if the lease is gone.
func (l *Lease) ReportUnhealthy(ctx context.Context, d time.Duration) error {
	if l == nil {
		return ErrNotHeld
	}
	if d < time.Millisecond || d > MaxTTL {
		return fmt.Errorf("%w: quarantine %v", errInvalidDuration, d)
	}
	if l.token == "" {
		return nil
	}
	_, err := l.c.runScript(ctx, script.PoolMark, []string{l.Key, l.token, "u", ms(d)})
	if errors.Is(err, ErrNotHeld) {
		l.end(err)
	}
	return err
}

// startKeepAlive refreshes the lease every interval until it ends. A
// refresh that fails for any reason but ErrNotHeld is retried on the next
// tick; the context's local deadline still cancels it in time, since a
// lease that could not be refreshed is not known to be held.
func (l *Lease) startKeepAlive(every time.Duration) {
	stop, done := make(chan struct{}), make(chan struct{})
	l.stopKA, l.doneKA = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				// Keep trying until the lease would lapse anyway.
				l.mu.Lock()
				until := l.local
				l.mu.Unlock()
				if d := time.Until(until); d < every {
					until = time.Now().Add(every)
				}
				ctx, cancel := context.WithDeadline(context.Background(), until)
				err := l.Refresh(ctx, 0)
				cancel()
				if errors.Is(err, ErrNotHeld) {
					return
				}
			}
		}
	}()
}

// waitKeepAlive waits for an ended lease's keep-alive goroutine to exit.
func (l *Lease) waitKeepAlive() {
	l.mu.Lock()
	done := l.doneKA
	l.mu.Unlock()
	if done != nil {
		<-done
	}
}

// String describes the lease for logs, without the token.
func (l *Lease) String() string {
	return "lease(" + strconv.Quote(l.Key) + " fence " + strconv.FormatInt(l.fence, 10) + ")"
}
