package task

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Key suffixes of a queue's namespace, in the order of the task scripts'
// KEYS (script.TaskEnqueue and the others).
var keySuffixes = []string{
	"ready", "delayed", "running", "dead", "expiry", "data", "waiters", "owned", "workers", "idle", "wake",
}

// Suffix prefixes of per-task and per-waiter lists: a task's notify list,
// and the private list a cancelled wait is woken through.
const (
	notifyPrefix = "n:"
	abortPrefix  = "x:"
)

// countsSuffix names the hash of a queue's outcome counters (Stats.Succeeded
// and the others), kept apart from the data hash so that reading them moves
// no rehashing on.
const countsSuffix = "counts"

// queueKeys are the keys of one task name's queue.
type queueKeys struct {
	name string
	ns   redisx.Namespace
	keys []string
}

func (k *queueKeys) notify(id string) string { return k.ns.Key(notifyPrefix + id) }

func (k *queueKeys) counts() string { return k.ns.Key(countsSuffix) }

// inspectKeys are task_inspect's keys: the queue's, then the counters.
func (k *queueKeys) inspectKeys() []string {
	return append(slices.Clip(k.keys), k.counts())
}

// finishKeys are task_finish's keys: withNotify's, then the counters.
func (k *queueKeys) finishKeys(id string) []string {
	return append(k.withNotify(id), k.counts())
}

// withNotify returns the queue's keys plus the notify list of id.
func (k *queueKeys) withNotify(id string) []string {
	out := make([]string, len(k.keys)+1)
	copy(out, k.keys)
	out[len(k.keys)] = k.notify(id)
	return out
}

// core is the untyped part of a queue, shared with handles, workers and
// inspectors.
type core struct {
	prefix string
	name   string
	keys   *queueKeys
	client rueidis.Client
	cfg    config
	run    *redisx.Runner
	prov   *otel.Providers
	inst   *instruments
	shape  string // fingerprint of P, R and the codec; "" for no check

	tokenPrefix string // random per Queue value
	tokenSeq    atomic.Uint64
}

