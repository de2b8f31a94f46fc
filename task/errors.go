package task

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redisallocator/redisallocator/internal/redisx"
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
	// ErrLost: the worker no longer holds the task, so the handler must
	// stop and change nothing more; returned by [Task.Update] and matched by
	// the cause of the handler's ctx. Either the task's lease lapsed (the
	// task went back to the queue or to another worker), or Run's grace
	// period ended (the cause's message says "worker shutting down"; a
	// handler that then returns an error puts its task back in the queue
	// without using up an attempt).
	ErrLost = errors.New("task: claim lost")
	// ErrSkipRetry, wrapped into a handler's error, fails the task at once
	// instead of retrying it.
	ErrSkipRetry = errors.New("task: do not retry")
	// ErrShape: the queue's name is used with other params or result types
	// (or another codec) than this Queue's: a Queue[Email, Thumb] that
	// submits to a name whose workers run Queue[Resize, Thumb]. The shape
	// is a fingerprint of the structure of P and R (field names, types and
	// tags, recursively; not the Go package path) and the codec's name. It
	// is recorded for the name by the first worker (or, with no worker yet,
	// the first submitter); Submit and Query refuse another shape at once,
	// writing nothing, and a worker claims no task of another shape. A Run
	// started while no worker is live records its own shape; tasks queued
	// under the old one then fail with kind "shape".
	ErrShape = errors.New("task: params or result type does not match the queue's")
	// ErrInvalid is matched by every invalid-argument error: an empty, too
	// long or malformed task id, name or prefix, params the codec cannot
	// encode (also matching codec.ErrEncode), a nil or out-of-range option,
	// a nil client or handler, or a local run without a local handler
	// ([Queue.HandleLocally]). Nothing is written to Redis when one is
	// returned.
	ErrInvalid = errors.New("task: invalid argument")
	// ErrNoWorker is matched, along with ErrTimeout, by the timeout of a
	// wait ([Handle.Wait], Query) that ended while no live worker was
	// registered on the queue: no Run of this queue's name and prefix has a
	// fresh heartbeat, so the task was never going to be picked up. The
	// usual causes: no worker started, or one started with another prefix
	// or queue name.
	ErrNoWorker = errors.New("task: no live worker on the queue")
)

// errShutdown is the cause of a handler's ctx when Run's grace period ends.
// It matches ErrLost: the handler acts the same either way.
var errShutdown = fmt.Errorf("%w: worker shutting down", ErrLost)

// Kinds the queue itself gives failures; handlers pick their own with
// [Classify]. An error with no kind of its own has kind "error".
const (
	kindError    = "error"
	kindPanic    = "panic"  // the handler panicked
	kindDecode   = "decode" // a worker could not decode the params; no retries
	kindEncode   = "encode" // the result could not be encoded; no retries
	kindLost     = "lost"   // every attempt ended with the worker lost
	kindShape    = "shape"  // queued under another shape than the worker's
	kindTimeout  = "timeout"
	kindCanceled = "canceled"
)

// HandlerError is how a failed task reaches its caller: the message and kind
// of the handler's error (the error itself only for local runs; remote ones
// travel as text). It matches ErrHandler.
type HandlerError struct {
	// ID and Name identify the task.
	ID, Name string
	// Kind classifies the error in a word: what the handler gave with
	// [Classify] (or a Kind() string method of its error), else "error";
	// the queue's own kinds are "panic" (the handler panicked), "decode"
	// (a worker could not decode the params), "encode" (the result could
	// not be encoded), "lost" (every attempt ended with its worker lost)
	// and "shape" (queued under another shape than the worker's, see
	// [ErrShape]).
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

// Error describes the failure: task, where it ran, attempt, kind and
// message.
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

// Classify returns err with kind attached: the caller's
// [HandlerError.Kind]. Handlers use it to name failures ("validation",
// "upstream") for callers on other machines, which see only kind and
// message; errors.Is and errors.As see through it to err. Any error with a
// Kind() string method classifies itself the same way. A nil err stays
// nil; an empty kind leaves err as it is.
func Classify(err error, kind string) error {
	if err == nil || cleanKind(kind) == "" {
		return err
	}
	return &kinded{kind: kind, err: err}
}

// kindOf finds the kind of a handler's error: the first Kind() string
// method in its chain, else "error". Go type names are not kinds: callers
// in other programs could not name them, and "*errors.errorString" says
// nothing.
func kindOf(err error) string {
	var k interface{ Kind() string }
	if errors.As(err, &k) {
		if s := cleanKind(k.Kind()); s != "" {
			return s
		}
	}
	return kindError
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
	script.CodeShape:   ErrShape,
	script.CodeCorrupt: redisx.ErrCorrupt,
}
