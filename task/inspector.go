package task

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Inspector reads and repairs one queue for operators: its counts, its
// tasks' records, its dead-letter set. It needs no params or result types,
// so tools (the redisalloc CLI, dashboards) use it on any queue. Reads are
// read-only scripts; only Requeue writes. An Inspector is safe for
// concurrent use and holds no connection of its own.
type Inspector struct {
	c *core
}

// NewInspector returns an inspector of the queue name under prefix on
// client. It writes nothing to Redis; the caller keeps ownership of client.
// Errors match [ErrInvalid]: a nil client, a bad prefix or name.
func NewInspector(client rueidis.Client, prefix, name string) (*Inspector, error) {
	cfg, err := newConfig(nil)
	if err != nil {
		return nil, err
	}
	c, err := newCore(client, prefix, name, cfg)
	if err != nil {
		return nil, err
	}
	return &Inspector{c: c}, nil
}

// Stats counts the tasks of one queue.
type Stats struct {
	// Ready tasks wait for a worker; Delayed ones for their time or their
	// next attempt; Running ones are held by workers; Dead ones failed for
	// good (the dead-letter set).
	Ready, Delayed, Running, Dead int
	// Workers counts live workers (fresh heartbeat) of the queue.
	Workers int
	// Records counts every stored record, finished ones included.
	Records int
	// Corrupt describes hostile state: keys of the queue that hold
	// another type than the queue's scripts write ("; "-separated; the
	// counts read from them are 0), empty when none. Stats checks every
	// key's type and nothing else: a record that does not parse shows in
	// Info, DeadLetters and the queue's own calls, as an error matching
	// redisallocator.ErrCorrupt. A string, so that Stats stays comparable.
	Corrupt string
	// Counters since the queue's first finished task, kept by the workers
	// as they record outcomes (admin calls such as Delete and Requeue keep
	// them), so that rates and mean run time come from the differences of
	// two reads: Succeeded tasks, tasks Failed for good (a deadline passed
	// included), attempts that failed and were Retried, and the RunTime of
	// all those attempts, claim to finish (RunTime / (Succeeded + Failed +
	// Retried) is the mean). Canceled tasks, attempts released at shutdown
	// and attempts whose lease lapsed (their worker lost) are not counted.
	Succeeded, Failed, Retried int64
	RunTime                    time.Duration
}

// Stats reads the queue's counts in one atomic step. A key of the wrong
// type does not fail it: it is counted 0 and named in Stats.Corrupt.
// Redis failures match [ErrQueue].
func (i *Inspector) Stats(ctx context.Context) (Stats, error) { return i.c.stats(ctx) }

// countFields are the fields of the counters hash, in Stats' order.
var countFields = [...]string{"s", "f", "r", "ms"}