// newCore validates client, prefix and name and builds the queue's keys.
func newCore(client rueidis.Client, prefix, name string, cfg config) (*core, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalid)
	}
	if err := redisx.ValidateName("prefix", prefix); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ns, err := redisx.NewNamespace(prefix, "queue", name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k := &queueKeys{name: name, ns: ns, keys: make([]string, len(keySuffixes))}
	for i, s := range keySuffixes {
		k.keys[i] = ns.Key(s)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	prov := otel.NewProviders(cfg.tp, cfg.mp)
	return &core{
		prefix:      prefix,
		name:        name,
		keys:        k,
		client:      client,
		cfg:         cfg,
		prov:        prov,
		run:         redisx.NewRunner(client, prov, scriptErrors),
		inst:        newInstruments(prov),
		tokenPrefix: hex.EncodeToString(r[:]) + "-",
	}, nil
}

// Queue is a typed distributed task queue bound to one name: tasks with
// params P produce results R, run by the caller (locally, with the handler
// given to [Queue.HandleLocally]) or by workers in any process that calls
// [Queue.Run] for the same name (remotely), with at-least-once delivery,
// retries, delays, priorities, deduplication by id, cancellation, progress
// and a dead-letter set. Operators read and repair a queue with an
// [Inspector].
//
// A queue is a dozen keys sharing the hash tag {queue:<name>}, so it lives
// in one Redis Cluster slot and every state change is one Lua script. A
// Queue is safe for concurrent use; it holds no connection of its own and
// starts goroutines only in Run and while a call waits.
type Queue[P, R any] struct {
	c     *core
	local atomic.Pointer[localHandler[P, R]]
}

// localHandler boxes the handler of local runs for an atomic pointer.
type localHandler[P, R any] struct{ h Handler[P, R] }

// New returns the queue name under prefix on client. It writes nothing to
// Redis; the caller keeps ownership of client. Errors match [ErrInvalid]: a
// nil client, a bad prefix or name, a bad option.
//
// The queue's shape (the structure of P and R and the codec's name) is
// recorded for name in Redis by its first worker or, before any, its first
// submitter; Submit, Query and Run with another shape fail with [ErrShape].
func New[P, R any](client rueidis.Client, prefix, name string, opts ...Option) (*Queue[P, R], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c, err := newCore(client, prefix, name, cfg)
	if err != nil {
		return nil, err
	}
	c.shape = shapeOf[P, R](cfg.codec)
	return &Queue[P, R]{c: c}, nil
}

// HandleLocally sets the handler of local runs: policies Local, LocalFirst,
// RemoteFirst, and auto routing when no worker is live. Without one, those runs
// return an error matching [ErrInvalid]. Workers get their handler from
// [Queue.Run] instead. A later call replaces the handler for the runs that
// start after it; a nil h returns an [ErrInvalid] error. It is safe for
// concurrent use.
func (q *Queue[P, R]) HandleLocally(h Handler[P, R]) error {
	if h == nil {
		return fmt.Errorf("%w: task %s: nil local handler", ErrInvalid, q.c.name)
	}
	q.local.Store(&localHandler[P, R]{h: h})
	return nil
}

// handler returns the local handler, or nil.
func (q *Queue[P, R]) handler() Handler[P, R] {
	if l := q.local.Load(); l != nil {
		return l.h
	}
	return nil
}

func checkID(id string) error {
	if err := redisx.ValidateMember("task id", id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (c *core) newToken() string {
	return c.tokenPrefix + strconv.FormatUint(c.tokenSeq.Add(1), 36)
}

// runScript runs s on name's queue; failures to reach Redis match ErrQueue.
func (c *core) runScript(ctx context.Context, s *script.Script, keys, args []string) (rueidis.RedisMessage, error) {
	msg, err := c.run.Run(ctx, s, keys, args)
	if err != nil {
		return msg, classify(ctx, err)
	}
	return msg, nil
}

// classify makes a failed Redis call's error match exactly one outcome
// sentinel: ErrTimeout or ErrCanceled (with the ctx error) when ctx ended,
// which rueidis may report a moment before ctx.Err() does, else ErrQueue.
// Script errors mapped to ErrLost or ErrInvalid stay as they are.
func classify(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, ErrLost), errors.Is(err, ErrInvalid):
		return err
	case ctx.Err() != nil:
		return errors.Join(ctxErr(ctx), err)
	case redisx.ForeignContextError(ctx, err):
		// Another call's deadline broke the shared connection: the
		// outcome is unknown, not timed out (found by the torture run).
		// The context error is not wrapped: it is not the caller's.
		return fmt.Errorf("%w: connection failed under another call: %s", ErrQueue, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return errors.Join(ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return errors.Join(ErrCanceled, err)
	}
	return fmt.Errorf("%w: %w", ErrQueue, err)
}

// badReply reports a reply of an unexpected shape (a bug or a foreign
// writer); err may be nil.
func badReply(op string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s: unexpected reply", ErrQueue, op)
	}
	return fmt.Errorf("%w: %s: unexpected reply: %w", ErrQueue, op, err)
}

// roundMS is the module's one rounding rule for durations sent to Redis
// (whole milliseconds, rounded up).
func roundMS(d time.Duration) string { return redisx.MSArg(d) }

// submission is one validated remote submission.
type submission struct {
	id      string
	payload []byte
	qc      queryConfig
	waiter  string // token registered with the enqueue, or empty
	auto    bool   // queue only while a worker is live
}

// enqueue outcomes.
const (
	enqueueNoWorker = 0
	enqueueNew      = 1
	enqueueJoined   = 2
)

// enqueue runs task_enqueue and returns a handle (nil with enqueueNoWorker).
func (c *core) enqueue(ctx context.Context, s *submission) (*handle, int, error) {
	ctx, span := c.prov.Tracer().Start(ctx, "task.submit", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrName.String(c.name), attrID.String(s.id)))
	defer span.End()
	auto := "0"
	if s.auto {
		auto = "1"
	}
	args := []string{
		s.id, string(s.payload), strconv.Itoa(s.qc.priority), roundMSZero(s.qc.delay), roundMS(s.qc.timeout),
		strconv.Itoa(s.qc.maxAttempts), roundMS(c.cfg.retention), roundMS(c.cfg.keep), injectTrace(ctx, roundMS(s.qc.timeout), c.shape), s.waiter, auto,
		strconv.Itoa(c.cfg.budget), c.shape,
	}
	msg, err := c.runScript(ctx, script.TaskEnqueue, c.keys.keys, args)
	recv := time.Now()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, 0, fmt.Errorf("task %s/%s: submit: %w", c.name, s.id, err)
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 3 {
		return nil, 0, badReply("task "+c.name+"/"+s.id+": submit", err)
	}
	outcome, _ := arr[0].AsInt64()
	if outcome == enqueueNoWorker {
		span.SetAttributes(attribute.Bool("task.no_worker", true))
		return nil, enqueueNoWorker, nil
	}
	rec, _ := arr[1].ToString()
	m, err := parseMeta(rec)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: task %s/%s: submit: %w", ErrQueue, c.name, s.id, err)
	}
	span.SetAttributes(attribute.Bool("task.joined", outcome == enqueueJoined))
	if outcome == enqueueNew {
		c.inst.submitted(ctx, c.name)
	}
	h := &handle{c: c, id: s.id, once: s.qc.once, waiter: s.waiter, registered: s.waiter != ""}
	// Wait until the sooner of our own deadline and the task's (when we
	// joined an earlier submission, its deadline counts from that one). The
	// task's is on the server clock, whose now lies between our send and
	// this reply: counting from the reply, our wait ends no sooner than the
	// server's deadline, so the last read sees an outcome stored just
	// before it.
	now, _ := arr[2].AsInt64()
	own := recv.Add(s.qc.delay + s.qc.timeout)
	theirs := recv.Add(time.Duration(m.deadline-now) * time.Millisecond)
	h.deadline = own
	if outcome == enqueueJoined && theirs.Before(own) {
		h.deadline = theirs
	}
	return h, int(outcome), nil
}

