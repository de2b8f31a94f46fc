package health

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults.
const (
	// DefaultGroup is the session group when WithGroup is not given.
	DefaultGroup = "workers"
	// DefaultInterval is how often a session heartbeats and a checker runs.
	DefaultInterval = time.Second
	// DefaultTimeout is how long a session lives after its last heartbeat.
	DefaultTimeout = 5 * time.Second
	// DefaultConcurrency bounds the probes a checker runs at once.
	DefaultConcurrency = 4
	// DefaultProbeTimeout bounds one probe.
	DefaultProbeTimeout = 5 * time.Second
	// DefaultCooldown is the first quarantine of a failing member; each
	// further failure in a row doubles it, up to DefaultMaxCooldown.
	DefaultCooldown    = 30 * time.Second
	DefaultMaxCooldown = 10 * time.Minute
)

type config struct {
	group        string
	id           string
	interval     time.Duration
	timeout      time.Duration
	labels       map[string]string
	events       EventFunc
	tp           trace.TracerProvider
	mp           metric.MeterProvider
	concurrency  int
	probeTimeout time.Duration
	cooldown     time.Duration
	maxCooldown  time.Duration
}

// Option configures NewSession, NewRegistry and NewChecker; each says which
// options it reads and ignores the others.
type Option func(*config)

// WithGroup sets the session group (DefaultGroup): sessions, registries and
// reapers of one group see each other.
func WithGroup(name string) Option { return func(c *config) { c.group = name } }

// WithID sets the session id instead of a random one.
func WithID(id string) Option { return func(c *config) { c.id = id } }

// WithInterval sets the heartbeat interval of a session, or the probing
// interval of Checker.Run (DefaultInterval).
func WithInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithTimeout sets how long a session lives after a heartbeat
// (DefaultTimeout); it must be at least twice the interval.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithLabels attaches metadata to a session (listed by Registry.Workers).
func WithLabels(l map[string]string) Option { return func(c *config) { c.labels = l } }

// WithEvents receives state changes.
func WithEvents(f EventFunc) Option { return func(c *config) { c.events = f } }

// WithTracerProvider sets where spans go (default: the global provider).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets where metrics go (default: the global provider).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithConcurrency bounds how many probes a checker runs at once
// (DefaultConcurrency).
func WithConcurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WithProbeTimeout bounds one probe (DefaultProbeTimeout); a probe still
// running then counts as failed.
func WithProbeTimeout(d time.Duration) Option { return func(c *config) { c.probeTimeout = d } }

// WithCooldown sets the first quarantine of a failing member and the cap
// its doubling stops at (DefaultCooldown, DefaultMaxCooldown).
func WithCooldown(first, maxCooldown time.Duration) Option {
	return func(c *config) { c.cooldown, c.maxCooldown = first, maxCooldown }
}

func newConfig(opts []Option) (config, error) {
	c := config{
		group: DefaultGroup, interval: DefaultInterval, timeout: DefaultTimeout,
		concurrency: DefaultConcurrency, probeTimeout: DefaultProbeTimeout,
		cooldown: DefaultCooldown, maxCooldown: DefaultMaxCooldown,
	}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		o(&c)
	}
	switch {
	case c.interval < time.Millisecond:
		return c, fmt.Errorf("%w: interval %v must be at least 1ms", ErrInvalidOption, c.interval)
	case c.timeout < 2*c.interval:
		return c, fmt.Errorf("%w: timeout %v must be at least twice the interval %v", ErrInvalidOption, c.timeout, c.interval)
	case c.concurrency < 1:
		return c, fmt.Errorf("%w: concurrency %d", ErrInvalidOption, c.concurrency)
	case c.probeTimeout < time.Millisecond:
		return c, fmt.Errorf("%w: probe timeout %v", ErrInvalidOption, c.probeTimeout)
	case c.cooldown < time.Millisecond || c.maxCooldown < c.cooldown:
		return c, fmt.Errorf("%w: cooldown %v, max %v", ErrInvalidOption, c.cooldown, c.maxCooldown)
	}
	return c, nil
}
