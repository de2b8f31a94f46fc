package task

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/codec"
)

// Defaults and limits.
const (
	// DefaultTimeout is how long a task may take, from when it is due to
	// its outcome, unless the Timeout query option says otherwise. It is the
	// reference's queue timeout.
	DefaultTimeout = 5 * time.Minute
	// DefaultRetention is how long a finished task's record (its result)
	// stays readable; never less than until the task's deadline.
	DefaultRetention = 10 * time.Minute
	// DefaultFailedRetention is how long a failed task stays in the
	// dead-letter set before its record is deleted.
	DefaultFailedRetention = 7 * 24 * time.Hour
	// DefaultMaxAttempts is how many times a task is run at most: handler
	// errors and lost workers both use up an attempt.
	DefaultMaxAttempts = 3
	// MaxAttemptsLimit bounds MaxAttempts and WithMaxAttempts.
	MaxAttemptsLimit = 1000
	// DefaultWaitPoll bounds one blocking wait of a caller or an idle
	// worker. Wake-ups are pushed by the script that changes the task, so
	// this is only a safety net for a wake-up that was lost (a process
	// paused at the wrong moment).
	DefaultWaitPoll = 2 * time.Second
	// DefaultHousekeeping is how many expired records, due delayed tasks and
	// lapsed leases each enqueue or claim handles first.
	DefaultHousekeeping = 16
	// MinPriority and MaxPriority bound task priorities; higher runs first,
	// equal ones in submission order.
	MinPriority = -2048
	MaxPriority = 2047
	// MaxDuration bounds every duration (about 68 years), keeping
	// server-side times exact.
	MaxDuration = 1 << 41 * time.Millisecond
)

// Defaults of Listen.
const (
	// DefaultWorkers is how many handlers a Listen call runs at once.
	DefaultWorkers = 16
	// DefaultGrace is how long Listen waits for running handlers after its
	// ctx ends before cancelling them.
	DefaultGrace = 30 * time.Second
	// DefaultLeaseTTL is how long a claimed task stays with its worker
	// without a heartbeat; then it returns to the queue.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultHeartbeat is how often a worker renews its registration and
	// the leases of its tasks. A worker missing for five heartbeats counts
	// as dead: its tasks return to the queue at once, and policy Auto stops
	// sending tasks its way.
	DefaultHeartbeat = time.Second
	// heartbeatMisses is how many heartbeats make the registration's TTL.
	heartbeatMisses = 5
	// maxClaimBatch bounds the tasks one claim takes.
	maxClaimBatch = 64
)

// BackoffFunc returns how long to wait before attempt+1 after attempt
// (1-based) failed with err.
type BackoffFunc func(attempt int, err error) time.Duration

// DefaultBackoff doubles from one second, capped at five minutes.
func DefaultBackoff(attempt int, _ error) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 9 {
		return 5 * time.Minute
	}
	return min(time.Second<<(attempt-1), 5*time.Minute)
}

type config struct {
	codec       codec.Codec
	handler     any // a Handler[P, R]; New checks the types
	handlerSet  bool
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	timeout     time.Duration
	retention   time.Duration
	keep        time.Duration
	maxAttempts int
	backoff     BackoffFunc
	waitPoll    time.Duration
	budget      int
}

// Option configures a Queue in New.
type Option func(*config)

// WithCodec sets how params and results are encoded; the default is
// codec.CBOR. Every process sharing a queue must use the same codec.
func WithCodec(c codec.Codec) Option { return func(o *config) { o.codec = c } }

// WithHandler sets the handler that runs tasks, locally (policies Local,
// LocalFirst, RemoteFirst, Auto) and in Listen. Its types must be the
// queue's: New returns ErrInvalidOption otherwise.
func WithHandler[P, R any](h Handler[P, R]) Option {
	return func(o *config) { o.handler, o.handlerSet = h, true }
}

// WithHandlerFunc is WithHandler for a plain function.
func WithHandlerFunc[P, R any](f func(ctx context.Context, t *Task[P]) (R, error)) Option {
	return func(o *config) {
		o.handlerSet = true
		if f != nil {
			o.handler = HandlerFunc[P, R](f)
		}
	}
}

