package health

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults, stated in the docs of the options that change them.
const (
	defaultGroup        = "workers"
	defaultInterval     = time.Second
	defaultTimeout      = 5 * time.Second
	defaultConcurrency  = 4
	defaultProbeTimeout = 5 * time.Second
	defaultCooldown     = 30 * time.Second
	defaultMaxCooldown  = 10 * time.Minute
)

// Each constructor has its own option type, so the compiler refuses an
// option that means nothing to it: health.NewChecker(…, health.WithTimeout(d))
// does not compile (TestOptionTypes checks this with go/types). Options that
// several constructors read implement several of the interfaces.

// SessionOption configures [NewSession].
type SessionOption interface{ applySession(*sessionConfig) }

// RegistryOption configures [NewRegistry].
type RegistryOption interface{ applyRegistry(*registryConfig) }

// CheckerOption configures [NewChecker].
type CheckerOption interface{ applyChecker(*checkerConfig) }

// Option is an option every constructor reads: [WithEvents],
// [WithErrorFunc], [WithTracerProvider], [WithMeterProvider].
type Option interface {
	SessionOption
	RegistryOption
	CheckerOption
}

// GroupOption is [WithGroup]'s type: sessions and registries read it.
type GroupOption interface {
	SessionOption
	RegistryOption
}

// common is what every constructor reads.
type common struct {
	events func(Event)
	onErr  func(error)
	tp     trace.TracerProvider
	mp     metric.MeterProvider
}

type sessionConfig struct {
	common
	group    string
	id       string
	interval time.Duration
	timeout  time.Duration
	labels   map[string]string
}

type registryConfig struct {
	common
	group     string
	reapEvery time.Duration
	reapGrace time.Duration
}

type checkerConfig struct {
	common
	interval     time.Duration
	concurrency  int
	probeTimeout time.Duration
	cooldown     time.Duration
	maxCooldown  time.Duration
}

type commonOption func(*common)

func (f commonOption) applySession(c *sessionConfig)   { f(&c.common) }
func (f commonOption) applyRegistry(c *registryConfig) { f(&c.common) }
func (f commonOption) applyChecker(c *checkerConfig)   { f(&c.common) }

type groupOption string

func (g groupOption) applySession(c *sessionConfig)   { c.group = string(g) }
func (g groupOption) applyRegistry(c *registryConfig) { c.group = string(g) }

type sessionOption func(*sessionConfig)

func (f sessionOption) applySession(c *sessionConfig) { f(c) }

type registryOption func(*registryConfig)

func (f registryOption) applyRegistry(c *registryConfig) { f(c) }

type checkerOption func(*checkerConfig)

func (f checkerOption) applyChecker(c *checkerConfig) { f(c) }

// WithGroup sets the session group (default "workers"): sessions and
// registries of one group see each other. A bad name fails the
// constructor with ErrInvalid (and redisallocator.ErrInvalidName).
func WithGroup(name string) GroupOption { return groupOption(name) }

// WithEvents receives state changes (see [Event]). f runs on the goroutine
// that saw the change and must return quickly.
func WithEvents(f func(Event)) Option { return commonOption(func(c *common) { c.events = f }) }

// WithErrorFunc receives the errors of background loops that do not stop
// them: a failed heartbeat of [Session.Run], a failed reap of
// [Registry.RunReaper], a failed pass of [Checker.Run]. It runs on the
// loop's goroutine and must return quickly. Default: errors are dropped.
func WithErrorFunc(f func(error)) Option { return commonOption(func(c *common) { c.onErr = f }) }

// WithTracerProvider sets where spans go (default: the global provider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return commonOption(func(c *common) { c.tp = tp })
}

// WithMeterProvider sets where metrics go (default: the global provider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return commonOption(func(c *common) { c.mp = mp })
}

// WithID sets the session id instead of a random one: 1 to 64 letters,
// digits, '-', '_', '.' or ':'.
func WithID(id string) SessionOption { return sessionOption(func(c *sessionConfig) { c.id = id }) }

// WithInterval sets how often [Session.Run] heartbeats (default 1s, at
// least 1ms).
func WithInterval(d time.Duration) SessionOption {
	return sessionOption(func(c *sessionConfig) { c.interval = d })
}

// WithTimeout sets the session's TTL: how long it lives after a heartbeat
// (default 5s); it must be at least twice the interval.
func WithTimeout(d time.Duration) SessionOption {
	return sessionOption(func(c *sessionConfig) { c.timeout = d })
}

