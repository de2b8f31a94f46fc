package task

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/lease"
)

// Defaults and limits; each option's doc states the default it stands for.
const (
	defaultTimeout         = 5 * time.Minute
	defaultRetention       = 10 * time.Minute
	defaultFailedRetention = 7 * 24 * time.Hour
	defaultMaxAttempts     = 3
	maxAttemptsLimit       = 1000
	// defaultWaitPoll bounds one blocking wait of a caller or an idle
	// worker. Wake-ups are pushed by the script that changes the task, so
	// this is only a safety net for a wake-up that was lost (a process
	// paused at the wrong moment).
	defaultWaitPoll = 2 * time.Second
	// defaultHousekeeping is how many expired records, due delayed tasks
	// and lapsed leases each enqueue or claim handles first.
	defaultHousekeeping = 16
	minPriority         = -2048
	maxPriority         = 2047
	// maxDuration bounds every duration (about 68 years), keeping
	// server-side times exact.
	maxDuration = 1 << 41 * time.Millisecond
)

// Defaults of Run.
const (
	defaultWorkers   = 16
	defaultGrace     = 30 * time.Second
	defaultHeartbeat = time.Second
	// heartbeatMisses is how many heartbeats make the registration's TTL.
	heartbeatMisses = 5
	// maxClaimBatch bounds the tasks one claim takes.
	maxClaimBatch = 64
)

// maxBackoff caps the default backoff.
const maxBackoff = 5 * time.Minute

// defaultBackoff waits a random time between half and all of a ceiling
// that doubles from one second, capped at five minutes ("equal jitter"):
// tasks that failed together (a dependency down) retry spread out instead
// of in one wave, and never at once.
func defaultBackoff(attempt int, _ error) time.Duration {
	ceil := maxBackoff
	if attempt < 9 {
		ceil = min(time.Second<<(max(attempt, 1)-1), maxBackoff)
	}
	half := ceil / 2
	return half + mrand.N(ceil-half+1)
}

type config struct {
	codec       codec.Codec
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	timeout     time.Duration
	retention   time.Duration
	keep        time.Duration
	maxAttempts int
	backoff     func(attempt int, err error) time.Duration
	waitPoll    time.Duration
	budget      int
}

// Option configures a Queue in [New].
type Option func(*config)

// WithCodec sets how params and results are encoded; the default is
// codec.CBOR. Every process sharing a queue must use the same codec: the
// codec's name is part of the queue's shape (see [ErrShape]).
func WithCodec(c codec.Codec) Option { return func(o *config) { o.codec = c } }

// WithTracerProvider sets where spans go; nil or absent means the global
// provider, even one set after New.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *config) { o.tp = tp } }

// WithMeterProvider sets where metrics go; nil or absent means the global
// provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *config) { o.mp = mp } }

// WithDefaultTimeout sets the timeout of tasks submitted without the
// [Timeout] option: 5 minutes by default, at most about 68 years.
func WithDefaultTimeout(d time.Duration) Option { return func(o *config) { o.timeout = d } }

// WithRetention sets how long records are kept once their task finished:
// finished records stay readable for finished (10 minutes by default;
// never less than until the task's deadline), and failed tasks stay in the
// dead-letter set for failed (7 days by default). A zero value keeps the
// default of that one.
func WithRetention(finished, failed time.Duration) Option {
	return func(o *config) { o.retention, o.keep = finished, failed }
}

// WithMaxAttempts sets how many times tasks are run at most: 3 by default,
// 1 to 1000; 1 means never retry. Handler errors and lost workers both use
// up an attempt.
func WithMaxAttempts(n int) Option { return func(o *config) { o.maxAttempts = n } }

// WithBackoff sets the wait before attempt+1 after attempt (1-based)
// failed with err. The default waits a random time between half and all
// of a ceiling that doubles from one second (1s, 2s, 4s, ...) and stops at
// five minutes, so tasks that failed together do not retry together. The
// worker calls f; a negative wait counts as 0. A retry that
// would start after the task's deadline is not made: the task fails
// instead.
func WithBackoff(f func(attempt int, err error) time.Duration) Option {
	return func(o *config) { o.backoff = f }
}