// WithTracerProvider sets where spans go; nil or absent means the global
// provider, even one set after New.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *config) { o.tp = tp } }

// WithMeterProvider sets where metrics go; nil or absent means the global
// provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *config) { o.mp = mp } }

// WithDefaultTimeout sets the timeout of tasks submitted without the Timeout
// option (DefaultTimeout).
func WithDefaultTimeout(d time.Duration) Option { return func(o *config) { o.timeout = d } }

// WithRetention sets how long finished records stay readable
// (DefaultRetention); never less than until the task's deadline.
func WithRetention(d time.Duration) Option { return func(o *config) { o.retention = d } }

// WithFailedRetention sets how long failed tasks stay in the dead-letter
// set (DefaultFailedRetention).
func WithFailedRetention(d time.Duration) Option { return func(o *config) { o.keep = d } }

// WithMaxAttempts sets how many times tasks are run at most
// (DefaultMaxAttempts); 1 means never retry.
func WithMaxAttempts(n int) Option { return func(o *config) { o.maxAttempts = n } }

// WithBackoff sets the wait between attempts of a failed task
// (DefaultBackoff); the worker calls it, a negative wait counts as 0. A
// retry that would start after the task's deadline is not made: the task
// fails instead.
func WithBackoff(f BackoffFunc) Option { return func(o *config) { o.backoff = f } }

// WithWaitPoll bounds one blocking wait (DefaultWaitPoll).
func WithWaitPoll(d time.Duration) Option { return func(o *config) { o.waitPoll = d } }

// WithHousekeeping sets how many expired records, due delayed tasks and
// lapsed leases each enqueue and claim handles first (DefaultHousekeeping;
// 0 means the default, like every zero option: without housekeeping no
// delayed task or retry would ever become ready).
func WithHousekeeping(n int) Option { return func(o *config) { o.budget = n } }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func checkDuration(what string, d time.Duration) error {
	if d < time.Millisecond || d > MaxDuration {
		return fmt.Errorf("%w: %s %v must be between 1ms and %v", ErrInvalidDuration, what, d, MaxDuration)
	}
	return nil
}

