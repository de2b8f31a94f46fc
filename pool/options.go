package pool

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/codec"
)

// Defaults and limits.
const (
	// DefaultLeaseTTL is how long an allocation lasts unless refreshed.
	DefaultLeaseTTL = 2 * time.Minute
	// DefaultTimerBudget is how many due timers (lapsed leases, expired
	// members, ended quarantines, expired bindings) each malloc handles
	// before allocating, so a pool without a GC loop still recovers.
	DefaultTimerBudget = 16
	// DefaultWaitPoll bounds one wait of a waiting malloc when no timer is
	// due sooner; frees wake waiters at once, so this only matters when a
	// waiter misses a wake-up (its process was paused, say).
	DefaultWaitPoll = 2 * time.Second
	// MinPriority and MaxPriority bound member priorities; higher is handed
	// out first.
	MinPriority = -2048
	MaxPriority = 2047
	// MaxBatch bounds MallocN and the members of one Extend, Put, Assign,
	// Shrink or Free call, so one script never blocks Redis for long.
	MaxBatch = 10000
	// MaxTTL bounds every duration (about 68 years), keeping server-side
	// deadlines exact.
	MaxTTL = 1 << 41 * time.Millisecond
)

type config struct {
	codec     codec.Codec
	shared    bool
	leaseTTL  time.Duration
	budget    int
	waitPoll  time.Duration
	tp        trace.TracerProvider
	mp        metric.MeterProvider
	source    SourceFunc
	srcEvery  time.Duration
	srcAssign bool
}

// Option configures a Pool in New.
type Option func(*config)

// WithCodec sets how member values are encoded; the default is codec.CBOR
// (the fastest of the three on this project's machines, and deterministic).
// Every process sharing a pool must use the same codec.
func WithCodec(c codec.Codec) Option { return func(o *config) { o.codec = c } }

// WithShared makes the pool shared: Malloc hands members out round-robin
// and nobody holds them exclusively (the reference's shared=True). Free and
// Refresh of shared allocations do nothing.
func WithShared() Option { return func(o *config) { o.shared = true } }

// WithLeaseTTL sets the default lease of an allocation (DefaultLeaseTTL).
func WithLeaseTTL(d time.Duration) Option { return func(o *config) { o.leaseTTL = d } }

// WithTimerBudget sets how many due timers each malloc handles first
// (DefaultTimerBudget); 0 leaves all the work to GC.
func WithTimerBudget(n int) Option { return func(o *config) { o.budget = n } }

// WithWaitPoll bounds a single wait of a waiting malloc (DefaultWaitPoll;
// at most 30 s are used, so the pool never takes a live waiter for a dead
// one). A waiting MallocN of several members checks again at this interval
// (or when a timer is due); a single-member malloc is also woken by frees.
func WithWaitPoll(d time.Duration) Option { return func(o *config) { o.waitPoll = d } }

// WithTracerProvider sets where spans go; nil or absent means the global
// provider, even one set after New.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *config) { o.tp = tp } }

// WithMeterProvider sets where metrics go; nil or absent means the global
// provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *config) { o.mp = mp } }

// SourceFunc yields the current membership of a pool, for pools fed from an
// inventory (a proxy provider's API, a config service).
type SourceFunc func(ctx context.Context) ([]Member, error)

// Member is one member as a source reports it.
type Member struct {
	Key      string
	Priority int
	// Expiry removes the member that long after it is applied; 0 keeps it
	// until the source stops reporting it (with replace) or forever.
	Expiry time.Duration
}

// WithSource feeds the pool from src at most once per interval across all
// processes (see Pool.RefreshFromSource and Pool.Maintain). With replace the
// reported members become the whole membership (Assign); without it they
// are added (Extend). Held members stay held either way.
func WithSource(src SourceFunc, interval time.Duration, replace bool) Option {
	return func(o *config) { o.source, o.srcEvery, o.srcAssign = src, interval, replace }
}

func newConfig(opts []Option) (config, error) {
	c := config{codec: codec.CBOR, leaseTTL: DefaultLeaseTTL, budget: DefaultTimerBudget, waitPoll: DefaultWaitPoll}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		o(&c)
	}
	switch {
	case c.codec == nil:
		return c, fmt.Errorf("%w: nil codec", ErrInvalidOption)
	case c.leaseTTL < time.Millisecond || c.leaseTTL > MaxTTL:
		return c, fmt.Errorf("%w: lease TTL %v must be between 1ms and %v", ErrInvalidDuration, c.leaseTTL, MaxTTL)
	case c.budget < 0 || c.budget > MaxBatch:
		return c, fmt.Errorf("%w: timer budget %d", ErrInvalidOption, c.budget)
	case c.waitPoll < time.Millisecond:
		return c, fmt.Errorf("%w: wait poll %v", ErrInvalidDuration, c.waitPoll)
	case c.source != nil && c.srcEvery < time.Millisecond:
		return c, fmt.Errorf("%w: source interval %v", ErrInvalidDuration, c.srcEvery)
	}
	return c, nil
}

