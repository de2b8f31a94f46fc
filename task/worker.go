package task

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Indexes into queueKeys.keys.
const (
	idxData = 5
	idxWake = 10
)

// claimTimeout bounds a claim or finish script, which runs detached from
// Run's ctx: had the ctx cut it short, Redis might have handed over
// tasks nobody knows of, stuck until their leases lapse.
const claimTimeout = 10 * time.Second

// Run runs workers for the queue's tasks with handler h until ctx ends,
// with up to Workers handlers at once. It registers the worker as live
// (what auto routing looks for) and renews that registration and the
// leases of its running tasks every Heartbeat, also while every handler is
// busy.
//
// Each handler's ctx ends at the task's deadline, when the task is
// canceled (cause [ErrCanceled]), when the worker lost the task ([ErrLost])
// or at the end of the grace period (a cause matching [ErrLost] that says
// "worker shutting down"). The worker's liveness
// is a lease, kept with the module's one lease rule: a worker that cannot
// reach Redis (or was stalled) counts its tasks lost, and ends its
// handlers with [ErrLost], strictly before Redis could give them to
// another worker: 5 heartbeats − 2 heartbeats − 1% − 2ms
// after it SENT its last answered heartbeat, 2.97 s by default. The two
// heartbeats are the handlers' time to wind down before the task can run
// elsewhere; [Task.Valid] reads the same deadline from the clock, for a
// check right before acting. A cut-off worker takes no tasks; it
// registers afresh, and goes on, once Redis answers again. Tasks whose
// params do not decode fail at once (kind "decode", in the dead-letter
// set); the worker goes on.
//
// When ctx ends Run stops taking tasks, waits up to Grace for running
// handlers, then cancels the rest and waits for them; a task whose handler
// returns an error after that goes back to the queue without using up an
// attempt. It then leaves the registry and returns nil. Handlers that
// ignore their ctx keep Run from returning. Redis failures while running go
// to OnError and are retried. Errors before the start are returned: a nil
// h or bad options ([ErrInvalid]), live workers of another shape
// ([ErrShape]), Redis unreachable.
func (q *Queue[P, R]) Run(ctx context.Context, h Handler[P, R], opts ...RunOption) error {
	if h == nil {
		return fmt.Errorf("%w: task %s: run: nil handler", ErrInvalid, q.c.name)
	}
	if ctx == nil {
		return fmt.Errorf("%w: task %s: run: nil context", ErrInvalid, q.c.name)
	}
	lc, err := newRunConfig(opts)
	if err != nil {
		return err
	}
	w := &worker[P, R]{
		h: h, c: q.c, lc: lc, id: lc.workerID, k: q.c.keys, running: map[string]*run{},
		slots: make(chan struct{}, lc.workers),
	}
	w.hardCtx, w.hardCancel = context.WithCancelCause(context.WithoutCancel(ctx))
	defer w.hardCancel(nil)
	// Register before taking tasks, so auto-routed callers see the worker; the
	// first beat records the worker's shape.
	if err := w.register(ctx, "join"); err != nil {
		if ctx.Err() != nil {
			w.leave(ctx)
			return nil // stopped before it started
		}
		return fmt.Errorf("task %s: run: %w", w.k.name, err)
	}
	return w.serve(ctx)
}

// run is one task a worker runs.
type run struct {
	claim  string // see claimed.claim
	cancel context.CancelCauseFunc
}

type worker[P, R any] struct {
	h     Handler[P, R]
	c     *core
	lc    runConfig
	id    string
	k     *queueKeys
	slots chan struct{} // a token per running handler

	mu      sync.Mutex
	running map[string]*run // by task id
	life    *life           // the current registration

	handlers   sync.WaitGroup
	hardCtx    context.Context // handlers' base; cancelled at the end of the grace period
	hardCancel context.CancelCauseFunc
}

// life is one registration of the worker: a lease on its liveness, kept
// by a lease.Keeper whose Run is the heartbeat loop. base, the handlers'
// base context of the tasks claimed under it, ends with the keeper's cause
// when the worker is cut off, and at the end of the grace period. next is
// closed when a later registration replaces it.
type life struct {
	keep *lease.Keeper
	base context.Context
	next chan struct{}
}