func newConfig[P, R any](opts []Option) (config, Handler[P, R], error) {
	c := config{codec: codec.CBOR, backoff: DefaultBackoff, budget: DefaultHousekeeping}
	for _, o := range opts {
		if o == nil {
			return c, nil, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		o(&c)
	}
	// A zero value means the default.
	c.timeout = orDefault(c.timeout, DefaultTimeout)
	c.retention = orDefault(c.retention, DefaultRetention)
	c.keep = orDefault(c.keep, DefaultFailedRetention)
	c.waitPoll = orDefault(c.waitPoll, DefaultWaitPoll)
	c.maxAttempts = orDefault(c.maxAttempts, DefaultMaxAttempts)
	c.budget = orDefault(c.budget, DefaultHousekeeping)
	var h Handler[P, R]
	if c.handlerSet && isNil(c.handler) {
		return c, nil, fmt.Errorf("%w: nil handler", ErrInvalidOption)
	}
	if c.handler != nil {
		var ok bool
		h, ok = c.handler.(Handler[P, R])
		if !ok {
			return c, nil, fmt.Errorf("%w: handler %T does not handle Queue[%v, %v]", ErrInvalidOption, c.handler,
				reflect.TypeFor[P](), reflect.TypeFor[R]())
		}
		if isNil(h) {
			return c, nil, fmt.Errorf("%w: nil handler", ErrInvalidOption)
		}
	}
	for _, d := range []struct {
		what string
		d    time.Duration
	}{{"default timeout", c.timeout}, {"retention", c.retention}, {"failed retention", c.keep}, {"wait poll", c.waitPoll}} {
		if err := checkDuration(d.what, d.d); err != nil {
			return c, nil, err
		}
	}
	switch {
	case c.codec == nil:
		return c, nil, fmt.Errorf("%w: nil codec", ErrInvalidOption)
	case c.backoff == nil:
		return c, nil, fmt.Errorf("%w: nil backoff", ErrInvalidOption)
	case c.maxAttempts < 1 || c.maxAttempts > MaxAttemptsLimit:
		return c, nil, fmt.Errorf("%w: max attempts %d must be between 1 and %d", ErrInvalidOption, c.maxAttempts, MaxAttemptsLimit)
	case c.budget < 1 || c.budget > 10000:
		return c, nil, fmt.Errorf("%w: housekeeping budget %d must be between 1 and 10000 (0 means the default)", ErrInvalidOption, c.budget)
	}
	return c, h, nil
}

// isNil reports a nil handler hidden in an interface (a nil HandlerFunc or
// pointer).
func isNil(h any) bool {
	if h == nil {
		return true
	}
	v := reflect.ValueOf(h)
	switch v.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// Policy says where Query runs a task. The zero value is Auto.
type Policy int

// The policies of the reference, with its defects fixed.
const (
	// Auto runs the task remotely when a live worker listens for its name
	// (one whose heartbeat is fresh), else locally. A pending or running
	// task with the same id is joined either way.
	Auto Policy = iota
	// Local runs the handler in the calling goroutine. Redis is not used at
	// all: no record, no dedup, Once and the scheduling options ignored.
	Local
	// Remote queues the task and waits for a worker's outcome.
	Remote
	// LocalFirst runs locally; if that fails (handler error, panic or
	// timeout) it queues a clean task once and waits for the remote outcome.
	LocalFirst
	// RemoteFirst queues the task; if the remote run fails, or times out
	// while the task is still pending and can be withdrawn, it runs locally.
	// A task that is running remotely when the wait times out is never run
	// locally as well: the caller gets ErrTimeout.
	RemoteFirst
)

// String returns the policy's name ("auto", "local", …).
func (p Policy) String() string {
	switch p {
	case Auto:
		return "auto"
	case Local:
		return "local"
	case Remote:
		return "remote"
	case LocalFirst:
		return "local-first"
	case RemoteFirst:
		return "remote-first"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

type queryConfig struct {
	policy      Policy
	policySet   bool
	timeout     time.Duration
	once        bool
	priority    int
	delay       time.Duration
	at          time.Time
	maxAttempts int
}

// QueryOption adjusts one Query or Submit.
type QueryOption func(*queryConfig)

// Via sets the policy of a Query (default Auto). Submit always queues and
// accepts only Via(Remote).
func Via(p Policy) QueryOption { return func(q *queryConfig) { q.policy, q.policySet = p, true } }

// Timeout bounds the task from when it is due to its outcome (default: the
// queue's WithDefaultTimeout). It becomes the handler's ctx deadline, the
// caller's wait, and the point after which no worker starts the task. For
// LocalFirst and RemoteFirst each of the two runs gets this long.
func Timeout(d time.Duration) QueryOption { return func(q *queryConfig) { q.timeout = d } }

// Once deletes the task's record when the caller reads its outcome, instead
// of keeping it for the retention period. When several callers wait on the
// task (joined by id), the last of them to read deletes it (the others
// have a minute to read before the record goes).
func Once() QueryOption { return func(q *queryConfig) { q.once = true } }

// Priority sets the task's priority (MinPriority..MaxPriority, default 0):
// higher priorities run first.
func Priority(p int) QueryOption { return func(q *queryConfig) { q.priority = p } }

// Delay makes the task due d from now (by the Redis server's clock).
func Delay(d time.Duration) QueryOption { return func(q *queryConfig) { q.delay = d } }

// At makes the task due at t, taken as a delay from now by this process's
// clock; a time in the past means now.
func At(t time.Time) QueryOption { return func(q *queryConfig) { q.at = t } }

// MaxAttempts sets how many times this task is run at most (default: the
// queue's WithMaxAttempts).
func MaxAttempts(n int) QueryOption { return func(q *queryConfig) { q.maxAttempts = n } }

func (c *core) newQueryConfig(opts []QueryOption) (queryConfig, error) {
	var q queryConfig
	for _, o := range opts {
		if o == nil {
			return q, fmt.Errorf("%w: nil QueryOption", ErrInvalidOption)
		}
		o(&q)
	}
	q.timeout = orDefault(q.timeout, c.cfg.timeout)
	q.maxAttempts = orDefault(q.maxAttempts, c.cfg.maxAttempts)
	if !q.at.IsZero() {
		if q.delay != 0 {
			return q, fmt.Errorf("%w: both Delay and At", ErrInvalidOption)
		}
		q.delay = max(time.Until(q.at), 0)
	}
	switch {
	case q.policy < Auto || q.policy > RemoteFirst:
		return q, fmt.Errorf("%w: unknown policy %d", ErrInvalidOption, int(q.policy))
	case q.priority < MinPriority || q.priority > MaxPriority:
		return q, fmt.Errorf("%w: priority %d not in [%d, %d]", ErrInvalidOption, q.priority, MinPriority, MaxPriority)
	case q.maxAttempts < 1 || q.maxAttempts > MaxAttemptsLimit:
		return q, fmt.Errorf("%w: max attempts %d must be between 1 and %d", ErrInvalidOption, q.maxAttempts, MaxAttemptsLimit)
	case q.delay < 0 || q.delay > MaxDuration:
		return q, fmt.Errorf("%w: delay %v", ErrInvalidDuration, q.delay)
	}
	if err := checkDuration("timeout", q.timeout); err != nil {
		return q, err
	}
	return q, nil
}

type listenConfig struct {
	workers   int
	grace     time.Duration
	graceSet  bool
	leaseTTL  time.Duration
	heartbeat time.Duration
	onError   func(error)
	workerID  string
}

// ListenOption adjusts Listen.
type ListenOption func(*listenConfig)

// Workers sets how many handlers run at once across the names
// (DefaultWorkers).
func Workers(n int) ListenOption { return func(l *listenConfig) { l.workers = n } }

// Grace sets how long Listen waits for running handlers once its ctx ends,
// before it cancels them with cause ErrShutdown (DefaultGrace). Zero cancels
// them at once.
func Grace(d time.Duration) ListenOption {
	return func(l *listenConfig) { l.grace, l.graceSet = d, true }
}

// LeaseTTL sets how long a claimed task stays with this worker without a
// heartbeat (DefaultLeaseTTL); it must be longer than two heartbeats.
func LeaseTTL(d time.Duration) ListenOption { return func(l *listenConfig) { l.leaseTTL = d } }

// Heartbeat sets how often the worker renews its registration and its
// leases (DefaultHeartbeat). It is also how often a cancellation reaches a
// running handler.
func Heartbeat(d time.Duration) ListenOption { return func(l *listenConfig) { l.heartbeat = d } }

// OnError receives errors Listen recovers from (Redis unreachable, a
// result that could not be stored); Listen keeps going. f may be called
// from several goroutines at once and must not block.
func OnError(f func(error)) ListenOption { return func(l *listenConfig) { l.onError = f } }

func newListenConfig(opts []ListenOption) (listenConfig, error) {
	var l listenConfig
	for _, o := range opts {
		if o == nil {
			return l, fmt.Errorf("%w: nil ListenOption", ErrInvalidOption)
		}
		o(&l)
	}
	l.workers = orDefault(l.workers, DefaultWorkers)
	l.leaseTTL = orDefault(l.leaseTTL, DefaultLeaseTTL)
	l.heartbeat = orDefault(l.heartbeat, DefaultHeartbeat)
	if !l.graceSet {
		l.grace = DefaultGrace
	}
	if l.grace < 0 || l.grace > MaxDuration {
		return l, fmt.Errorf("%w: grace %v", ErrInvalidDuration, l.grace)
	}
	if l.workers < 1 || l.workers > 100000 {
		return l, fmt.Errorf("%w: workers %d must be between 1 and 100000", ErrInvalidOption, l.workers)
	}
	if err := checkDuration("heartbeat", l.heartbeat); err != nil {
		return l, err
	}
	if err := checkDuration("lease TTL", l.leaseTTL); err != nil {
		return l, err
	}
	if l.leaseTTL <= 2*l.heartbeat {
		return l, fmt.Errorf("%w: lease TTL %v must be longer than two heartbeats (%v)", ErrInvalidDuration, l.leaseTTL, l.heartbeat)
	}
	return l, nil
}