func roundMSZero(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return roundMS(d)
}

// submission validates a remote submission for Query and Submit and
// encodes its params.
func (q *Queue[P, R]) submission(id string, params P, qc queryConfig) (*submission, error) {
	payload, err := q.c.cfg.codec.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%w: task %s/%s: params: %w", ErrInvalid, q.c.name, id, err)
	}
	return &submission{id: id, payload: payload, qc: qc}, nil
}

// Submit queues the task id with params for a worker and returns a handle
// to wait for it, follow its progress or cancel it. The caller is
// registered as a waiter by the same script, so [Handle.Wait] costs no
// round trip more than [Queue.Query]; [NoWait] skips that for
// fire-and-forget submissions. If a task with the same id is pending or
// running, Submit joins it (span attribute task.joined) and params are ignored; a
// finished task with that id is replaced. Options: Timeout, Priority, Delay,
// MaxAttempts, NoWait, Once (applies to the handle's Wait).
//
// Bad input (an empty id, params the codec cannot encode, options out of
// range) returns an [ErrInvalid] error and writes nothing; so does a queue
// whose name records another shape ([ErrShape]). Redis failures match
// [ErrQueue]: the task may or may not have been queued. ctx bounds the
// submission only.
func (q *Queue[P, R]) Submit(ctx context.Context, id string, params P, opts ...QueryOption) (*Handle[R], error) {
	qc, err := q.check(id, opts)
	if err != nil {
		return nil, err
	}
	if err := q.c.checkCtx(ctx, "submit"); err != nil {
		return nil, err
	}
	if qc.policySet && qc.policy != routeRemote {
		return nil, fmt.Errorf("%w: Submit always queues; %s is for Query", ErrInvalid, qc.policy.name())
	}
	s, err := q.submission(id, params, qc)
	if err != nil {
		return nil, err
	}
	if !qc.noWait {
		s.waiter = q.c.newToken()
	}
	h, outcome, err := q.c.enqueue(ctx, s)
	if err != nil {
		return nil, err
	}
	return &Handle[R]{h: h, joined: outcome == enqueueJoined}, nil
}

func (q *Queue[P, R]) check(id string, opts []QueryOption) (queryConfig, error) {
	if err := checkID(id); err != nil {
		return queryConfig{}, err
	}
	return q.c.newQueryConfig(opts)
}

// Handle returns a handle on the task id, submitted by anyone, to wait for
// it, follow its progress or cancel it. It checks id only; Wait on a task
// that does not exist returns [ErrNotFound].
func (q *Queue[P, R]) Handle(id string) (*Handle[R], error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return &Handle[R]{h: &handle{c: q.c, id: id}}, nil
}