// withWaitPoll bounds one blocking wait of a caller or an idle worker (2 s
// by default); tests shorten it.
func withWaitPoll(d time.Duration) Option { return func(o *config) { o.waitPoll = d } }

// withHousekeeping sets how many expired records, due delayed tasks and
// lapsed leases each enqueue and claim handles first (16 by default).
func withHousekeeping(n int) Option { return func(o *config) { o.budget = n } }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func checkDuration(what string, d time.Duration) error {
	if d < time.Millisecond || d > maxDuration {
		return fmt.Errorf("%w: %s %v must be between 1ms and %v", ErrInvalid, what, d, maxDuration)
	}
	return nil
}

// newConfig applies and validates the options of New.
func newConfig(opts []Option) (config, error) {
	c := config{codec: codec.CBOR, backoff: defaultBackoff, budget: defaultHousekeeping}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil Option", ErrInvalid)
		}
		o(&c)
	}
	// A zero value means the default.
	c.timeout = orDefault(c.timeout, defaultTimeout)
	c.retention = orDefault(c.retention, defaultRetention)
	c.keep = orDefault(c.keep, defaultFailedRetention)
	c.waitPoll = orDefault(c.waitPoll, defaultWaitPoll)
	c.maxAttempts = orDefault(c.maxAttempts, defaultMaxAttempts)
	c.budget = orDefault(c.budget, defaultHousekeeping)
	for _, d := range []struct {
		what string
		d    time.Duration
	}{{"default timeout", c.timeout}, {"retention", c.retention}, {"failed retention", c.keep}, {"wait poll", c.waitPoll}} {
		if err := checkDuration(d.what, d.d); err != nil {
			return c, err
		}
	}
	switch {
	case c.codec == nil:
		return c, fmt.Errorf("%w: nil codec", ErrInvalid)
	case c.backoff == nil:
		return c, fmt.Errorf("%w: nil backoff", ErrInvalid)
	case c.maxAttempts < 1 || c.maxAttempts > maxAttemptsLimit:
		return c, fmt.Errorf("%w: max attempts %d must be between 1 and %d", ErrInvalid, c.maxAttempts, maxAttemptsLimit)
	case c.budget < 1 || c.budget > 10000:
		return c, fmt.Errorf("%w: housekeeping budget %d must be between 1 and 10000 (0 means the default)", ErrInvalid, c.budget)
	}
	return c, nil
}

// route says where Query runs a task: the per-call options [Local],
// [Remote], [LocalFirst] and [RemoteFirst] choose one; without them a
// Query runs "auto".
type route int

// The policies of the reference, with its defects fixed.
const (
	routeAuto route = iota
	routeLocal
	routeRemote
	routeLocalFirst
	routeRemoteFirst
)

// name returns the route's name for messages and spans: "auto", "local",
// "remote", "local-first" or "remote-first".
func (p route) name() string {
	switch p {
	case routeAuto:
		return "auto"
	case routeLocal:
		return "local"
	case routeRemote:
		return "remote"
	case routeLocalFirst:
		return "local-first"
	case routeRemoteFirst:
		return "remote-first"
	}
	return fmt.Sprintf("route(%d)", int(p))
}

type queryConfig struct {
	policy      route
	policySet   bool
	timeout     time.Duration
	once        bool
	priority    int
	delay       time.Duration
	maxAttempts int
	noWait      bool
}

// QueryOption adjusts one [Queue.Query] or [Queue.Submit].
type QueryOption func(*queryConfig)

// Without one of the four routing options below a Query runs auto: remotely
// when a live worker runs the queue (one whose heartbeat is fresh), else
// locally; a pending or running task with the same id is joined either
// way. Submit always queues and accepts only [Remote]. The last routing
// option given wins.

// Local runs the handler of a Query in the calling goroutine. Redis is not
// used at all: no record, no dedup, Once and the scheduling options
// ignored.
func Local() QueryOption { return via(routeLocal) }

// Remote queues the task and waits for a worker's outcome, even while no
// worker is live.
func Remote() QueryOption { return via(routeRemote) }