// register sends a heartbeat (op join or beat) and, once it is answered,
// starts a registration counted from its send time. One answered after the
// cut-off starts a registration that ended already.
func (w *worker[P, R]) register(ctx context.Context, op string) error {
	sent := time.Now()
	if _, err := w.beat(ctx, w.k, op, nil); err != nil {
		return err
	}
	ttl := w.lc.cutoff()
	keep, err := lease.New(sent, lease.Config{
		TTL:     ttl,
		Every:   w.lc.heartbeat,
		Renew:   w.heartbeat,
		Expired: fmt.Errorf("task %s: worker %s: %w: no heartbeat answered within %v", w.k.name, w.id, ErrLost, ttl),
	})
	if err != nil {
		return err
	}
	base, cancel := context.WithCancelCause(w.hardCtx)
	kctx := keep.Context()
	context.AfterFunc(kctx, func() { cancel(context.Cause(kctx)) })
	l := &life{keep: keep, base: base, next: make(chan struct{})}
	w.mu.Lock()
	prev := w.life
	w.life = l
	w.mu.Unlock()
	if prev != nil {
		close(prev.next)
	}
	return nil
}

// current returns the current registration.
func (w *worker[P, R]) current() *life {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.life
}

func (w *worker[P, R]) serve(ctx context.Context) error {
	hbCtx, hbStop := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeats(hbCtx)
	}()
	var fetchers sync.WaitGroup
	fetchers.Go(func() { w.fetch(ctx) })
	<-ctx.Done()
	fetchers.Wait()

	done := make(chan struct{})
	go func() {
		w.handlers.Wait()
		close(done)
	}()
	if w.lc.grace > 0 {
		t := time.NewTimer(w.lc.grace)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	select {
	case <-done:
	default:
		w.hardCancel(errShutdown)
		<-done
	}
	hbStop()
	<-hbDone
	w.current().keep.End(fmt.Errorf("task %s: worker %s: %w", w.k.name, w.id, errShutdown))
	w.leave(ctx)
	return nil
}

// leave takes the worker out of the queue's registry.
func (w *worker[P, R]) leave(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := w.beat(sctx, w.k, "stop", nil); err != nil {
		w.report(fmt.Errorf("task: leave %s: %w", w.k.name, err))
	}
}

func (w *worker[P, R]) report(err error) {
	if w.lc.onError != nil {
		w.lc.onError(err)
	}
}

// beat runs task_heartbeat for the given runs of queue k and returns their
// codes.
func (w *worker[P, R]) beat(ctx context.Context, k *queueKeys, op string, runs []runRef) ([]int64, error) {
	list := make([]string, 0, 2*len(runs))
	for _, r := range runs {
		list = append(list, r.id, r.claim)
	}
	shape := ""
	if op == "join" {
		shape = w.c.shape
	}
	args := []string{w.id, op, roundMS(heartbeatMisses * w.lc.heartbeat), roundMS(w.lc.leaseTTL), strings.Join(list, "\x00"), shape}
	msg, err := w.c.runScript(ctx, script.TaskHeartbeat, k.keys, args)
	if err != nil {
		return nil, err
	}
	codes, err := msg.AsIntSlice()
	if err != nil || len(codes) != len(runs) {
		return nil, badReply("heartbeat", err)
	}
	return codes, nil
}

type runRef struct {
	id    string
	claim string
	r     *run
}

// heartbeats runs the registration's keeper (the heartbeat loop) until ctx
// ends. When the worker is cut off (the keeper's deadline passed), the
// handlers of the registration were told ErrLost and the fetcher waits:
// heartbeats then registers the worker afresh as soon as Redis answers.
func (w *worker[P, R]) heartbeats(ctx context.Context) {
	for {
		err := w.current().keep.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		w.report(fmt.Errorf("task: heartbeat %s: %w", w.k.name, err))
		for {
			bctx, cancel := context.WithTimeout(ctx, w.lc.cutoff())
			err := w.register(bctx, "beat")
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			w.report(fmt.Errorf("task: heartbeat %s: %w", w.k.name, err))
			sleep(ctx, w.lc.heartbeat)
		}
	}
}

