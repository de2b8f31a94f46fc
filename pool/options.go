package pool

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/codec"
)

// Defaults and limits; each is stated in the doc of the option that sets it.
const (
	defaultLeaseTTL    = 2 * time.Minute
	defaultTimerBudget = 16
	// defaultWaitPoll bounds one wait of a waiting malloc when no timer is
	// due sooner: a waiting MallocN of several members asks again at this
	// interval; a single-member waiter is woken by releases and polls only
	// in case it missed a wake-up (its process was paused, say).
	defaultWaitPoll = 2 * time.Second
	// minPriority and maxPriority bound member priorities.
	minPriority = -2048
	maxPriority = 2047
	// maxBatch bounds MallocN, the members of one Add, AddKeys, Assign,
	// AssignKeys, Remove or Release call and the records of one
	// Admin.Import, so one script never blocks Redis for long.
	maxBatch = 10000
	// maxTTL bounds every duration (about 69 years), keeping server-side
	// deadlines exact.
	maxTTL = 1 << 41 * time.Millisecond
)

// minLeaseTTL is the shortest lease TTL: a lease is valid for its TTL less
// a drift margin of 1% + 2ms (see Lease), so a shorter one would be eaten
// by the margin.
const minLeaseTTL = 10 * time.Millisecond

// checkLeaseTTL checks a lease TTL against minLeaseTTL and maxTTL.
func checkLeaseTTL(d time.Duration) error {
	if d < minLeaseTTL || d > maxTTL {
		return fmt.Errorf("%w: lease TTL %v must be between %v and %v", errInvalidDuration, d, minLeaseTTL, maxTTL)
	}
	return nil
}

// config is what New, NewAdmin and NewInspector are configured with.
type config struct {
	codec    codec.Codec
	shared   bool
	leaseTTL time.Duration
	budget   int
	waitPoll time.Duration
	tp       trace.TracerProvider
	mp       metric.MeterProvider
}

// Option configures a Pool in New.
type Option interface{ applyPool(*config) }

// AdminOption configures NewAdmin and NewInspector, which take the same
// settings. Every AdminOption is also an Option, so a program can pass the
// same list to New.
type AdminOption interface {
	Option
	applyAdmin(*config)
}

type poolOption func(*config)

func (f poolOption) applyPool(c *config) { f(c) }

type commonOption func(*config)

func (f commonOption) applyPool(c *config)  { f(c) }
func (f commonOption) applyAdmin(c *config) { f(c) }

// WithCodec sets how member values are encoded; the default is codec.CBOR
// (the fastest of the three on this project's machines, and deterministic).
// Every process sharing a pool must use the same codec.
func WithCodec(c codec.Codec) Option { return poolOption(func(o *config) { o.codec = c }) }

// WithShared makes the pool shared: Malloc hands members out round-robin
// and nobody holds them exclusively (the reference's shared=True). Release
// and Refresh of shared allocations do nothing.
func WithShared() Option { return poolOption(func(o *config) { o.shared = true }) }

// WithLeaseTTL sets the default lease of an allocation: 2 minutes when
// absent; at least 10ms, since shorter leases would be eaten by the
// clock-drift margin, and at most 2^41 ms (about 69 years, the longest
// duration the pool accepts anywhere).
func WithLeaseTTL(d time.Duration) Option { return poolOption(func(o *config) { o.leaseTTL = d }) }

// withTimerBudget sets how many due timers (lapsed leases, expired
// members, ended quarantines, expired bindings) each malloc handles before
// allocating, so a pool without a GC loop still recovers: 16 when absent,
// at most 10000; 0 leaves all the work to GC. Tests only: the default is
// what every pool needs.
func withTimerBudget(n int) Option { return poolOption(func(o *config) { o.budget = n }) }

// WithTracerProvider sets where spans go; nil or absent means the global
// provider, even one set after New.
func WithTracerProvider(tp trace.TracerProvider) AdminOption {
	return commonOption(func(o *config) { o.tp = tp })
}

// WithMeterProvider sets where metrics go; nil or absent means the global
// provider.
func WithMeterProvider(mp metric.MeterProvider) AdminOption {
	return commonOption(func(o *config) { o.mp = mp })
}

func newConfig(opts []Option) (config, error) {
	c := config{codec: codec.CBOR, leaseTTL: defaultLeaseTTL, budget: defaultTimerBudget, waitPoll: defaultWaitPoll}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil Option", errInvalidOption)
		}
		o.applyPool(&c)
	}
	if err := checkLeaseTTL(c.leaseTTL); err != nil {
		return c, err
	}
	switch {
	case c.codec == nil:
		return c, fmt.Errorf("%w: nil codec", errInvalidOption)
	case c.budget < 0 || c.budget > maxBatch:
		return c, fmt.Errorf("%w: timer budget %d", errInvalidOption, c.budget)
	case c.waitPoll < time.Millisecond:
		return c, fmt.Errorf("%w: wait poll %v", errInvalidDuration, c.waitPoll)
	}
	return c, nil
}

func newAdminConfig(opts []AdminOption) (config, error) {
	c := config{codec: codec.CBOR, leaseTTL: defaultLeaseTTL, budget: defaultTimerBudget, waitPoll: defaultWaitPoll}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil AdminOption", errInvalidOption)
		}
		o.applyAdmin(&c)
	}
	return c, nil
}

type memberConfig struct {
	prio   *int
	ttl    time.Duration // 0: no expiry
	setTTL bool
}

// MemberOption sets per-member properties in Add, AddKeys, Assign,
// AssignKeys and Admin.Update.
type MemberOption func(*memberConfig)