// LocalFirst runs the task locally; if that fails (handler error, panic or
// timeout) it queues a clean task once and waits for the remote outcome.
func LocalFirst() QueryOption { return via(routeLocalFirst) }

// RemoteFirst queues the task; if the remote run fails, or times out while
// the task is still pending and can be withdrawn, it runs locally. A task
// that is running remotely when the wait times out is never run locally as
// well: the caller gets ErrTimeout.
func RemoteFirst() QueryOption { return via(routeRemoteFirst) }

func via(p route) QueryOption { return func(q *queryConfig) { q.policy, q.policySet = p, true } }

// Timeout bounds the task from when it is due to its outcome (default: the
// queue's [WithDefaultTimeout]; at least 1 ms, rounded up to whole ms). It becomes the handler's ctx deadline, the
// caller's wait, and the point after which no worker starts the task. For
// LocalFirst and RemoteFirst each of the two runs gets this long.
func Timeout(d time.Duration) QueryOption { return func(q *queryConfig) { q.timeout = d } }

// Once deletes the task's record when the caller reads its outcome, instead
// of keeping it for the retention period. When several callers wait on the
// task (joined by id), the last of them to read deletes it (the others
// have a minute to read before the record goes).
func Once() QueryOption { return func(q *queryConfig) { q.once = true } }

// Priority sets the task's priority, -2048 to 2047 (default 0): higher
// priorities run first, equal ones in submission order.
func Priority(p int) QueryOption { return func(q *queryConfig) { q.priority = p } }

// Delay makes the task due d from now (by the Redis server's clock;
// rounded up to whole ms). For a moment t, pass time.Until(t): a time in
// the past means now.
func Delay(d time.Duration) QueryOption { return func(q *queryConfig) { q.delay = max(d, 0) } }

// NoWait makes Submit skip registering the caller as a waiter, for
// fire-and-forget submissions at high rates: each registration costs the
// server a short-lived wake-up list per task (40% of the throughput of a
// two-core server in the package benchmarks). A later [Handle.Wait] then
// reads the task first, one round trip more. Query, which always waits,
// refuses it.
func NoWait() QueryOption { return func(q *queryConfig) { q.noWait = true } }

// MaxAttempts sets how many times this task is run at most, 1 to 1000
// (default: the queue's [WithMaxAttempts]).
func MaxAttempts(n int) QueryOption { return func(q *queryConfig) { q.maxAttempts = n } }

// newQueryConfig applies and validates the options of one call.
func (c *core) newQueryConfig(opts []QueryOption) (queryConfig, error) {
	var q queryConfig
	for _, o := range opts {
		if o == nil {
			return q, fmt.Errorf("%w: nil QueryOption", ErrInvalid)
		}
		o(&q)
	}
	q.timeout = orDefault(q.timeout, c.cfg.timeout)
	q.maxAttempts = orDefault(q.maxAttempts, c.cfg.maxAttempts)
	switch {
	case q.priority < minPriority || q.priority > maxPriority:
		return q, fmt.Errorf("%w: priority %d not in [%d, %d]", ErrInvalid, q.priority, minPriority, maxPriority)
	case q.maxAttempts < 1 || q.maxAttempts > maxAttemptsLimit:
		return q, fmt.Errorf("%w: max attempts %d must be between 1 and %d", ErrInvalid, q.maxAttempts, maxAttemptsLimit)
	case q.delay < 0 || q.delay > maxDuration:
		return q, fmt.Errorf("%w: delay %v", ErrInvalid, q.delay)
	}
	if err := checkDuration("timeout", q.timeout); err != nil {
		return q, err
	}
	return q, nil
}

type runConfig struct {
	workers   int
	grace     time.Duration
	graceSet  bool
	leaseTTL  time.Duration
	heartbeat time.Duration
	onError   func(error)
	workerID  string
}

// RunOption adjusts one [Queue.Run].
type RunOption func(*runConfig)

// Workers sets how many handlers run at once, 1 to 100000 (16 by
// default).
func Workers(n int) RunOption { return func(l *runConfig) { l.workers = n } }

