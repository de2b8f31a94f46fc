package pool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Allocation is a member handed out by Malloc: its key, its decoded value
// and the lease that holds it. Lease methods (Release, Refresh, Fence,
// Deadline, Valid, Context, ReportUnhealthy) are promoted.
type Allocation[T any] struct {
	*Lease
	// Value is the member's value, the zero T when HasValue is false.
	Value T
	// HasValue reports whether the member had a value.
	HasValue bool
}

// Malloc hands out one member: in exclusive mode (the default) the free
// member with the highest priority, least recently freed first, held under
// a new lease until Release or the lease TTL; in shared mode the next member
// round-robin. Key, value, holder token, fencing number and deadline come
// back in one script round trip.
//
// With no member free it returns ErrEmpty, or, with the Wait option, blocks
// until a member is released or ctx ends (then the error matches ErrEmpty
// and ctx.Err()); a Redis error while waiting (a broken connection) is
// returned as it is, not as ErrEmpty. If the member's value cannot be decoded the member is
// released again and the error names it (matching codec.ErrDecode).
//
// ctx bounds the call, not the lease: a malloc whose ctx ends returns at
// once, and whatever the script granted meanwhile is released in the
// background.
func (p *Pool[T]) Malloc(ctx context.Context, opts ...MallocOption) (*Allocation[T], error) {
	leases, values, err := p.c.malloc(ctx, 1, opts)
	if err != nil {
		return nil, err
	}
	a, err := p.allocation(ctx, leases[0], values[0])
	if err != nil {
		return nil, err
	}
	return a, nil
}

