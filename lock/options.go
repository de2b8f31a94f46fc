package lock

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults used when an option is not given or given its zero value, and
// bounds; the docs of the options state them.
const (
	defaultTTL           = 30 * time.Second
	defaultEpsilon       = 1e-6 // as in the reference
	defaultPollMin       = 2 * time.Millisecond
	defaultPollMax       = 100 * time.Millisecond
	defaultQuorumTimeout = 500 * time.Millisecond
	// minLeaseTTL: shorter leases would be eaten by the clock-drift margin.
	minLeaseTTL = 10 * time.Millisecond
	// maxTTL is the longest finite TTL accepted anywhere (about 100 years):
	// longer ones are refused before anything is sent, rather than
	// overflowing on the way to Redis.
	maxTTL = 100 * 365 * 24 * time.Hour
)

// Special TTL values. They are far from any real duration, so a computed
// TTL that came out zero or negative is refused rather than mistaken for
// one of them.
const (
	// Permanent, passed as a TTL, stores a lock or value without expiry.
	// The reference made every sub-second TTL permanent by truncation; here
	// permanence has to be asked for by name.
	Permanent time.Duration = math.MaxInt64
	// KeepTTL, passed to [Locker.CompareAndSet], keeps the TTL the key
	// already has (none for a key that did not exist).
	KeepTTL time.Duration = math.MaxInt64 - 1
)

// Option configures [New], [NewPool] and [NewQuorum]. A zero argument
// means the default.
type Option interface{ apply(*options) }

// MutexOption configures mutexes: [WithTTL], [WithWatchdog],
// [WithPollInterval], [WithQuorumTimeout]. Given to
// [Locker.Mutex] or [Quorum.Mutex] it configures that mutex; given to a
// constructor (every MutexOption is an Option) it is the default of every
// mutex made there. Options that mean nothing to one mutex (the
// providers) are not MutexOptions, so the compiler refuses them there.
type MutexOption interface {
	Option
	mutexOption()
}

// option is a constructor-only Option.
type option func(*options)

func (f option) apply(o *options) { f(o) }

// mutexOption is an Option that also configures one mutex.
type mutexOption func(*options)

func (f mutexOption) apply(o *options) { f(o) }
func (mutexOption) mutexOption()       {}

type options struct {
	ttl           time.Duration
	watchdog      bool
	noTracking    bool
	pollMin       time.Duration
	pollMax       time.Duration
	quorumTimeout time.Duration
	tp            trace.TracerProvider
	mp            metric.MeterProvider

	errs []error
}

func (o *options) fail(format string, args ...any) {
	o.errs = append(o.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
}

// WithTTL sets the lease TTL of mutexes (default 30s). It must be at least
// 10ms, since shorter leases would be eaten by the clock-drift margin, and
// at most 100 years (365-day years); a lease cannot be [Permanent]. It does
// not apply to [Locker.Lock] and friends, which take the TTL as an
// argument.
func WithTTL(ttl time.Duration) MutexOption {
	return mutexOption(func(o *options) {
		switch {
		case ttl < 0:
			o.fail("WithTTL(%v): negative", ttl)
		case ttl == Permanent || ttl == KeepTTL:
			o.fail("WithTTL: a lease must expire")
		case ttl > 0 && ttl < minLeaseTTL:
			o.fail("WithTTL(%v): below the shortest lease, %v", ttl, minLeaseTTL)
		case ttl > maxTTL:
			o.fail("WithTTL(%v): above the longest TTL, %v", ttl, maxTTL)
		default:
			o.ttl = ttl
		}
	})
}

// WithWatchdog turns on automatic renewal of leases (default off). A
// lease then renews itself every third of its TTL until it is released or
// lost; without it a lease expires after one TTL unless [Lease.Refresh] is
// called.
func WithWatchdog(on bool) MutexOption {
	return mutexOption(func(o *options) { o.watchdog = on })
}

// withTracking(false) makes waiters always poll, with [WithPollInterval],
// as they do where the server has no CLIENT TRACKING. Tests only: tracking
// is detected per server and never worse.
func withTracking(on bool) MutexOption {
	return mutexOption(func(o *options) { o.noTracking = !on })
}

// WithPollInterval sets the delays between attempts when polling: the
// first is minDelay, then it doubles up to maxDelay, each with random
// jitter between half and all of it (defaults 2ms and 100ms; a zero
// argument takes its default). A delay never runs past the holder's expiry. With
// tracking working, waiters do not poll; they still retry at the holder's
// expiry and at least once a second, in case an invalidation is lost.
func WithPollInterval(minDelay, maxDelay time.Duration) MutexOption {
	return mutexOption(func(o *options) {
		if minDelay < 0 || maxDelay < 0 || (minDelay > 0 && maxDelay > 0 && minDelay > maxDelay) {
			o.fail("WithPollInterval(%v, %v): want 0 <= min <= max", minDelay, maxDelay)
			return
		}
		o.pollMin, o.pollMax = minDelay, maxDelay
	})
}

// WithQuorumTimeout bounds how long a quorum lock waits for each server
// during one acquisition (default 500ms, capped at a third of the TTL).
func WithQuorumTimeout(d time.Duration) MutexOption {
	return mutexOption(func(o *options) {
		if d < 0 {
			o.fail("WithQuorumTimeout(%v): negative", d)
			return
		}
		o.quorumTimeout = d
	})
}

// WithTracerProvider sets the OpenTelemetry tracer provider; nil (the
// default) follows the global one. Only for New, NewPool and NewQuorum.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return option(func(o *options) {
		o.tp = tp
	})
}

// WithMeterProvider sets the OpenTelemetry meter provider; nil (the
// default) follows the global one. Only for New, NewPool and NewQuorum.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return option(func(o *options) {
		o.mp = mp
	})
}

// buildOptions applies opts over base and fills in defaults: the one
// place options are validated.
func buildOptions[O Option](base options, opts []O) (options, error) {
	o := base
	o.errs = nil
	for _, opt := range opts {
		if Option(opt) == nil {
			o.fail("nil option")
			continue
		}
		opt.apply(&o)
	}
	if o.ttl == 0 {
		o.ttl = defaultTTL
	}
	if o.pollMin == 0 {
		o.pollMin = defaultPollMin
	}
	if o.pollMax == 0 {
		o.pollMax = max(defaultPollMax, o.pollMin)
	}
	if o.pollMin > o.pollMax {
		o.fail("poll interval: min %v above max %v", o.pollMin, o.pollMax)
	}
	if o.quorumTimeout == 0 {
		o.quorumTimeout = defaultQuorumTimeout
	}
	return o, errors.Join(o.errs...)
}