// heartbeat is the registration's lease.RenewFunc: it renews the
// registration and the leases of the running tasks (its ctx ends at the
// worker's local deadline), and passes cancellations and lost claims to
// their handlers.
func (w *worker[P, R]) heartbeat(ctx context.Context, _ time.Duration) error {
	var runs []runRef
	w.mu.Lock()
	for id, r := range w.running {
		runs = append(runs, runRef{id: id, claim: r.claim, r: r})
	}
	w.mu.Unlock()
	codes, err := w.beat(ctx, w.k, "beat", runs)
	if err != nil {
		w.report(fmt.Errorf("task: heartbeat %s: %w", w.k.name, err))
		return err
	}
	for i, code := range codes {
		switch code {
		case 0:
			runs[i].r.cancel(fmt.Errorf("task %s/%s: %w", w.k.name, runs[i].id, ErrLost))
		case 2:
			runs[i].r.cancel(fmt.Errorf("task %s/%s: %w", w.k.name, runs[i].id, ErrCanceled))
		}
	}
	return nil
}

// claimed is one task handed over by task_claim.
type claimed struct {
	id       string
	attempt  int
	max      int
	left     time.Duration // until the deadline
	priority int
	trace    string
	params   []byte
	started  int64 // server time of the claim, in ms
}

// claimFields is how many entries task_claim returns per task.
const claimFields = 8

// claim is what the worker holds the task by, for task_heartbeat,
// task_progress and task_finish: "attempt:started". The claim's server
// time tells it from a later claim with the same attempt number by the
// same worker after Redis lost the first (an AOF tail, a failover to a
// lagging replica): the superseded run can then no longer record an
// outcome.
func (c claimed) claim() string {
	return strconv.Itoa(c.attempt) + ":" + strconv.FormatInt(c.started, 10)
}