// MallocN hands out n members in one atomic step, all or none: with fewer
// than n free it returns ErrEmpty (or waits, with Wait) and takes nothing.
// n is 1 to 10000; Bind applies to the first member.
func (p *Pool[T]) MallocN(ctx context.Context, n int, opts ...MallocOption) ([]*Allocation[T], error) {
	if n < 1 || n > maxBatch {
		return nil, fmt.Errorf("%w: MallocN(%d): want 1 to %d", errInvalidCount, n, maxBatch)
	}
	leases, values, err := p.c.malloc(ctx, n, opts)
	if err != nil {
		return nil, err
	}
	out := make([]*Allocation[T], len(leases))
	for i, l := range leases {
		a, err := p.allocation(ctx, l, values[i])
		if err != nil {
			// All or none: the caller gets none of them, so every lease
			// goes back (allocation gave back leases[i] already).
			p.c.giveBack(ctx, append(leases[:i:i], leases[i+1:]...), "")
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

func (p *Pool[T]) allocation(ctx context.Context, l *Lease, raw []byte) (*Allocation[T], error) {
	a := &Allocation[T]{Lease: l}
	if raw == nil {
		return a, nil
	}
	v, err := p.decode(l.Key, raw)
	if err != nil {
		p.c.giveBack(ctx, []*Lease{l}, "")
		return nil, err
	}
	a.Value, a.HasValue = v, true
	return a, nil
}

func newMallocConfig(c *core, opts []MallocOption) (mallocConfig, error) {
	m := mallocConfig{ttl: c.cfg.leaseTTL}
	for _, o := range opts {
		if o == nil {
			return m, fmt.Errorf("%w: nil MallocOption", errInvalidOption)
		}
		o(&m)
	}
	if m.ttl == Permanent {
		m.ttl, m.permanent = c.cfg.leaseTTL, true
	}
	if err := checkLeaseTTL(m.ttl); err != nil {
		return m, fmt.Errorf("%w (use LeaseTTL(pool.Permanent) for no TTL)", err)
	}
	switch {
	case m.bindTTL < 0 || m.bindTTL > maxTTL || (m.bindTTL > 0 && m.bindTTL < time.Millisecond):
		return m, fmt.Errorf("%w: binding TTL %v", errInvalidDuration, m.bindTTL)
	case m.session != nil && !sessionRE.MatchString(m.session.ID()):
		return m, fmt.Errorf("%w: session id %q", errInvalidKey, m.session.ID())
	case m.session != nil && !incarnationRE.MatchString(incarnation(m.session)):
		return m, fmt.Errorf("%w: session incarnation %q", errInvalidKey, incarnation(m.session))
	case m.session != nil && (m.session.Timeout() < time.Millisecond || m.session.Timeout() > maxTTL):
		return m, fmt.Errorf("%w: session timeout %v", errInvalidDuration, m.session.Timeout())
	case m.aliveSet && m.keepAlive < 0:
		return m, fmt.Errorf("%w: KeepAlive(%v): want 0 (a third of the TTL) or a positive interval", errInvalidDuration, m.keepAlive)
	case m.bind && m.bindName == "":
		return m, fmt.Errorf("%w: Bind with an empty name", errInvalidKey)
	case m.permanent && m.aliveSet:
		return m, fmt.Errorf("%w: KeepAlive with LeaseTTL(Permanent)", errInvalidOption)
	case c.cfg.shared && (m.permanent || m.aliveSet || m.session != nil):
		return m, fmt.Errorf("%w: leases options on a shared pool, which holds nothing", errInvalidOption)
	}
	if m.bindName != "" {
		if err := redisx.ValidateMember("binding name", m.bindName); err != nil {
			return m, fmt.Errorf("%w: %w", errInvalidKey, err)
		}
	}
	if m.aliveSet && m.keepAlive == 0 {
		m.keepAlive = m.ttl / 3
	}
	if valid := m.ttl - lease.Margin(m.ttl); m.keepAlive != 0 && (m.keepAlive < time.Millisecond || m.keepAlive >= valid) {
		return m, fmt.Errorf("%w: keep-alive interval %v must be shorter than the lease %v less its drift margin (%v)", errInvalidDuration, m.keepAlive, m.ttl, valid)
	}
	return m, nil
}

// malloc runs pool_malloc until it gets n members, waiting between tries
// when asked to, and records the call's metrics.
func (c *core) malloc(ctx context.Context, n int, opts []MallocOption) ([]*Lease, [][]byte, error) {
	if ctx == nil { // bad input, not recorded
		return nil, nil, c.checkCtx(ctx)
	}
	start := time.Now()
	leases, values, err := c.mallocWait(ctx, n, opts)
	c.met.malloced(ctx, start, err)
	return leases, values, err
}

func (c *core) mallocWait(ctx context.Context, n int, opts []MallocOption) ([]*Lease, [][]byte, error) {
	mc, err := newMallocConfig(c, opts)
	if err != nil {
		return nil, nil, err
	}
	// Before anything is sent: the script runs detached from ctx
	// (mallocOnce, the batcher), so an ended ctx would not stop it.
	if err := c.checkCtx(ctx); err != nil {
		return nil, nil, err
	}
	if c.simpleMalloc(n, mc) {
		r, err := c.mallocs.do(ctx, mallocReq{token: c.newToken(), ttl: leaseTTLArg(mc), start: time.Now(), mc: mc})
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, nil, fmt.Errorf("pool %s: malloc: %w", c.name, err)
		case err != nil:
			return nil, nil, err
		case r.lease == nil:
			c.met.foundEmpty(ctx, false)
			return nil, nil, fmt.Errorf("pool %s: %w", c.name, ErrEmpty)
		}
		return []*Lease{r.lease}, [][]byte{r.value}, nil
	}
	// The token is the lease's proof of holding in exclusive mode and the
	// waiter's id in both modes.
	token := c.newToken()
	leaseToken := token
	if c.cfg.shared {
		leaseToken = ""
	}
	// A malloc of several members waits by polling instead of taking
	// wake-ups: woken by a release it could not use (fewer members than it
	// needs), it would swallow the wake-up a single-member waiter needed.
	multi := n > 1
	call := mallocArgs{n: n, token: token, mc: mc, shared: c.cfg.shared, budget: c.cfg.budget}
	if mc.wait && !multi {
		call.flags = waitRegister
	}
	for {
		// A malloc counts as a sign of life of its session (the script
		// moves the session's deadline on): an ended session must not
		// take one, nor keep its earlier leases from coming back.
		if mc.session != nil && !sessionValid(mc.session) {
			err := sessionOver(mc.session)
			if call.flags&waitRegistered != 0 {
				c.unwait(ctx, token)
			}
			return nil, nil, err
		}
		leases, values, hint, err := c.mallocOnce(ctx, call, leaseToken)
		if err != nil {
			if call.flags&waitRegistered != 0 || ctx.Err() != nil {
				c.unwait(ctx, token)
			}
			if mc.wait && ctx.Err() != nil {
				// The wait ran out while we asked again.
				return nil, nil, errors.Join(fmt.Errorf("pool %s: %w", c.name, ErrEmpty), ctx.Err())
			}
			return nil, nil, err
		}
		if leases != nil {
			if mc.session != nil {
				c.track(mc.session)
			}
			return leases, values, nil
		}
		if call.flags&waitRegistered == 0 {
			c.met.foundEmpty(ctx, mc.wait)
		}
		if !mc.wait {
			return nil, nil, fmt.Errorf("pool %s: %w", c.name, ErrEmpty)
		}
		if multi {
			if err := sleepCtx(ctx, waitBound(c.cfg.waitPoll, hint)); err != nil {
				return nil, nil, errors.Join(fmt.Errorf("pool %s: %w", c.name, ErrEmpty), err)
			}
			continue
		}
		call.flags = waitRegister | waitRegistered // registered as a waiter by the script
		if err := c.waitForFree(ctx, token, hint); err != nil {
			c.unwait(ctx, token)
			if ctx.Err() == nil && (redisx.ForeignContextError(ctx, err) || !isContextErr(err)) {
				// The wait failed, not ran out: the pool was not found empty.
				return nil, nil, fmt.Errorf("pool %s: malloc: wait: %w", c.name, err)
			}
			return nil, nil, errors.Join(fmt.Errorf("pool %s: %w", c.name, ErrEmpty), err)
		}
	}
}

// mallocTimeout bounds a malloc script that runs on after its caller's ctx
// ended (see mallocOnce), and the release of what it granted.
const mallocTimeout = 10 * time.Second

// Flags of pool_malloc's ARGV (mallocArgs.flags).
const (
	waitRegister   = 1 // register as a waiter when nothing is free
	waitRegistered = 2 // already registered by an earlier try
)

// mallocArgs names the ARGV of pool_malloc; args lays them out in the
// order of the script's contract.
type mallocArgs struct {
	n      int
	token  string // the lease token, and the waiter's id
	mc     mallocConfig
	shared bool
	budget int
	flags  int
}

// leaseTTLArg is the lease TTL argument of the malloc scripts: "0" for a
// permanent lease.
func leaseTTLArg(mc mallocConfig) string {
	if mc.permanent {
		return "0"
	}
	return ms(mc.ttl)
}

func (a mallocArgs) args() []string {
	mode := "x"
	if a.shared {
		mode = "s"
	}
	session, sessionTTL := "-", "0"
	if a.mc.session != nil {
		session, sessionTTL = sessionKey(a.mc.session), ms(a.mc.session.Timeout())
	}
	return []string{
		mode,                   // ARGV[1] mode: x exclusive, s shared
		strconv.Itoa(a.n),      // ARGV[2] members wanted
		leaseTTLArg(a.mc),      // ARGV[3] lease TTL ms, 0 permanent
		a.token,                // ARGV[4] token
		session,                // ARGV[5] worker session, "-" none
		a.mc.bindName,          // ARGV[6] binding name
		ms(a.mc.bindTTL),       // ARGV[7] binding TTL ms
		strconv.Itoa(a.budget), // ARGV[8] timer budget
		strconv.Itoa(a.flags),  // ARGV[9] wait flags
		sessionTTL,             // ARGV[10] session timeout ms
		a.mc.member,            // ARGV[11] the one member asked for
	}
}

type mallocReply struct {
	leases []*Lease
	values [][]byte
	hint   time.Duration
	err    error
}

// mallocOnce runs pool_malloc once. The script runs detached from ctx: had
// ctx cut it short, Redis might still have granted members that nobody
// knows of, lost until their leases lapse. When ctx ends first the caller
// gets ctx's error at once, and whatever the script granted is given back
// (giveBack) as soon as its reply arrives.
func (c *core) mallocOnce(ctx context.Context, call mallocArgs, leaseToken string) ([]*Lease, [][]byte, time.Duration, error) {
	args := call.args()
	if ctx.Done() == nil {
		// ctx can never end: no need to detach.
		start := time.Now()
		msg, err := c.runScript(ctx, script.PoolMalloc, args)
		if err != nil {
			return nil, nil, 0, err
		}
		return c.parseMalloc(ctx, msg, leaseToken, start, call.mc)
	}
	done := make(chan mallocReply, 1)
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mallocTimeout)
		defer cancel()
		start := time.Now()
		msg, err := c.runScript(rctx, script.PoolMalloc, args)
		var r mallocReply
		if err != nil {
			r.err = err
		} else {
			r.leases, r.values, r.hint, r.err = c.parseMalloc(rctx, msg, leaseToken, start, call.mc)
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.leases, r.values, r.hint, r.err
	case <-ctx.Done():
		go func() {
			r := <-done
			if r.err != nil {
				return
			}
			// The script may have registered the caller as a waiter after
			// the caller's own clean-up ran.
			waiter := ""
			if call.flags != 0 {
				waiter = call.token
			}
			c.giveBack(ctx, r.leases, waiter)
		}()
		return nil, nil, 0, fmt.Errorf("pool %s: malloc: %w", c.name, ctx.Err())
	}
}

// giveBack undoes what a malloc granted to a caller that will never see
// it (its ctx ended, or the value could not be decoded): it releases the
// leases and, when waiter is set and nothing was granted, takes the waiter
// off the waiter set. It runs detached from ctx, bounded by mallocTimeout,
// and is best effort: what it cannot release lapses with its lease. This
// is the one undo path of the batched and the single mallocs.
func (c *core) giveBack(ctx context.Context, leases []*Lease, waiter string) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mallocTimeout)
	defer cancel()
	if len(leases) > 0 {
		_ = c.free(gctx, leases)
		return
	}
	if waiter != "" {
		c.unwait(gctx, waiter)
	}
}

