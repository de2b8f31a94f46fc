package task

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// State selects the tasks [Inspector.List] reads: a finer view than
// [Status], by the index a task sits in.
type State string

// Task states for [Inspector.List].
const (
	// StatePending: due and waiting for a worker (the ready set; a
	// delayed task has [StatusPending] too but is listed as StateDelayed);
	// highest priority first, oldest first within a priority.
	StatePending State = "pending"
	// StateDelayed: pending with a later due time (Delay), never attempted;
	// soonest due first.
	StateDelayed State = "delayed"
	// StateRetrying: waiting for the next attempt after a failed one;
	// soonest due first.
	StateRetrying State = "retrying"
	// StateRunning: held by a worker; by worker, then id.
	StateRunning State = "running"
	// StateDead: failed for good, in the dead-letter set; oldest failure
	// first.
	StateDead State = "dead"
	// StateSucceeded and StateCanceled: finished records kept for their
	// retention; soonest deleted first.
	StateSucceeded State = "succeeded"
	StateCanceled  State = "canceled"
)

// States lists every [State] in the order a task usually goes through them.
func States() []State {
	return []State{StateDelayed, StatePending, StateRunning, StateRetrying, StateDead, StateSucceeded, StateCanceled}
}

func (s State) valid() bool {
	for _, v := range States() {
		if s == v {
			return true
		}
	}
	return false
}

// Largest page of [Inspector.List] and most ids per call of the
// inspector's repairs.
const (
	maxListLimit = 1000
	maxIDs       = 10000
)

// List reads up to limit tasks (1 to 1000) of the queue in state, from
// cursor: "" for the first page, then the next cursor the previous page
// returned, until it returns "". Each state is read in a stable order (see
// the [State] constants), so a task that stays in its state while the
// pages are read is listed exactly once, however other tasks move; a task
// that moves between pages may be missed or listed in two states. A page
// examines at most a few thousand index entries, so a state that few
// records match (succeeded, canceled) may give short or empty pages before
// the end: go on while the cursor is not "". Params are not read (see
// [Inspector.Info]).
//
// An unknown state, a limit out of range or a cursor List did not return
// give an [ErrInvalid] error; a record that does not parse, or a key of the
// wrong type, an error matching redisallocator.ErrCorrupt that names the
// key and the field. Redis failures match [ErrQueue].
func (i *Inspector) List(ctx context.Context, state State, cursor string, limit int) ([]Info, string, error) {
	c := i.c
	if !state.valid() {
		return nil, "", fmt.Errorf("%w: task state %q (want one of %v)", ErrInvalid, state, States())
	}
	if limit < 1 || limit > maxListLimit {
		return nil, "", fmt.Errorf("%w: list limit %d (want 1 to %d)", ErrInvalid, limit, maxListLimit)
	}
	raw, err := hex.DecodeString(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("%w: list cursor %q is not one List returned", ErrInvalid, cursor)
	}
	msg, err := c.runScript(ctx, script.TaskList, c.keys.keys, []string{string(state), string(raw), strconv.Itoa(limit)})
	if err != nil {
		return nil, "", fmt.Errorf("task %s: list %s: %w", c.name, state, err)
	}
	arr, err := msg.AsStrSlice()
	if err != nil || len(arr) < 2 || (len(arr)-2)%5 != 0 {
		return nil, "", badReply("task "+c.name+": list", err)
	}
	out := make([]Info, 0, (len(arr)-2)/5)
	for j := 2; j < len(arr); j += 5 {
		id := arr[j]
		m, err := parseMeta(arr[j+2])
		if err != nil {
			return nil, "", fmt.Errorf("task %s: list: %w: %s field m:%s: %w", c.name, redisx.ErrCorrupt, c.keys.keys[idxData], id, err)
		}
		in := m.info(id, c.name, arr[j+4], arr[j+3])
		if state == StateDelayed || state == StateRetrying {
			in.Due = scoreTime(arr[j+1])
		}
		out = append(out, in)
	}
	return out, hex.EncodeToString([]byte(arr[0])), nil
}

// scoreTime reads a sorted-set score in ms.
func scoreTime(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}
	}
	return msTime(int64(f))
}