// WithLabels attaches metadata to a session (listed by [Registry.Workers]).
func WithLabels(l map[string]string) SessionOption {
	return sessionOption(func(c *sessionConfig) { c.labels = l })
}

// WithReaper sets how often [Registry.RunReaper] reaps (at least 1ms) and
// how long after its deadline a session is reaped (grace, >= 0). Default:
// every 5s, no grace.
func WithReaper(every, grace time.Duration) RegistryOption {
	return registryOption(func(c *registryConfig) { c.reapEvery, c.reapGrace = every, grace })
}

// WithProbeInterval sets how often [Checker.Run] probes the pool (default
// 1s, at least 1ms).
func WithProbeInterval(d time.Duration) CheckerOption {
	return checkerOption(func(c *checkerConfig) { c.interval = d })
}

// WithConcurrency bounds how many probes a checker runs at once (default
// 4, at least 1).
func WithConcurrency(n int) CheckerOption {
	return checkerOption(func(c *checkerConfig) { c.concurrency = n })
}

// WithProbeTimeout bounds one probe (default 5s, at least 1ms); a probe
// still running then counts as failed.
func WithProbeTimeout(d time.Duration) CheckerOption {
	return checkerOption(func(c *checkerConfig) { c.probeTimeout = d })
}

// WithCooldown sets the first quarantine of a failing member (default 30s,
// at least 1ms) and the cap its doubling stops at (default 10m, at least
// first): each further failure in a row doubles the quarantine.
func WithCooldown(first, maxCooldown time.Duration) CheckerOption {
	return checkerOption(func(c *checkerConfig) { c.cooldown, c.maxCooldown = first, maxCooldown })
}

// apply runs opts over c, refusing nil ones.
func apply[O any](opts []O, f func(O)) error {
	for _, o := range opts {
		if any(o) == nil {
			return fmt.Errorf("%w: nil option", ErrInvalid)
		}
		f(o)
	}
	return nil
}

func newSessionConfig(opts []SessionOption) (sessionConfig, error) {
	c := sessionConfig{group: defaultGroup, interval: defaultInterval, timeout: defaultTimeout}
	if err := apply(opts, func(o SessionOption) { o.applySession(&c) }); err != nil {
		return c, err
	}
	switch {
	case c.interval < time.Millisecond:
		return c, fmt.Errorf("%w: WithInterval(%v): want at least 1ms", ErrInvalid, c.interval)
	case c.timeout < 2*c.interval:
		return c, fmt.Errorf("%w: WithTimeout(%v): want at least twice the interval %v", ErrInvalid, c.timeout, c.interval)
	}
	return c, nil
}

func newRegistryConfig(opts []RegistryOption) (registryConfig, error) {
	c := registryConfig{group: defaultGroup, reapEvery: defaultTimeout}
	if err := apply(opts, func(o RegistryOption) { o.applyRegistry(&c) }); err != nil {
		return c, err
	}
	switch {
	case c.reapEvery < time.Millisecond:
		return c, fmt.Errorf("%w: WithReaper: interval %v: want at least 1ms", ErrInvalid, c.reapEvery)
	case c.reapGrace < 0:
		return c, fmt.Errorf("%w: WithReaper: grace %v is negative", ErrInvalid, c.reapGrace)
	}
	return c, nil
}

func newCheckerConfig(opts []CheckerOption) (checkerConfig, error) {
	c := checkerConfig{
		interval: defaultInterval, concurrency: defaultConcurrency, probeTimeout: defaultProbeTimeout,
		cooldown: defaultCooldown, maxCooldown: defaultMaxCooldown,
	}
	if err := apply(opts, func(o CheckerOption) { o.applyChecker(&c) }); err != nil {
		return c, err
	}
	switch {
	case c.interval < time.Millisecond:
		return c, fmt.Errorf("%w: WithProbeInterval(%v): want at least 1ms", ErrInvalid, c.interval)
	case c.concurrency < 1:
		return c, fmt.Errorf("%w: WithConcurrency(%d): want at least 1", ErrInvalid, c.concurrency)
	case c.probeTimeout < time.Millisecond:
		return c, fmt.Errorf("%w: WithProbeTimeout(%v): want at least 1ms", ErrInvalid, c.probeTimeout)
	case c.cooldown < time.Millisecond || c.maxCooldown < c.cooldown:
		return c, fmt.Errorf("%w: WithCooldown(%v, %v): want 1ms <= first <= max", ErrInvalid, c.cooldown, c.maxCooldown)
	}
	return c, nil
}