// fetch claims tasks of the queue while slots are free, and waits on the
// queue's wake-up list when there is nothing to do. It takes no task while
// the worker is cut off.
func (w *worker[P, R]) fetch(ctx context.Context) {
	k := w.k
	token := w.c.newToken()
	idle := false // registered as idle by the last claim
	failures := 0
	for ctx.Err() == nil {
		l := w.current()
		if !l.keep.Valid() {
			select {
			case <-l.next:
			case <-ctx.Done():
			}
			continue
		}
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < maxClaimBatch {
			select {
			case w.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		if l = w.current(); !l.keep.Valid() { // cut off while waiting for a slot
			for range n {
				<-w.slots
			}
			continue
		}
		start := time.Now()
		tasks, hint, err := w.claim(ctx, k, n, token, idle)
		end := time.Now()
		for range n - len(tasks) {
			<-w.slots
		}
		if err != nil {
			w.report(fmt.Errorf("task: claim %s: %w", k.name, err))
			failures++
			sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, 2*time.Second))
			continue
		}
		failures = 0
		idle = hint != claimMore
		for _, t := range tasks {
			w.handlers.Add(1)
			go w.runTask(k, l, t, start, end)
		}
		if !idle {
			continue
		}
		d := w.c.cfg.waitPoll
		if hint >= 0 && hint < d {
			d = hint
		}
		if _, err := w.c.block(ctx, k, k.keys[idxWake], d); err != nil && ctx.Err() == nil {
			w.report(fmt.Errorf("task: wait %s: %w", k.name, err))
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// claimMore is the hint of a claim that filled every slot it asked for:
// the fetcher did not register as idle and should claim again.
const claimMore = -2

// claim runs task_claim, detached from ctx's cancellation. The hint is
// claimMore, or, when the fetcher registered as idle, how long until the
// next delayed task or lease end (-1: none).
func (w *worker[P, R]) claim(ctx context.Context, k *queueKeys, n int, token string, idle bool) ([]claimed, time.Duration, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	idleTTL := w.c.cfg.waitPoll + time.Second
	args := []string{w.id, strconv.Itoa(n), roundMS(w.lc.leaseTTL), strconv.Itoa(w.c.cfg.budget), token, roundMS(idleTTL), flag(idle), w.c.shape}
	msg, err := w.c.runScript(cctx, script.TaskClaim, k.keys, args)
	if err != nil {
		return nil, 0, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) < 3 {
		return nil, 0, badReply("claim", err)
	}
	got, _ := arr[0].AsInt64()
	hintMS, _ := arr[1].AsInt64()
	ended, _ := arr[2].AsInt64()
	if len(arr) != 3+claimFields*int(got)+2*int(ended) {
		return nil, 0, fmt.Errorf("%w: claim: reply of %d entries for %d tasks", ErrQueue, len(arr), got)
	}
	out := make([]claimed, got)
	for i := range out {
		e := arr[3+claimFields*i:]
		var errs [claimFields]error
		var c claimed
		var attempt, maxA, left, prio int64
		c.id, errs[0] = e[0].ToString()
		attempt, errs[1] = e[1].AsInt64()
		maxA, errs[2] = e[2].AsInt64()
		left, errs[3] = e[3].AsInt64()
		prio, errs[4] = e[4].AsInt64()
		c.trace, errs[5] = e[5].ToString()
		c.params, errs[6] = e[6].AsBytes()
		c.started, errs[7] = e[7].AsInt64()
		if err := errors.Join(errs[:]...); err != nil {
			return nil, 0, fmt.Errorf("%w: claim: bad reply: %w", ErrQueue, err)
		}
		c.attempt, c.max, c.left, c.priority = int(attempt), int(maxA), time.Duration(left)*time.Millisecond, int(prio)
		out[i] = c
	}
	// Wake the callers of tasks housekeeping ended (deadline passed, worker
	// lost for the last time): the script could not reach their lists.
	w.c.inst.reaped(cctx, k.name, int(ended))
	for i := 0; i < int(ended); i++ {
		e := arr[3+claimFields*int(got)+2*i:]
		id, _ := e[0].ToString()
		waiters, _ := e[1].AsInt64()
		if waiters > 0 {
			w.c.wake(cctx, k, id, int(waiters))
		}
	}
	hint := time.Duration(hintMS)
	if hintMS >= 0 {
		hint *= time.Millisecond
	}
	return out, hint, nil
}

// wake pushes n wake-up tokens to the notify list of task id.
func (c *core) wake(ctx context.Context, k *queueKeys, id string, n int) {
	_ = redisx.PushTokens(ctx, c.client, k.notify(id), n, time.Minute)
}

// finish outcomes, as task_finish names them.
const (
	outcomeOK      = "ok"
	outcomeErr     = "err"
	outcomeFatal   = "fatal"
	outcomeRelease = "release"
)

// runTask runs one claimed task, under the worker's registration l, and
// records its outcome.
func (w *worker[P, R]) runTask(k *queueKeys, l *life, c claimed, claimStart, claimEnd time.Time) {
	defer w.handlers.Done()
	defer func() { <-w.slots }()

	base, timeout := extractTrace(l.base, c.trace)
	w.c.inst.waited(base, k.name, c.attempt, timeout, c.left)
	tracer := w.c.prov.Tracer()
	attrs := trace.WithAttributes(attrName.String(k.name), attrID.String(c.id), attrAttempt.Int(c.attempt))
	_, claimSpan := tracer.Start(base, "task.claim", trace.WithSpanKind(trace.SpanKindConsumer), attrs,
		trace.WithTimestamp(claimStart))
	claimSpan.End(trace.WithTimestamp(claimEnd))

	deadline := claimStart.Add(c.left)
	rctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	rctx, cancelDL := context.WithDeadlineCause(rctx, deadline, fmt.Errorf("task %s/%s: %w", k.name, c.id, ErrTimeout))
	defer cancelDL()
	rctx, span := tracer.Start(rctx, "task.run", trace.WithSpanKind(trace.SpanKindConsumer), attrs)
	defer span.End()

	r := &run{claim: c.claim(), cancel: cancel}
	w.mu.Lock()
	w.running[c.id] = r
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.running[c.id] == r {
			delete(w.running, c.id)
		}
		w.mu.Unlock()
	}()

	start := time.Now()
	outcome, payload, backoff := w.execute(rctx, k, l, c, deadline, cancel)
	d := time.Since(start)
	if outcome == "" {
		w.c.inst.ran(rctx, k.name, whereRemote, d, runLost)
		span.SetStatus(codes.Error, "claim lost")
		return // lost: someone else owns the task now
	}
	if outcome != outcomeOK {
		kind, msg := splitError(payload)
		span.SetStatus(codes.Error, kind+": "+msg)
	}
	status, err := w.finish(rctx, k, c, outcome, payload, backoff)
	w.c.inst.ran(rctx, k.name, whereRemote, d, finished(outcome, status, err))
}

// execute decodes and runs the task and returns what to record: outcome,
// payload (result or "kind\nmessage") and backoff; "" when the claim was
// lost.
func (w *worker[P, R]) execute(ctx context.Context, k *queueKeys, l *life, c claimed, deadline time.Time,
	cancel context.CancelCauseFunc,
) (outcome, payload string, backoff time.Duration) {
	// Cut off while the claim was on its way: the task goes back without
	// using up an attempt (the script checks the worker still holds it).
	if !l.keep.Valid() {
		return outcomeRelease, kindLost + "\nthe worker was cut off before the handler started", 0
	}
	// A task queued under another shape (before this worker took the
	// name over) would decode into zero values: it fails instead.
	if s := traceShape(c.trace); s != "" && w.c.shape != "" && s != w.c.shape {
		return outcomeFatal, kindShape + "\nthe task was submitted with params or result shape " + s +
			"; this worker runs " + w.c.shape, 0
	}
	var params P
	if err := w.c.cfg.codec.Unmarshal(c.params, &params); err != nil {
		return outcomeFatal, kindDecode + "\n" + err.Error(), 0
	}
	t := &Task[P]{
		ID: c.id, Name: k.name, Params: params, Attempt: c.attempt, MaxAttempts: c.max, Priority: c.priority,
		Deadline: deadline, Remote: true,
		ctx: ctx, keep: l.keep,
	}
	t.update = func(uctx context.Context, current, total float64) error {
		return w.progress(uctx, k, c, current, total, cancel)
	}
	res, err := safeHandle(ctx, w.h, t)
	if err == nil {
		b, err := w.c.cfg.codec.Marshal(res)
		if err != nil {
			return outcomeFatal, kindEncode + "\n" + err.Error(), 0
		}
		return outcomeOK, string(b), 0
	}
	cause := context.Cause(ctx)
	text := kindOf(err) + "\n" + err.Error()
	switch {
	case ctx.Err() != nil && errors.Is(cause, errShutdown):
		return outcomeRelease, text, 0
	case ctx.Err() != nil && errors.Is(cause, ErrLost):
		return "", "", 0
	case ctx.Err() != nil && errors.Is(cause, ErrTimeout):
		return outcomeFatal, kindTimeout + "\ndeadline passed while running: " + err.Error(), 0
	case errors.Is(err, ErrSkipRetry):
		return outcomeFatal, text, 0
	}
	return outcomeErr, text, max(w.c.cfg.backoff(c.attempt, err), 0)
}

// progress runs task_progress for a running task.
func (w *worker[P, R]) progress(ctx context.Context, k *queueKeys, c claimed, current, total float64,
	cancel context.CancelCauseFunc,
) error {
	args := []string{
		c.id, w.id, c.claim(),
		strconv.FormatFloat(current, 'g', -1, 64), strconv.FormatFloat(total, 'g', -1, 64),
	}
	msg, err := w.c.runScript(ctx, script.TaskProgress, k.withNotify(c.id), args)
	if errors.Is(err, ErrLost) {
		cancel(fmt.Errorf("task %s/%s: %w", k.name, c.id, ErrLost))
		return fmt.Errorf("task %s/%s: progress: %w", k.name, c.id, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("task %s/%s: progress: %w", k.name, c.id, err)
	}
	arr, err := msg.AsIntSlice()
	if err != nil || len(arr) != 2 {
		return badReply("task "+k.name+"/"+c.id+": progress", err)
	}
	if arr[0] == 2 {
		cerr := fmt.Errorf("task %s/%s: %w", k.name, c.id, ErrCanceled)
		cancel(cerr)
		return cerr
	}
	return nil
}

// finish records the outcome, retrying transport failures a few times: a
// lost outcome would make the task run again after its lease lapses. It
// returns task_finish's answer: the task's status after it.
func (w *worker[P, R]) finish(ctx context.Context, k *queueKeys, c claimed, outcome, payload string, backoff time.Duration) (string, error) {
	args := []string{c.id, w.id, c.claim(), outcome, payload, roundMSZero(backoff)}
	delay := 50 * time.Millisecond
	for try := 1; ; try++ {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
		msg, err := w.c.runScript(fctx, script.TaskFinish, k.finishKeys(c.id), args)
		cancel()
		if err == nil || errors.Is(err, ErrLost) || errors.Is(err, ErrInvalid) || try == 3 {
			if err != nil && !errors.Is(err, ErrLost) {
				w.report(fmt.Errorf("task %s/%s: record outcome: %w", k.name, c.id, err))
			}
			status, _ := msg.ToString()
			return status, err
		}
		time.Sleep(delay)
		delay *= 4
	}
}
