package task

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redisallocator/redisallocator/internal/lease"
)

// Handler runs tasks with params P and returns results R: in workers
// ([Queue.Run]) and in local runs ([Queue.HandleLocally]). It must honour
// ctx: ctx ends at the task's deadline, when the task is canceled, when the
// worker loses the task, and at the end of Run's grace period;
// context.Cause tells which.
//
// A nil error completes the task with the returned result, zero values and
// nil pointers included. An error fails this attempt; it is retried (after
// the queue's backoff) while attempts and time remain, unless it wraps
// ErrSkipRetry. A panic is an error of kind "panic".
//
// Any function of this shape is a Handler; a type with its own state
// passes its method value (q.Run(ctx, svc.Resize)).
type Handler[P, R any] func(ctx context.Context, t *Task[P]) (R, error)

// Task is one run of a task, as its handler sees it. Update is safe for
// concurrent use; the other fields are read-only.
type Task[P any] struct {
	// ID identifies the task: callers that submit the same id while it is
	// pending or running join it instead of running it again.
	ID string
	// Name is the queue's name.
	Name string
	// Params are the decoded params.
	Params P
	// Attempt numbers this run (1-based); MaxAttempts is the limit.
	Attempt, MaxAttempts int
	// Priority is the task's priority (0 for local runs).
	Priority int
	// Deadline is when the task times out; the handler's ctx ends then.
	Deadline time.Time
	// Remote reports whether a worker runs the task (else Query runs it
	// locally).
	Remote bool

	update   func(ctx context.Context, current, total float64) error
	ctx      context.Context // the handler's, when run by Run or locally
	keep     *lease.Keeper   // the worker's registration, when run by Run
	mu       sync.Mutex
	progress Progress
}

// Valid reports whether this run still holds its task as far as the
// process can know: the handler's ctx has not ended and, read from the
// clock now, neither the task's deadline nor (in a worker) the worker's
// liveness deadline has passed. Unlike the ctx, which timers end, it is
// right in the moment a stalled process (a GC pause, a SIGSTOP, a
// suspended VM) resumes, before any timer has run. Call it right before
// acting on an external resource; a false answer means another worker may
// run the task now. A Task made outside a worker or a local run (a
// handler's unit test) is valid until its Deadline.
func (t *Task[P]) Valid() bool {
	if (t.ctx != nil && t.ctx.Err() != nil) || (t.keep != nil && !t.keep.Valid()) {
		return false
	}
	return t.Deadline.IsZero() || time.Now().Before(t.Deadline)
}

// Update reports progress: current out of total (any scale; the reference
// uses percent). Callers read it with [Handle.Progress] and
// [Handle.Progress], which it wakes. It returns ErrCanceled when the
// task's cancellation was requested, ErrLost when the worker no longer
// holds the task, ErrTimeout after the deadline (nothing is recorded then)
// and errors matching ErrQueue when Redis fails. Local runs keep progress in
// memory only.
func (t *Task[P]) Update(ctx context.Context, current, total float64) error {
	if math.IsNaN(current) || math.IsInf(current, 0) || math.IsNaN(total) || math.IsInf(total, 0) {
		return fmt.Errorf("%w: progress %v of %v", ErrInvalid, current, total)
	}
	if !t.Deadline.IsZero() && !time.Now().Before(t.Deadline) {
		return fmt.Errorf("task %s/%s: update after the deadline: %w", t.Name, t.ID, ErrTimeout)
	}
	t.mu.Lock()
	t.progress = Progress{Seq: t.progress.Seq + 1, Current: current, Total: total, Updated: time.Now()}
	t.mu.Unlock()
	if t.update == nil {
		return nil
	}
	return t.update(ctx, current, total)
}

// Progress is what a running task reported last.
type Progress struct {
	// Seq numbers the updates of the task, from 1; 0 means none yet.
	Seq int64
	// Current and Total are what the handler passed to Update.
	Current, Total float64
	// Updated is when the update was recorded (server clock for remote
	// tasks).
	Updated time.Time
	// Status is the task's status when the progress was read.
	Status Status
}

// Status is where a task is in its life.
type Status string