type memberConfig struct {
	prio      *int
	expiry    *time.Duration // 0: no expiry
	setExpiry bool
}

// MemberOption sets per-member properties in Extend, Put and Assign.
type MemberOption func(*memberConfig)

// WithPriority sets the members' priority (MinPriority..MaxPriority);
// Malloc hands out higher priorities first, ties least recently freed
// first. New members default to 0; existing ones keep theirs unless given.
func WithPriority(p int) MemberOption { return func(m *memberConfig) { m.prio = &p } }

// WithExpiry makes the members leave the pool d from now (a held member
// leaves when its lease ends, never under its holder).
func WithExpiry(d time.Duration) MemberOption {
	return func(m *memberConfig) { m.expiry, m.setExpiry = &d, true }
}

// WithoutExpiry removes any expiry from the members.
func WithoutExpiry() MemberOption {
	return func(m *memberConfig) { z := time.Duration(0); m.expiry, m.setExpiry = &z, true }
}

func newMemberConfig(opts []MemberOption) (memberConfig, error) {
	var m memberConfig
	for _, o := range opts {
		if o == nil {
			return m, fmt.Errorf("%w: nil MemberOption", ErrInvalidOption)
		}
		o(&m)
	}
	if m.prio != nil && (*m.prio < MinPriority || *m.prio > MaxPriority) {
		return m, fmt.Errorf("%w: %d not in [%d, %d]", ErrInvalidPriority, *m.prio, MinPriority, MaxPriority)
	}
	if m.setExpiry && *m.expiry != 0 && (*m.expiry < time.Millisecond || *m.expiry > MaxTTL) {
		return m, fmt.Errorf("%w: expiry %v must be between 1ms and %v", ErrInvalidDuration, *m.expiry, MaxTTL)
	}
	return m, nil
}

type mallocConfig struct {
	ttl       time.Duration
	permanent bool
	bindName  string
	bindTTL   time.Duration
	wait      bool
	session   Session
	keepAlive time.Duration
	member    string // MallocMember's member
}

// MallocOption adjusts one Malloc, MallocKey or MallocN call.
type MallocOption func(*mallocConfig)

// LeaseTTL sets this allocation's lease instead of the pool default.
func LeaseTTL(d time.Duration) MallocOption { return func(m *mallocConfig) { m.ttl = d } }

// PermanentLease makes the lease last until freed. A crashed holder then
// keeps the member forever (an administrator's FreeKeys recovers it), so
// prefer a TTL with KeepAlive.
func PermanentLease() MallocOption { return func(m *mallocConfig) { m.permanent = true } }

// Bind asks for the member bound to name (soft binding): it is handed out
// when free and healthy; otherwise another member is, and name is bound to
// it. The binding lasts ttl after each allocation (0: never expires).
func Bind(name string, ttl time.Duration) MallocOption {
	return func(m *mallocConfig) { m.bindName, m.bindTTL = name, ttl }
}

// Wait makes an empty pool block the call until a member is freed or ctx
// ends, instead of returning ErrEmpty. Frees wake single-member waiters at
// once; a MallocN of several members checks again every WithWaitPoll.
func Wait() MallocOption { return func(m *mallocConfig) { m.wait = true } }

// Session is a worker session whose heartbeat keeps its leases alive (a
// health.Session is one). A lease taken InSession is reclaimed as soon as the
// pool sees the session dead — its heartbeat stopped for Timeout — instead of
// when the lease lapses, and the lease's Context ends with the session's.
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

// InSession takes the lease under a worker session (see Session).
func InSession(s Session) MallocOption { return func(m *mallocConfig) { m.session = s } }

// KeepAlive refreshes the lease every interval in the background until it
// is freed or lost (then Lease.Context is cancelled). Zero means a third of
// the lease TTL.
func KeepAlive(interval time.Duration) MallocOption {
	return func(m *mallocConfig) {
		m.keepAlive = interval
		if interval == 0 {
			m.keepAlive = -1 // resolved against the TTL
		}
	}
}