// grantWidth is the number of reply entries per granted member in the
// malloc scripts' replies: key, fence, deadline ms, value (nil: none).
const grantWidth = 4

// parseGrant reads one granted member of a malloc reply (grantWidth
// entries): the one parser of both malloc scripts. A nil key means
// nothing was granted in this slot (pool_malloc_many).
func (c *core) parseGrant(e []rueidis.RedisMessage, token string, start time.Time, mc mallocConfig) (*Lease, []byte, error) {
	if e[0].IsNil() {
		return nil, nil, nil
	}
	key, err1 := e[0].ToString()
	fence, err2 := e[1].AsInt64()
	_, err3 := e[2].AsInt64() // the server's deadline: the local one counts from start
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, fmt.Errorf("pool %s: malloc: bad reply: %w", c.name, err)
	}
	var value []byte
	if !e[3].IsNil() {
		b, err := e[3].AsBytes()
		if err != nil {
			return nil, nil, fmt.Errorf("pool %s: malloc: bad value: %w", c.name, err)
		}
		value = b
	}
	return newLease(c, key, token, fence, start, mc), value, nil
}

// gcCounts is the number of lazy-GC counts heading both malloc replies.
const gcCounts = 4

func (c *core) parseMalloc(ctx context.Context, msg rueidis.RedisMessage, token string, start time.Time, mc mallocConfig) ([]*Lease, [][]byte, time.Duration, error) {
	const head = 2 + gcCounts // got, hint, then the lazy-GC counts
	arr, err := msg.ToArray()
	if err != nil || len(arr) < head {
		return nil, nil, 0, fmt.Errorf("pool %s: malloc: unexpected reply: %w", c.name, err)
	}
	c.lazyGC(ctx, arr[2:head])
	got, _ := arr[0].AsInt64()
	if got == 0 {
		hint, _ := arr[1].AsInt64()
		return nil, nil, time.Duration(hint) * time.Millisecond, nil
	}
	if len(arr) != head+grantWidth*int(got) {
		return nil, nil, 0, fmt.Errorf("pool %s: malloc: reply of %d entries for %d members", c.name, len(arr), got)
	}
	leases := make([]*Lease, got)
	values := make([][]byte, got)
	for i := range leases {
		l, v, err := c.parseGrant(arr[head+grantWidth*i:], token, start, mc)
		if err == nil && l == nil {
			err = fmt.Errorf("pool %s: malloc: reply without member %d", c.name, i)
		}
		if err != nil {
			c.giveBack(ctx, leases[:i], "")
			return nil, nil, 0, err
		}
		leases[i], values[i] = l, v
	}
	return leases, values, 0, nil
}