func (c *core) stats(ctx context.Context) (Stats, error) {
	msg, err := c.runScript(ctx, script.TaskInspect, c.keys.inspectKeys(), []string{"stats", "0", "1"})
	if err != nil {
		return Stats{}, fmt.Errorf("task %s: stats: %w", c.name, err)
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 8 {
		return Stats{}, badReply("task "+c.name+": stats", err)
	}
	var n [6]int64
	for i := range n {
		if n[i], err = arr[i].AsInt64(); err != nil {
			return Stats{}, badReply("task "+c.name+": stats", err)
		}
	}
	wrong, err := arr[6].AsStrSlice()
	if err != nil || len(wrong)%2 != 0 {
		return Stats{}, badReply("task "+c.name+": stats", err)
	}
	var corrupt []string
	for j := 0; j < len(wrong); j += 2 {
		corrupt = append(corrupt, fmt.Sprintf("%s is a %s, not a key of the queue", wrong[j], wrong[j+1]))
	}
	// The counters: absent ones are 0; garbage is 0 and reported.
	var cnt [4]int64
	if vals, err := arr[7].ToArray(); err == nil && len(vals) == len(cnt) {
		for j, v := range vals {
			if v.IsNil() {
				continue
			}
			str, _ := v.ToString()
			if cnt[j], err = strconv.ParseInt(str, 10, 64); err != nil || cnt[j] < 0 {
				cnt[j] = 0
				corrupt = append(corrupt, fmt.Sprintf("%s field %s holds no counter", c.keys.counts(), countFields[j]))
			}
		}
	}
	return Stats{
		Ready: int(n[0]), Delayed: int(n[1]), Running: int(n[2]), Dead: int(n[3]), Workers: int(n[4]), Records: int(n[5]),
		Corrupt:   strings.Join(corrupt, "; "),
		Succeeded: cnt[0], Failed: cnt[1], Retried: cnt[2], RunTime: time.Duration(cnt[3]) * time.Millisecond,
	}, nil
}

// Info reads the record of task id, its encoded params included;
// [ErrNotFound] when there is none. A record whose retention ended is
// deleted then, as a wait for it would (its only write). A record that does not parse, or a queue key of the wrong type it
// reads, gives an error matching redisallocator.ErrCorrupt that names the
// key and the field.
func (i *Inspector) Info(ctx context.Context, id string) (Info, error) {
	if err := checkID(id); err != nil {
		return Info{}, err
	}
	c := i.c
	msg, err := c.runScript(ctx, script.TaskShow, c.keys.keys, []string{id})
	if err != nil {
		return Info{}, fmt.Errorf("task %s/%s: info: %w", c.name, id, err)
	}
	if msg.IsNil() {
		return Info{}, fmt.Errorf("task %s/%s: %w", c.name, id, ErrNotFound)
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 6 {
		return Info{}, badReply("task "+c.name+"/"+id+": info", err)
	}
	var f [5]string
	for j := range f {
		if f[j], err = arr[j].ToString(); err != nil {
			return Info{}, badReply("task "+c.name+"/"+id+": info", err)
		}
	}
	m, err := parseMeta(f[0])
	if err != nil {
		return Info{}, fmt.Errorf("%w: task %s/%s: %w", ErrQueue, c.name, id, err)
	}
	in := m.info(id, c.name, f[1], f[2])
	in.Params = []byte(f[3])
	if f[4] != "" {
		in.Due = scoreTime(f[4])
	}
	return in, nil
}

// DeadLetters lists up to count tasks of the dead-letter set (failed for
// good), oldest failure first, from offset; count is 1 to 1000 (else an
// [ErrInvalid] error). A record in the page that does not parse (or a key
// of the wrong type) gives an error matching redisallocator.ErrCorrupt
// that names the key and the field.
func (i *Inspector) DeadLetters(ctx context.Context, offset, count int) ([]Info, error) {
	c := i.c
	if offset < 0 || count < 1 || count > 1000 {
		return nil, fmt.Errorf("%w: dead letters offset %d count %d (want offset >= 0, count 1 to 1000)", ErrInvalid, offset, count)
	}
	msg, err := c.runScript(ctx, script.TaskInspect, c.keys.inspectKeys(), []string{"dead", strconv.Itoa(offset), strconv.Itoa(count)})
	if err != nil {
		return nil, fmt.Errorf("task %s: dead letters: %w", c.name, err)
	}
	arr, err := msg.AsStrSlice()
	if err != nil || len(arr)%4 != 0 {
		return nil, badReply("task "+c.name+": dead letters", err)
	}
	out := make([]Info, 0, len(arr)/4)
	for j := 0; j < len(arr); j += 4 {
		if arr[j+2] == "" {
			continue // no record: a stale entry
		}
		m, err := parseMeta(arr[j+2])
		if err != nil {
			return nil, fmt.Errorf("task %s: dead letters: %w: %s field m:%s: %w", c.name, redisx.ErrCorrupt, c.keys.keys[idxData], arr[j], err)
		}
		out = append(out, m.info(arr[j], c.name, "", arr[j+3]))
	}
	return out, nil
}

// Requeue moves failed tasks from the dead-letter set back to the queue
// with fresh attempts and a fresh deadline (their original timeout from
// now), and returns how many it moved; ids not in the set are skipped. At
// most 10000 ids per call; a bad id returns an [ErrInvalid] error and
// moves none.
func (i *Inspector) Requeue(ctx context.Context, ids ...string) (int, error) {
	c := i.c
	if len(ids) == 0 {
		return 0, nil
	}
	if len(ids) > 10000 {
		return 0, fmt.Errorf("%w: %d ids in one call, at most 10000", ErrInvalid, len(ids))
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return 0, err
		}
	}
	msg, err := c.runScript(ctx, script.TaskRequeue, c.keys.keys, ids)
	if err != nil {
		return 0, fmt.Errorf("task %s: requeue: %w", c.name, err)
	}
	n, err := msg.AsInt64()
	if err != nil {
		return 0, fmt.Errorf("%w: task %s: requeue: unexpected reply: %w", ErrQueue, c.name, err)
	}
	return int(n), nil
}