// Grace sets how long Run waits for running handlers once its ctx ends,
// before it cancels them with a cause matching [ErrLost] (30 s by default). Zero
// cancels them at once.
func Grace(d time.Duration) RunOption {
	return func(l *runConfig) { l.grace, l.graceSet = d, true }
}

// Heartbeat sets how often the worker renews its registration and the
// leases of its tasks (1 s by default, at least 2 ms). It is also how often
// a cancellation reaches a running handler. A worker missing for five
// heartbeats counts as dead: its tasks return to the queue, and auto routing
// stops sending tasks its way. A worker that cannot renew ends its
// handlers (cause [ErrLost]) three heartbeats after its last answered one,
// less a drift margin, so they have two heartbeats to wind down before the
// task can start elsewhere (see [Queue.Run]).
func Heartbeat(d time.Duration) RunOption { return func(l *runConfig) { l.heartbeat = d } }

// OnError receives errors Run recovers from (Redis unreachable, a result
// that could not be stored, a claim refused with [ErrShape]); Run keeps
// going. f may be called
// from several goroutines at once and must not block.
func OnError(f func(error)) RunOption { return func(l *runConfig) { l.onError = f } }

var workerIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// WorkerID sets the id under which the worker registers (default: random).
// It is 1 to 64 letters, digits, '.', '_', ':' or '-', and must be unique
// among live workers: a health-checking session id fits. Two Run calls
// with one id would renew each other's registration and leases.
func WorkerID(id string) RunOption { return func(l *runConfig) { l.workerID = id } }

// newRunConfig applies and validates the options of Run.
func newRunConfig(opts []RunOption) (runConfig, error) {
	var l runConfig
	for _, o := range opts {
		if o == nil {
			return l, fmt.Errorf("%w: nil RunOption", ErrInvalid)
		}
		o(&l)
	}
	l.workers = orDefault(l.workers, defaultWorkers)
	l.heartbeat = orDefault(l.heartbeat, defaultHeartbeat)
	if !l.graceSet {
		l.grace = defaultGrace
	}
	if l.grace < 0 || l.grace > maxDuration {
		return l, fmt.Errorf("%w: grace %v", ErrInvalid, l.grace)
	}
	if l.workers < 1 || l.workers > 100000 {
		return l, fmt.Errorf("%w: workers %d must be between 1 and 100000", ErrInvalid, l.workers)
	}
	if err := checkDuration("heartbeat", l.heartbeat); err != nil {
		return l, err
	}
	// A task's lease lapses with the worker's registration.
	l.leaseTTL = heartbeatMisses * l.heartbeat
	if l.workerID == "" {
		var r [8]byte
		_, _ = rand.Read(r[:])
		l.workerID = "w-" + hex.EncodeToString(r[:])
	} else if !workerIDRE.MatchString(l.workerID) {
		return l, fmt.Errorf("%w: worker id %q", ErrInvalid, l.workerID)
	}
	// The keeper renews every heartbeat: the cut-off must outlast one
	// heartbeat, else the worker would lapse between two answered ones.
	if cut := l.cutoff(); cut-lease.Margin(cut) <= l.heartbeat {
		return l, fmt.Errorf("%w: heartbeat %v: the cut-off, %d heartbeats − 2 heartbeats (%v), less its margin must be longer than a heartbeat",
			ErrInvalid, l.heartbeat, heartbeatMisses, cut)
	}
	return l, nil
}

// cutoff is the TTL of the worker's liveness lease (its lease.Keeper): how
// long after sending its last answered heartbeat a worker may trust that
// Redis still counts it live and leaves its tasks with it. Redis may hand
// them to another worker from heartbeatMisses heartbeats on (the
// registration and the tasks' leases lapse). The keeper ends a drift
// margin (1% + 2ms) before that; the task package asks for two more
// heartbeats on top, so that a handler told ErrLost has that long to wind
// down before the task can start elsewhere: 3 s with the defaults.
func (l runConfig) cutoff() time.Duration {
	return min(l.leaseTTL, heartbeatMisses*l.heartbeat) - 2*l.heartbeat
}
