package task

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// handle is the untyped part of a Handle.
type handle struct {
	c    *core
	id   string
	once bool

	// waiter was registered by the enqueue: the first Wait may block at
	// once, without reading first.
	waiter     string
	registered bool
	taken      atomic.Bool // the enqueue's registration was used

	mu       sync.Mutex
	deadline time.Time // when waiting stops; zero until known
}

// Handle follows one queued task: wait for its outcome, read or wait for
// its progress, cancel it. Handles are cheap and safe for concurrent use; a
// nil Handle returns [ErrNotFound]. Operators read a task's whole record
// with [Inspector.Info].
type Handle[R any] struct {
	h      *handle
	joined bool
}

// joinedTask reports whether Submit found the task pending or running
// already and joined it instead of queuing it again.
func (h *Handle[R]) joinedTask() bool { return h != nil && h.joined }

// Wait blocks until the task has an outcome and returns it: the result, a
// *HandlerError (ErrHandler), an ErrTimeout error once the task's deadline
// passed, or ErrCanceled. Writes to the task wake it at once (no polling).
// When ctx ends first it returns an error matching ctx.Err() (and
// ErrTimeout or ErrCanceled); the task goes on. A timeout while no live
// worker is registered on the queue also matches [ErrNoWorker]. With Once
// the record is deleted after the outcome is read, so a second Wait
// returns ErrNotFound.
func (h *Handle[R]) Wait(ctx context.Context) (R, error) {
	var zero R
	if h == nil || h.h == nil {
		return zero, ErrNotFound
	}
	if err := h.h.c.checkCtx(ctx, "wait"); err != nil {
		return zero, err
	}
	ctx, span := h.h.c.prov.Tracer().Start(ctx, "task.wait", trace.WithAttributes(
		attrName.String(h.h.c.name), attrID.String(h.h.id)))
	defer span.End()
	r, err := h.wait(ctx)
	if errors.Is(err, ErrTimeout) {
		err = h.h.c.noWorker(ctx, err)
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return r, err
}

func (h *Handle[R]) wait(ctx context.Context) (R, error) {
	var zero R
	hd := h.h
	token, skip := hd.c.newToken(), false
	if hd.registered && hd.taken.CompareAndSwap(false, true) {
		token, skip = hd.waiter, true
	}
	for {
		if !skip {
			sent := time.Now()
			rr, err := hd.read(ctx, token, hd.once, -1, true)
			if err != nil {
				return zero, err
			}
			if final(rr.m.status) {
				return decodeOutcome[R](hd, rr)
			}
			// Only a read sent after the deadline (which is no sooner than
			// the server's) decides: from then on the server records any
			// outcome as a timeout, so this caller and later readers agree.
			if !sent.Before(hd.getDeadline()) {
				return zero, fmt.Errorf("task %s/%s: %w: no outcome before the deadline", hd.c.name, hd.id, ErrTimeout)
			}
		}
		skip = false
		left := time.Until(hd.getDeadline())
		if left <= 0 {
			continue // one more read, after the deadline
		}
		el, err := hd.c.block(ctx, hd.c.keys, hd.c.keys.notify(hd.id), min(left, hd.c.cfg.waitPoll))
		if err != nil {
			return zero, fmt.Errorf("task %s/%s: wait: %w", hd.c.name, hd.id, err)
		}
		// With Once the record is to be deleted: that takes the read.
		if rr, ok := outcomeOf(el, token); ok && !hd.once {
			return decodeOutcome[R](hd, rr)
		}
	}
}

// outcomeOf reads the outcome task_finish put in a wake-up element for the
// waiter token (see notify in lib/task_notify.lua): what a read right then
// would have returned. ok is false for any other element.
func outcomeOf(el, token string) (readReply, bool) {
	var rr readReply
	rest, ok := strings.CutPrefix(el, token+"\x00")
	if !ok || token == "" {
		return rr, false
	}
	status, rest, ok1 := strings.Cut(rest, "\x00")
	attempt, payload, ok2 := strings.Cut(rest, "\x00")
	n, err := strconv.Atoi(attempt)
	if !ok1 || !ok2 || err != nil || !final(status) {
		return rr, false
	}
	rr.m.status, rr.m.attempt = status, n
	if status == "s" {
		rr.hasResult, rr.result = true, []byte(payload)
	} else {
		rr.errText = payload
	}
	return rr, true
}

// result reads a finished task's result without waiting.
func (h *Handle[R]) result(ctx context.Context) (R, error) {
	var zero R
	rr, err := h.h.read(ctx, "", h.h.once, -1, true)
	if err != nil {
		return zero, err
	}
	if !final(rr.m.status) {
		return zero, fmt.Errorf("task %s/%s: %w", h.h.c.name, h.h.id, ErrTimeout)
	}
	return decodeOutcome[R](h.h, rr)
}

// Progress returns the task's progress with its current status. With
// after < 0 it reads at once. Otherwise it blocks until the task reports
// progress newer than after (a Progress.Seq; 0 for the first report) or
// finishes, and returns its progress then; check Status to see whether it
// finished (succeeded, failed or canceled). Progress updates wake it at
// once. After the task's deadline it returns the progress and an
// ErrTimeout error; when ctx ends, an error matching ctx.Err(). It returns
// ErrNotFound when the record is gone.
func (h *Handle[R]) Progress(ctx context.Context, after int64) (Progress, error) {
	if h == nil || h.h == nil {
		return Progress{}, ErrNotFound
	}
	if after < 0 {
		rr, err := h.h.read(ctx, "", false, -1, false)
		if err != nil {
			return Progress{}, err
		}
		p := parseProgress(rr.progress)
		p.Status = statusOf(rr.m.status)
		return p, nil
	}
	hd := h.h
	token := hd.c.newToken()
	for {
		rr, err := hd.read(ctx, token, false, after, false)
		if err != nil {
			return Progress{}, err
		}
		p := parseProgress(rr.progress)
		p.Status = statusOf(rr.m.status)
		if p.Seq > after || p.Status.final() {
			return p, nil
		}
		left := time.Until(hd.getDeadline())
		if left <= 0 {
			return p, fmt.Errorf("task %s/%s: %w: no progress before the deadline", hd.c.name, hd.id, ErrTimeout)
		}
		if _, err := hd.c.block(ctx, hd.c.keys, hd.c.keys.notify(hd.id), min(left, hd.c.cfg.waitPoll)); err != nil {
			return p, fmt.Errorf("task %s/%s: wait for progress: %w", hd.c.name, hd.id, err)
		}
	}
}

// Cancel cancels the task: a pending task is canceled at once (its waiters
// get ErrCanceled), a running one by cancelling its handler's ctx at the
// worker's next heartbeat; a handler that then returns an error ends the
// task as canceled, one that returns a result completes it (before the
// task's deadline: after it, every outcome is recorded as a timeout). It returns nil
// when the task is or will be canceled, ErrFinished when it had finished
// already and ErrNotFound when there is no record.
func (h *Handle[R]) Cancel(ctx context.Context) error {
	if h == nil || h.h == nil {
		return ErrNotFound
	}
	was, err := h.h.cancel(ctx, "cancel")
	if err != nil {
		return err
	}
	switch was {
	case "":
		return fmt.Errorf("task %s/%s: %w", h.h.c.name, h.h.id, ErrNotFound)
	case "s", "f":
		return fmt.Errorf("task %s/%s: %w", h.h.c.name, h.h.id, ErrFinished)
	}
	return nil
}

func (hd *handle) getDeadline() time.Time {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return hd.deadline
}

// readReply is a parsed task_read reply.
type readReply struct {
	m         meta
	progress  string
	errText   string
	hasResult bool
	result    []byte
}

// read runs task_read. A missing record is ErrNotFound.
func (hd *handle) read(ctx context.Context, token string, once bool, seen int64, want bool) (readReply, error) {
	var rr readReply
	args := []string{hd.id, token, flag(once), strconv.FormatInt(seen, 10), flag(want)}
	msg, err := hd.c.runScript(ctx, script.TaskRead, hd.c.keys.keys, args)
	if err != nil {
		return rr, fmt.Errorf("task %s/%s: read: %w", hd.c.name, hd.id, err)
	}
	if msg.IsNil() {
		return rr, fmt.Errorf("task %s/%s: %w", hd.c.name, hd.id, ErrNotFound)
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 6 {
		return rr, badReply("task "+hd.c.name+"/"+hd.id+": read", err)
	}
	rec, _ := arr[0].ToString()
	if rr.m, err = parseMeta(rec); err != nil {
		return rr, fmt.Errorf("%w: task %s/%s: %w", ErrQueue, hd.c.name, hd.id, err)
	}
	rr.progress, _ = arr[1].ToString()
	rr.errText, _ = arr[2].ToString()
	has, _ := arr[3].AsInt64()
	if has == 1 {
		rr.hasResult = true
		rr.result, _ = arr[4].AsBytes()
	}
	now, _ := arr[5].AsInt64()
	recv := time.Now()
	hd.mu.Lock()
	if hd.deadline.IsZero() {
		// Counted from the reply, after the server read its clock: the
		// wait ends no sooner than the server's deadline.
		hd.deadline = recv.Add(time.Duration(rr.m.deadline-now) * time.Millisecond)
	}
	hd.mu.Unlock()
	return rr, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func final(status string) bool { return status == "s" || status == "f" || status == "c" }

// decodeOutcome turns a finished record into what Wait returns.
func decodeOutcome[R any](hd *handle, rr readReply) (R, error) {
	var zero R
	switch rr.m.status {
	case "s":
		var r R
		if !rr.hasResult {
			return zero, nil
		}
		if err := hd.c.cfg.codec.Unmarshal(rr.result, &r); err != nil {
			return zero, fmt.Errorf("%w: task %s/%s: result: %w", ErrQueue, hd.c.name, hd.id, err)
		}
		return r, nil
	case "c":
		_, msg := splitError(rr.errText)
		return zero, fmt.Errorf("task %s/%s: %w: %s", hd.c.name, hd.id, ErrCanceled, msg)
	}
	kind, msg := splitError(rr.errText)
	if kind == kindTimeout {
		return zero, fmt.Errorf("task %s/%s: %w: %s", hd.c.name, hd.id, ErrTimeout, msg)
	}
	return zero, &HandlerError{ID: hd.id, Name: hd.c.name, Kind: kind, Message: msg, Attempt: rr.m.attempt, Remote: true}
}

// cancel runs task_cancel and returns the status the task had ("" when
// there is no record).
func (hd *handle) cancel(ctx context.Context, mode string) (string, error) {
	msg, err := hd.c.runScript(ctx, script.TaskCancel, hd.c.keys.withNotify(hd.id), []string{hd.id, mode})
	if err != nil {
		return "", fmt.Errorf("task %s/%s: cancel: %w", hd.c.name, hd.id, err)
	}
	if msg.IsNil() {
		return "", nil
	}
	was, err := msg.ToString()
	if err != nil {
		return "", fmt.Errorf("%w: task %s/%s: cancel: unexpected reply: %w", ErrQueue, hd.c.name, hd.id, err)
	}
	return was, nil
}

// withdraw takes a pending task out of the queue (it is canceled) and
// returns the status the task had: "p" means withdrawn before any worker
// took it, "" that there was no record. It runs detached from ctx's
// cancellation, so a caller who gives up still learns the truth.
func (hd *handle) withdraw(ctx context.Context) (string, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return hd.cancel(wctx, "withdraw")
}

// block waits on a list of queue k for a wake-up token, at most d. The
// server-side timeout stays inside ctx's deadline, so the blocking call
// ends on its own instead of being aborted (which would close its
// connection). rueidis does not abort a blocking call when a ctx without
// deadline is cancelled, so cancellation pushes a token to a private list
// the call also waits on. It returns the element it popped, if any.
func (c *core) block(ctx context.Context, k *queueKeys, key string, d time.Duration) (string, error) {
	el, _, err := redisx.PopList(ctx, c.client, key, k.ns.Key(abortPrefix+c.newToken()), d)
	if ctx.Err() != nil {
		return "", ctxErr(ctx)
	}
	if err != nil {
		return "", classify(ctx, err)
	}
	return el, nil
}

// noWorkerCheck bounds the read of the queue's live workers after a wait
// timed out.
const noWorkerCheck = time.Second

// noWorker adds ErrNoWorker to err, a timeout, when no live worker is
// registered on the queue: the most common reason a task times out is
// that nobody listens. The count is one read-only script (the Stats one),
// detached from ctx (which may be what ended) and bounded by noWorkerCheck;
// when it fails, err is returned as it is.
func (c *core) noWorker(ctx context.Context, err error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noWorkerCheck)
	defer cancel()
	st, serr := c.stats(rctx)
	if serr != nil || st.Workers > 0 {
		return err
	}
	return fmt.Errorf("%w (%w %s: start one with Queue.Run under prefix %s)", err, ErrNoWorker, c.name, c.prefix)
}