// checkIDs validates the ids of a repair call.
func checkIDs(ids []string) error {
	if len(ids) > maxIDs {
		return fmt.Errorf("%w: %d ids in one call, at most %d", ErrInvalid, len(ids), maxIDs)
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return err
		}
	}
	return nil
}

// Cancel cancels the task id as [Handle.Cancel] does, in one atomic
// step: a pending task at once (its waiters get ErrCanceled), a running
// one by request to its worker. It returns nil when the task is or will be
// canceled, [ErrFinished] when it had finished, [ErrNotFound] when there is
// no record and an [ErrInvalid] error for a bad id.
func (i *Inspector) Cancel(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	h := &Handle[struct{}]{h: &handle{c: i.c, id: id}}
	return h.Cancel(ctx)
}

// Delete deletes the record of the task id in one atomic step, when no
// worker holds it: pending, delayed, retrying, dead and finished tasks go
// (callers waiting on one get [ErrNotFound]). A running task is left as it
// is, with an [ErrInvalid] error (cancel it first); no record gives
// [ErrNotFound], a bad id an [ErrInvalid] error.
func (i *Inspector) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	c := i.c
	msg, err := c.runScript(ctx, script.TaskDelete, c.keys.withNotify(id), []string{id})
	if err != nil {
		return fmt.Errorf("task %s/%s: delete: %w", c.name, id, err)
	}
	if msg.IsNil() {
		return fmt.Errorf("task %s/%s: %w", c.name, id, ErrNotFound)
	}
	was, err := msg.ToString()
	if err != nil {
		return badReply("task "+c.name+"/"+id+": delete", err)
	}
	if was == "r" {
		return fmt.Errorf("%w: task %s/%s is running: cancel it first", ErrInvalid, c.name, id)
	}
	return nil
}

// RunNow makes delayed tasks and tasks waiting for their next attempt due
// at once, in one atomic step, and returns how many it moved; other ids
// are skipped. At most 10000 ids per call; a bad id returns an
// [ErrInvalid] error and moves none.
func (i *Inspector) RunNow(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	if err := checkIDs(ids); err != nil {
		return 0, err
	}
	c := i.c
	msg, err := c.runScript(ctx, script.TaskPromote, c.keys.keys, ids)
	if err != nil {
		return 0, fmt.Errorf("task %s: run now: %w", c.name, err)
	}
	n, err := msg.AsInt64()
	if err != nil {
		return 0, badReply("task "+c.name+": run now", err)
	}
	return int(n), nil
}

// Pause stops the queue's workers from claiming tasks until [Inspector.Resume]:
// tasks they run go on, submitters still queue, delayed tasks still
// become due and lapsed leases are still reaped. It reports whether the
// queue was running (false: paused already). [Inspector.Paused] reads the
// flag.
func (i *Inspector) Pause(ctx context.Context) (bool, error) { return i.pause(ctx, "pause") }

// Resume lets the queue's workers claim tasks again and wakes the idle
// ones. It reports whether the queue was paused.
func (i *Inspector) Resume(ctx context.Context) (bool, error) { return i.pause(ctx, "resume") }

// Paused reports whether the queue is paused. It only reads. A flag that
// is not one Pause writes gives an error matching redisallocator.ErrCorrupt.
func (i *Inspector) Paused(ctx context.Context) (bool, error) {
	c := i.c
	msg, err := c.runScript(ctx, script.TaskInspect, c.keys.inspectKeys(), []string{"paused", "0", "1"})
	if err != nil {
		return false, fmt.Errorf("task %s: paused: %w", c.name, err)
	}
	n, err := msg.AsInt64()
	if err != nil {
		return false, badReply("task "+c.name+": paused", err)
	}
	return n == 1, nil
}

func (i *Inspector) pause(ctx context.Context, op string) (bool, error) {
	c := i.c
	msg, err := c.runScript(ctx, script.TaskPause, c.keys.keys, []string{op})
	if err != nil {
		return false, fmt.Errorf("task %s: %s: %w", c.name, op, err)
	}
	n, err := msg.AsInt64()
	if err != nil {
		return false, badReply("task "+c.name+": "+op, err)
	}
	return n == 1, nil
}
