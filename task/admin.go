package task

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Stats counts the tasks of one name's queue.
type Stats struct {
	// Ready tasks wait for a worker; Delayed ones for their time or their
	// next attempt; Running ones are held by workers; Dead ones failed for
	// good (the dead-letter set).
	Ready, Delayed, Running, Dead int
	// Workers counts live workers (fresh heartbeat) listening for the name.
	Workers int
	// Records counts every stored record, finished ones included.
	Records int
}

// Stats reads the counts of name's queue in one atomic step.
func (q *Queue[P, R]) Stats(ctx context.Context, name string) (Stats, error) {
	k, err := q.c.keysFor(name)
	if err != nil {
		return Stats{}, err
	}
	msg, err := q.c.runScript(ctx, script.TaskInspect, k.keys, []string{"stats", "0", "1"})
	if err != nil {
		return Stats{}, fmt.Errorf("task %s: stats: %w", name, err)
	}
	n, err := msg.AsIntSlice()
	if err != nil || len(n) != 6 {
		return Stats{}, badReply("task "+name+": stats", err)
	}
	return Stats{Ready: int(n[0]), Delayed: int(n[1]), Running: int(n[2]), Dead: int(n[3]), Workers: int(n[4]), Records: int(n[5])}, nil
}

// DeadLetters lists up to count tasks of name's dead-letter set (failed for
// good), oldest failure first, from offset; count is 1 to 1000.
func (q *Queue[P, R]) DeadLetters(ctx context.Context, name string, offset, count int) ([]Info, error) {
	k, err := q.c.keysFor(name)
	if err != nil {
		return nil, err
	}
	if offset < 0 || count < 1 || count > 1000 {
		return nil, fmt.Errorf("%w: dead letters offset %d count %d (want offset >= 0, count 1 to 1000)", ErrInvalidOption, offset, count)
	}
	msg, err := q.c.runScript(ctx, script.TaskInspect, k.keys, []string{"dead", strconv.Itoa(offset), strconv.Itoa(count)})
	if err != nil {
		return nil, fmt.Errorf("task %s: dead letters: %w", name, err)
	}
	arr, err := msg.AsStrSlice()
	if err != nil || len(arr)%4 != 0 {
		return nil, badReply("task "+name+": dead letters", err)
	}
	out := make([]Info, 0, len(arr)/4)
	for i := 0; i < len(arr); i += 4 {
		m, err := parseMeta(arr[i+2])
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, m.info(arr[i], name, "", arr[i+3]))
	}
	return out, nil
}

// Requeue moves failed tasks of name from the dead-letter set back to the
// queue with fresh attempts and a fresh deadline (their original timeout
// from now), and returns how many it moved; ids not in the set are skipped.
func (q *Queue[P, R]) Requeue(ctx context.Context, name string, ids ...string) (int, error) {
	k, err := q.c.keysFor(name)
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if len(ids) > 10000 {
		return 0, fmt.Errorf("%w: %d ids in one call, at most 10000", ErrInvalidOption, len(ids))
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return 0, err
		}
	}
	msg, err := q.c.runScript(ctx, script.TaskRequeue, k.keys, ids)
	if err != nil {
		return 0, fmt.Errorf("task %s: requeue: %w", name, err)
	}
	n, err := msg.AsInt64()
	if err != nil {
		return 0, fmt.Errorf("%w: task %s: requeue: unexpected reply: %w", ErrQueue, name, err)
	}
	return int(n), nil
}

// Info reads the record of task id of name; ErrNotFound when there is none.
func (q *Queue[P, R]) Info(ctx context.Context, name, id string) (Info, error) {
	h, err := q.Handle(name, id)
	if err != nil {
		return Info{}, err
	}
	return h.Info(ctx)
}
