package task

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Outcome errors: what became of a task. Exactly one of ErrHandler,
// ErrTimeout, ErrCanceled and ErrQueue matches any error Query or
// [Handle.Wait] return for a task that was attempted, so callers can tell
// them apart with errors.Is.
var (
	// ErrHandler is matched by every [*HandlerError]: the handler returned
	// an error or panicked, or the task could not be decoded, encoded or kept
	// alive on a worker. errors.As gives the message and kind.
	ErrHandler = errors.New("task: handler failed")
	// ErrTimeout: no outcome before the task's deadline (the Timeout query
	// option, or the caller's ctx deadline, whichever is sooner). A remote
	// task whose deadline passed is not run any more.
	ErrTimeout = errors.New("task: timed out")
	// ErrCanceled: the task was canceled ([Handle.Cancel]), or the caller's
	// ctx was cancelled before an outcome arrived (then the error also
	// matches context.Canceled and a remote task keeps running).
	ErrCanceled = errors.New("task: canceled")
	// ErrQueue wraps failures to talk to Redis (network, server errors):
	// the outcome of the task is unknown.
	ErrQueue = errors.New("task: queue error")
)

// Other errors. Match them with errors.Is.
var (
	// ErrNotFound: no record of the task: it never existed, its retention
	// ended, or a caller with Once consumed it.
	ErrNotFound = errors.New("task: not found")
	// ErrFinished: Cancel found the task already finished.
	ErrFinished = errors.New("task: already finished")
	// ErrLost: the worker no longer holds the task (its lease lapsed and the
	// task went back to the queue or to another worker); returned by
	// [Task.Update] and the cause of the handler's ctx.
	ErrLost = errors.New("task: claim lost")
	// ErrShutdown is the cause of a handler's ctx when Listen's grace period
	// ends; a handler that then returns an error puts its task back in the
	// queue without using up an attempt.
	ErrShutdown = errors.New("task: worker shutting down")
	// ErrNoHandler: the call needs a handler (local execution, Listen) and
	// the queue has none (see WithHandler). It also matches ErrInvalid.
	ErrNoHandler = fmt.Errorf("%w: no handler", ErrInvalid)
	// ErrSkipRetry, wrapped into a handler's error, fails the task at once
	// instead of retrying it.
	ErrSkipRetry = errors.New("task: do not retry")
	// ErrInvalid is matched by every invalid-argument error below; nothing
	// is written to Redis when one is returned.
	ErrInvalid = errors.New("task: invalid argument")
	// ErrInvalidName: an empty, too long or malformed task id, task name or
	// prefix. It also matches redisallocator.ErrInvalidName.
	ErrInvalidName = fmt.Errorf("%w: name", ErrInvalid)
	// ErrInvalidDuration: a timeout, delay, retention or interval out of
	// range.
	ErrInvalidDuration = fmt.Errorf("%w: duration", ErrInvalid)
	// ErrInvalidOption: a nil or contradictory option, an option out of
	// range, a nil client or a handler whose types do not match the queue.
	ErrInvalidOption = fmt.Errorf("%w: option", ErrInvalid)
	// ErrInvalidParams: the params could not be encoded (it also matches
	// codec.ErrEncode).
	ErrInvalidParams = fmt.Errorf("%w: params", ErrInvalid)
)

// Kinds the queue itself gives failures; handlers pick their own (see
// [WithKind]).
const (
	// KindPanic: the handler panicked.
	KindPanic = "panic"
	// KindDecode: a worker could not decode the params; the task failed at
	// once, without retries.
	KindDecode = "decode"
	// KindEncode: the result could not be encoded; no retries.
	KindEncode = "encode"
	// KindLost: every attempt ended with the worker lost (crashed, stopped
	// heart-beating or its lease lapsed).
	KindLost = "lost"
	// Timeout and cancellation are stored with these kinds and reported as
	// ErrTimeout and ErrCanceled, not as a *HandlerError.
	kindTimeout  = "timeout"
	kindCanceled = "canceled"
)

// HandlerError is how a failed task reaches its caller: the message and kind
// of the handler's error (the error itself only for local runs; remote ones
// travel as text). It matches ErrHandler.
type HandlerError struct {
	// ID and Name identify the task.
	ID, Name string
	// Kind classifies the error: what the handler's error reports through a
	// Kind() string method (see WithKind), else the Go type of the innermost
	// error of its Unwrap chain ("*os.PathError", "*errors.errorString"), or
	// one of KindPanic, KindDecode, KindEncode, KindLost.
	Kind string
	// Message is the handler's err.Error().
	Message string
	// Attempt is the attempt that failed last (1-based).
	Attempt int
	// Remote reports whether a worker ran the task.
	Remote bool
	// Err is the handler's own error for local runs, nil for remote ones.
	// It is a field, not the Unwrap chain: a handler may pass on another
	// task's ErrTimeout or ErrQueue, and the outcome must still match
	// ErrHandler alone. Inspect it with errors.As(he.Err, ...).
	Err error
}

// Error says which task failed where, on which attempt, and why.
func (e *HandlerError) Error() string {
	where := "local"
	if e.Remote {
		where = "remote"
	}
	return fmt.Sprintf("task %s/%s: %s run failed (attempt %d, %s): %s", e.Name, e.ID, where, e.Attempt, e.Kind, e.Message)
}

// Is makes errors.Is(err, ErrHandler) hold.
func (e *HandlerError) Is(target error) bool { return target == ErrHandler }

// kinded is an error with a kind of its own.
type kinded struct {
	kind string
	err  error
}

func (k *kinded) Error() string { return k.err.Error() }
func (k *kinded) Unwrap() error { return k.err }
func (k *kinded) Kind() string  { return k.kind }

// WithKind returns err with kind attached: the caller's [HandlerError.Kind].
// Handlers use it to classify failures ("validation", "upstream") for
// callers on other machines, which see only kind and message. A nil err
// stays nil.
func WithKind(err error, kind string) error {
	if err == nil {
		return nil
	}
	return &kinded{kind: kind, err: err}
}

// kindOf finds the kind of a handler's error.
func kindOf(err error) string {
	var k interface{ Kind() string }
	if errors.As(err, &k) {
		if s := cleanKind(k.Kind()); s != "" {
			return s
		}
	}
	// The innermost error names the failure best: fmt.Errorf("...: %w",
	// &NotFoundError{}) is a *NotFoundError, not a *fmt.wrapError.
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return cleanKind(fmt.Sprintf("%T", err))
}

// cleanKind keeps kinds on one short line: they are stored before the
// message, separated by a newline.
func cleanKind(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 128 {
		s = s[:128]
	}
	return strings.TrimSpace(s)
}

// scriptErrors maps the task scripts' error codes to sentinels.
var scriptErrors = map[script.Code]error{
	script.CodeNotHeld: ErrLost,
	script.CodeInvalid: ErrInvalid,
}