// waitForFree blocks on the pool's wake-up list until a free wakes it, the
// next timer is due (hint, when positive), the poll bound passes or ctx
// ends (then it returns ctx's error at once).
func (c *core) waitForFree(ctx context.Context, token string, hint time.Duration) error {
	if _, err := redisx.WaitList(ctx, c.client, c.keys[keyNotify], c.ns.Key("abort:"+token), waitBound(c.cfg.waitPoll, hint)); err != nil {
		return err
	}
	return ctx.Err()
}

// maxWait bounds one wait whatever the poll bound says: the scripts drop a
// waiter that has not registered again for a minute (a dead process's) and
// owe it no wake-ups, so a live one must come back well within that.
const maxWait = 30 * time.Second

// waitBound is how long one wait of a waiting malloc lasts: the poll
// bound, shortened to when the next timer is due (hint, when positive) and
// to maxWait.
func waitBound(poll, hint time.Duration) time.Duration {
	d := min(poll, maxWait)
	if hint > 0 && hint < d {
		d = hint
	}
	return d
}

// isContextErr reports whether err is a context's error (rueidis may see
// ctx's deadline a moment before ctx.Err() does).
func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// sleepCtx waits d or until ctx ends, and returns ctx's error then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track has the session's heartbeat keep its leases in this pool alive.
func (c *core) track(s Session) {
	id, ttl := sessionKey(s), ms(s.Timeout())
	s.Track(c.ns.Prefix(), func(ctx context.Context) error {
		msg, err := c.runScript(ctx, script.PoolSessionBeat, []string{id, ttl})
		if err != nil {
			return err
		}
		if n, _ := msg.AsInt64(); n != 1 {
			return fmt.Errorf("pool %s: session %s was declared dead here: %w", c.name, id, ErrNotHeld)
		}
		return nil
	})
}

// MallocMember takes one specific member if it is free: ErrEmpty when it
// is held or quarantined, ErrNotMember when it is not in the pool. Bind and
// Wait do not apply and are ignored. Health checking uses it to hold a
// member while probing it.
func (p *Pool[T]) MallocMember(ctx context.Context, key string, opts ...MallocOption) (*Allocation[T], error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	opts = append(opts[:len(opts):len(opts)], func(m *mallocConfig) { m.member, m.wait, m.bind, m.bindName = key, false, false, "" })
	leases, values, err := p.c.malloc(ctx, 1, opts)
	if err != nil {
		return nil, err
	}
	return p.allocation(ctx, leases[0], values[0])
}

// unwait takes a waiter that gives up off the waiter set, best effort.
// Removing a token twice is harmless.
func (c *core) unwait(ctx context.Context, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, _ = c.runScript(ctx, script.PoolUnwait, []string{token})
}