// Query runs the task id with params and returns its result, by the
// routing option given (auto without one; see [Local], [Remote],
// [LocalFirst], [RemoteFirst]): locally in the calling goroutine (see
// [Queue.HandleLocally]), or remotely by a worker of the queue, or one and
// then the other. Options: a routing option, Timeout (per run), Once, and
// for remote runs Priority, Delay,
// MaxAttempts.
//
// Errors tell outcomes apart: a *HandlerError (ErrHandler) when the task
// failed, ErrTimeout when its time ran out, ErrCanceled when it was canceled
// or ctx was cancelled, ErrQueue when Redis failed. A remote task keeps
// running when ctx ends; its record (and result) stays for the retention
// period unless Once was given and the result was read. Bad input returns
// an [ErrInvalid] error and writes nothing, another shape [ErrShape].
func (q *Queue[P, R]) Query(ctx context.Context, id string, params P, opts ...QueryOption) (R, error) {
	var zero R
	qc, err := q.check(id, opts)
	if err != nil {
		return zero, err
	}
	if err := q.c.checkCtx(ctx, "query"); err != nil {
		return zero, err
	}
	if qc.noWait {
		return zero, fmt.Errorf("%w: Query always waits; NoWait is for Submit", ErrInvalid)
	}
	needLocal := qc.policy == routeLocal || qc.policy == routeLocalFirst || qc.policy == routeRemoteFirst
	if needLocal && q.handler() == nil {
		return zero, fmt.Errorf("%w: task %s/%s: policy %s needs a local handler (Queue.HandleLocally)", ErrInvalid, q.c.name, id, qc.policy.name())
	}
	ctx, span := q.c.prov.Tracer().Start(ctx, "task.query", trace.WithAttributes(
		attrName.String(q.c.name), attrID.String(id), attribute.String("task.policy", qc.policy.name())))
	defer span.End()
	r, err := q.query(ctx, id, params, qc)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return r, err
}

func (q *Queue[P, R]) query(ctx context.Context, id string, params P, qc queryConfig) (R, error) {
	var zero R
	switch qc.policy {
	case routeLocal:
		return q.runLocal(ctx, id, params, qc)
	case routeLocalFirst:
		r, err := q.runLocal(ctx, id, params, qc)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		r2, err2 := q.remote(ctx, id, params, qc, false)
		if err2 != nil {
			// Only the remote outcome is wrapped, so the error matches exactly
			// one outcome sentinel.
			return zero, fmt.Errorf("%w (after the local run failed: %s)", err2, err.Error())
		}
		return r2, nil
	case routeRemoteFirst:
		return q.remoteFirst(ctx, id, params, qc)
	case routeRemote:
		return q.remote(ctx, id, params, qc, false)
	default: // Auto
		return q.remote(ctx, id, params, qc, true)
	}
}

// remote queues the task and waits for it. With auto and no live worker it
// runs the task locally instead.
func (q *Queue[P, R]) remote(ctx context.Context, id string, params P, qc queryConfig, auto bool) (R, error) {
	var zero R
	s, err := q.submission(id, params, qc)
	if err != nil {
		return zero, err
	}
	s.auto = auto
	s.waiter = q.c.newToken()
	h, outcome, err := q.c.enqueue(ctx, s)
	if err != nil {
		return zero, err
	}
	if outcome == enqueueNoWorker {
		if q.handler() == nil {
			return zero, fmt.Errorf("%w: task %s/%s: policy auto found no live worker and the queue has no local handler (Queue.HandleLocally)", ErrInvalid, q.c.name, id)
		}
		return q.runLocal(ctx, id, params, qc)
	}
	return (&Handle[R]{h: h}).Wait(ctx)
}