// Priority sets the members' priority, -2048 to 2047; Malloc
// hands out higher priorities first, ties least recently released first.
// New members default to 0; existing ones keep theirs unless given.
func Priority(p int) MemberOption { return func(m *memberConfig) { m.prio = &p } }

// MemberTTL makes the members leave the pool d from now (a held member
// leaves when its lease ends, never under its holder); MemberTTL(0) removes
// any expiry. Without it new members never expire and existing ones keep
// their expiry.
func MemberTTL(d time.Duration) MemberOption {
	return func(m *memberConfig) { m.ttl, m.setTTL = d, true }
}

func newMemberConfig(opts []MemberOption) (memberConfig, error) {
	var m memberConfig
	for _, o := range opts {
		if o == nil {
			return m, fmt.Errorf("%w: nil MemberOption", errInvalidOption)
		}
		o(&m)
	}
	if m.prio != nil && (*m.prio < minPriority || *m.prio > maxPriority) {
		return m, fmt.Errorf("%w: %d not in [%d, %d]", errInvalidPriority, *m.prio, minPriority, maxPriority)
	}
	if m.setTTL && m.ttl != 0 && (m.ttl < time.Millisecond || m.ttl > maxTTL) {
		return m, fmt.Errorf("%w: member TTL %v must be 0 or between 1ms and %v", errInvalidDuration, m.ttl, maxTTL)
	}
	return m, nil
}

type mallocConfig struct {
	ttl       time.Duration
	permanent bool
	bind      bool // Bind was given
	bindName  string
	bindTTL   time.Duration
	wait      bool
	session   Session
	keepAlive time.Duration
	aliveSet  bool   // KeepAlive was given
	member    string // MallocMember's member
}

// MallocOption adjusts one Malloc, MallocN or MallocMember call.
type MallocOption func(*mallocConfig)

// LeaseTTL sets this allocation's lease instead of the pool default (at
// least 10ms, at most 2^41 ms, about 69 years), or Permanent.
func LeaseTTL(d time.Duration) MallocOption { return func(m *mallocConfig) { m.ttl = d } }

// Permanent is the lease TTL, passed to LeaseTTL, that makes the lease last
// until released (as lock.Permanent does for a lock). A crashed holder then keeps the member
// forever (an operator's Admin.ForceRelease recovers it), so prefer a TTL
// with KeepAlive. WithLeaseTTL and Lease.Refresh refuse it.
const Permanent time.Duration = math.MaxInt64

// Bind asks for the member bound to name (soft binding): it is handed out
// when free and healthy; otherwise another member is, and name is bound to
// it. The binding lasts ttl after each allocation (0: never expires). An
// empty name is refused (ErrInvalid), as is a negative ttl.
func Bind(name string, ttl time.Duration) MallocOption {
	return func(m *mallocConfig) { m.bind, m.bindName, m.bindTTL = true, name, ttl }
}

// Wait makes an empty pool block the call until a member is released or
// ctx ends, instead of returning ErrEmpty. Releases wake single-member
// waiters at once; a MallocN of several members checks again every 2 s, or
// sooner when a lease or quarantine is due to end.
func Wait() MallocOption { return func(m *mallocConfig) { m.wait = true } }

// Session is a worker session whose heartbeat keeps its leases alive (a
// health.Session is one). A lease taken InSession is reclaimed as soon as the
// pool sees the session dead — its heartbeat stopped for Timeout — instead of
// when the lease lapses, and the lease's Context ends with the session's.
// Lease.Valid is false once the session's Context has ended, or, for a
// session with a Valid() bool method (health.Session has one), as soon as
// that reports false.
type Session interface {
	// ID names the session: 1 to 64 letters, digits, '-', '_', '.' or ':'.
	ID() string
	// Timeout is how long the session counts as alive after a heartbeat.
	Timeout() time.Duration
	// Context ends when the session can no longer vouch for its leases.
	Context() context.Context
	// Track asks the session to call beat on each heartbeat until it ends,
	// once per key; a beat that fails counts as a missed heartbeat.
	Track(key string, beat func(ctx context.Context) error)
}

// incarnated is a Session with an incarnation: a string new with each
// registration of the same ID (health.Session has one). The pool then
// records leases under "ID:incarnation", so a session restarted under its
// old ID does not take over the leases of the one before.
type incarnated interface {
	Incarnation() string
}

// incarnation is s's incarnation, "" when it has none.
func incarnation(s Session) string {
	if i, ok := s.(incarnated); ok {
		return i.Incarnation()
	}
	return ""
}

// sessionKey is the name the pool records s's leases and deadline under.
func sessionKey(s Session) string {
	if inc := incarnation(s); inc != "" {
		return s.ID() + ":" + inc
	}
	return s.ID()
}

// InSession takes the lease under a worker session (see Session). A
// session that has ended (closed, lost, or no longer Valid) is refused:
// the malloc writes nothing and returns an error matching ErrInvalid and
// the session's cause (health.ErrClosed or health.ErrSessionLost).
func InSession(s Session) MallocOption { return func(m *mallocConfig) { m.session = s } }

// KeepAlive refreshes the lease every interval in the background until it
// is released or lost (then Lease.Context is cancelled), with the lease
// keeper's renewal loop: each refresh counts from when it was sent, and a
// failed one is retried (every tenth of the TTL, at most 100ms) until the
// local deadline. Zero means a third of the lease TTL; otherwise the
// interval must be at least 1ms and shorter than the TTL less its drift
// margin (a negative one is refused, ErrInvalid).
func KeepAlive(interval time.Duration) MallocOption {
	return func(m *mallocConfig) { m.keepAlive, m.aliveSet = interval, true }
}