// Task statuses.
const (
	// StatusPending: queued, delayed or waiting for a retry.
	StatusPending Status = "pending"
	// StatusRunning: a worker holds it.
	StatusRunning Status = "running"
	// StatusSucceeded: finished with a result.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: failed for good; it is in the dead-letter set.
	StatusFailed Status = "failed"
	// StatusCanceled: canceled before or while it ran.
	StatusCanceled Status = "canceled"
)

// final reports whether the status is an outcome.
func (s Status) final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

func statusOf(code string) Status {
	switch code {
	case "p":
		return StatusPending
	case "r":
		return StatusRunning
	case "s":
		return StatusSucceeded
	case "f":
		return StatusFailed
	case "c":
		return StatusCanceled
	}
	return Status("unknown:" + code)
}

// Info describes a queued task. Times come from the Redis server's clock;
// zero times mean "not yet".
type Info struct {
	ID, Name    string
	Status      Status
	Attempt     int
	MaxAttempts int
	Priority    int
	// CancelRequested: Cancel was called while the task ran.
	CancelRequested bool
	// Created, Started (last attempt) and Finished.
	Created, Started, Finished time.Time
	// Deadline is when the task times out.
	Deadline time.Time
	// Progress is the last progress reported.
	Progress Progress
	// ErrorKind and ErrorMessage describe the last failure (also of an
	// attempt that is being retried); empty when none. Earlier failures
	// are not kept.
	ErrorKind, ErrorMessage string
	// Worker is the id of the worker running the task, empty when none.
	Worker string
	// Due is when a delayed task or a retry becomes due; zero otherwise
	// (and in [Inspector.DeadLetters]).
	Due time.Time
	// Params are the encoded params, as the queue's codec wrote them
	// (CBOR unless the Queue had WithCodec): set by [Inspector.Info] only.
	// Decode them with the same codec's Unmarshal.
	Params []byte
}

// meta is a parsed meta record (see lua/lib/task.lua).
type meta struct {
	status                     string
	attempt, max, prio         int
	deadline, timeout          int64
	retention, keep            int64
	worker                     string
	cancel                     bool
	created, started, finished int64
}

var errBadRecord = errors.New("malformed task record")

func parseMeta(rec string) (meta, error) {
	var m meta
	f := splitFields(rec)
	if len(f) != 13 {
		return m, fmt.Errorf("%w: %q", errBadRecord, rec)
	}
	nums := make([]int64, 13)
	for i, s := range f {
		if i == 0 || i == 8 || i == 9 {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return m, fmt.Errorf("%w: %q", errBadRecord, rec)
		}
		nums[i] = n
	}
	m.status = f[0]
	m.attempt, m.max, m.prio = int(nums[1]), int(nums[2]), int(nums[3])
	m.deadline, m.timeout, m.retention, m.keep = nums[4], nums[5], nums[6], nums[7]
	m.worker, m.cancel = f[8], f[9] == "1"
	m.created, m.started, m.finished = nums[10], nums[11], nums[12]
	return m, nil
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

// parseProgress reads "seq current total updated".
func parseProgress(s string) Progress {
	f := splitFields(s)
	if len(f) != 4 {
		return Progress{}
	}
	var p Progress
	p.Seq, _ = strconv.ParseInt(f[0], 10, 64)
	p.Current, _ = strconv.ParseFloat(f[1], 64)
	p.Total, _ = strconv.ParseFloat(f[2], 64)
	if ms, err := strconv.ParseInt(f[3], 10, 64); err == nil {
		p.Updated = time.UnixMilli(ms)
	}
	return p
}

// splitError reads "kind\nmessage".
func splitError(s string) (kind, msg string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func (m meta) info(id, name string, progress, errText string) Info {
	in := Info{
		ID: id, Name: name, Status: statusOf(m.status), Attempt: m.attempt, MaxAttempts: m.max, Priority: m.prio,
		CancelRequested: m.cancel, Created: msTime(m.created), Started: msTime(m.started),
		Finished: msTime(m.finished), Deadline: msTime(m.deadline), Progress: parseProgress(progress),
	}
	in.Progress.Status = in.Status
	if m.worker != "-" {
		in.Worker = m.worker
	}
	if errText != "" {
		in.ErrorKind, in.ErrorMessage = splitError(errText)
	}
	return in
}