// remoteFirst queues the task and falls back to a local run only once the
// queued task is known not to run again: it failed, or it was still pending
// and got withdrawn.
func (q *Queue[P, R]) remoteFirst(ctx context.Context, id string, params P, qc queryConfig) (R, error) {
	var zero R
	s, err := q.submission(id, params, qc)
	if err != nil {
		return zero, err
	}
	s.waiter = q.c.newToken()
	h, _, err := q.c.enqueue(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return zero, err
		}
		// The enqueue may or may not have happened: withdraw to be sure.
		h = &handle{c: q.c, id: id}
		if was, werr := h.withdraw(ctx); werr != nil || (was != "" && was != "p") {
			return zero, err
		}
		return q.fallback(ctx, id, params, qc, err)
	}
	hd := &Handle[R]{h: h}
	r, err := hd.Wait(ctx)
	switch {
	case err == nil, ctx.Err() != nil, errors.Is(err, ErrCanceled), errors.Is(err, ErrInvalid):
		return r, err
	case errors.Is(err, ErrHandler):
		// It ran and failed for good: it will not run again remotely.
		return q.fallback(ctx, id, params, qc, err)
	case errors.Is(err, ErrTimeout):
		was, werr := h.withdraw(ctx)
		if werr != nil || was != "p" {
			// It ran or runs remotely (or we cannot tell): never run it
			// here as well. It may have just finished, though.
			if r, err2 := hd.result(ctx); err2 == nil {
				return r, nil
			}
			return zero, err
		}
		return q.fallback(ctx, id, params, qc, err)
	}
	return r, err // ErrQueue: the outcome is unknown
}

func (q *Queue[P, R]) fallback(ctx context.Context, id string, params P, qc queryConfig, remoteErr error) (R, error) {
	r, err := q.runLocal(ctx, id, params, qc)
	if err != nil {
		return r, fmt.Errorf("%w (after the remote run failed: %s)", err, remoteErr.Error())
	}
	return r, nil
}

// runLocal runs the handler in the calling goroutine.
func (q *Queue[P, R]) runLocal(ctx context.Context, id string, params P, qc queryConfig) (R, error) {
	var zero R
	h := q.handler()
	if h == nil {
		return zero, fmt.Errorf("%w: task %s/%s: local run without a local handler (Queue.HandleLocally)", ErrInvalid, q.c.name, id)
	}
	deadline := time.Now().Add(qc.timeout)
	rctx, cancel := context.WithDeadlineCause(ctx, deadline, fmt.Errorf("task %s/%s: %w", q.c.name, id, ErrTimeout))
	defer cancel()
	rctx, span := q.c.prov.Tracer().Start(rctx, "task.run", trace.WithAttributes(
		attrName.String(q.c.name), attrID.String(id), attrAttempt.Int(1), attribute.Bool("task.local", true)))
	defer span.End()
	t := &Task[P]{
		ID: id, Name: q.c.name, Params: params, Attempt: 1, MaxAttempts: 1, Deadline: deadline,
		ctx: rctx,
	}
	start := time.Now()
	r, err := safeHandle(rctx, h, t)
	q.c.inst.ranLocal(ctx, q.c.name, time.Since(start), err)
	if err == nil {
		return r, nil
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	switch {
	case ctx.Err() != nil:
		return zero, errors.Join(ctxErr(ctx), err)
	case rctx.Err() != nil && !errors.Is(err, ErrSkipRetry):
		return zero, fmt.Errorf("task %s/%s: local run: %w: %w", q.c.name, id, ErrTimeout, err)
	}
	return zero, &HandlerError{ID: id, Name: q.c.name, Kind: kindOf(err), Message: err.Error(), Attempt: 1, Err: err}
}

// ctxErr names what ended the caller's ctx as an outcome sentinel.
// checkCtx is the first check of a call that starts a span or runs a
// script detached from ctx (the runner checks the others): a nil ctx is
// ErrInvalid, an ended one its error as ctxErr gives it; then nothing is
// sent.
func (c *core) checkCtx(ctx context.Context, op string) error {
	if err := redisx.CheckContext(ctx, ErrInvalid); err != nil {
		if ctx == nil {
			return fmt.Errorf("task %s: %s: %w", c.name, op, err)
		}
		return fmt.Errorf("task %s: %s: %w", c.name, op, errors.Join(ctxErr(ctx), redisx.ErrNotSent))
	}
	return nil
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.Join(ErrTimeout, ctx.Err())
	}
	return errors.Join(ErrCanceled, ctx.Err())
}

// panicError is what a panicking handler returns.
type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }
func (p *panicError) Kind() string  { return kindPanic }

func safeHandle[P, R any](ctx context.Context, h Handler[P, R], t *Task[P]) (r R, err error) {
	defer func() {
		if v := recover(); v != nil {
			var zero R
			r, err = zero, &panicError{v: v}
		}
	}()
	return h(ctx, t)
}
