package task_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// corruptFixture is a queue with something in every structure: ready
// tasks (one of them with two waiters), a delayed one, a running one with
// progress under worker w1, a succeeded one whose outcome two callers wait
// for, a dead one, idle fetchers, wake-up tokens and notify lists. With
// due, housekeeping has work: an expired record, a lapsed lease, a dead
// worker's task and a delayed task that is due.
type corruptFixture struct {
	q    *task.Queue[job, *res]
	run1 task.Claim // run1, claimed by w1
	keys map[string]string
}

// corruptIDs are the tasks whose notify lists the fixture keeps.
var corruptIDs = []string{"run1", "ok1"}

func newCorruptFixture(t *testing.T, ctx context.Context, b *redisxtest.Backend, name string, due bool) *corruptFixture {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fixture %s: %v", name, err)
		}
	}
	q, err := task.New[job, *res](b.Client, b.Prefix, name)
	must(err)
	f := &corruptFixture{q: q, keys: task.KeyNamesForTest(q, corruptIDs...)}
	_, err = q.BeatOpForTest(ctx, "w1", "join", time.Hour, time.Hour, nil)
	must(err)
	submit := func(id string, opts ...task.QueryOption) {
		t.Helper()
		_, err := q.Submit(ctx, id, job{N: 1}, opts...)
		must(err)
	}
	submit("ok1")
	submit("ok1") // joined: two waiters
	submit("dead1", task.MaxAttempts(1))
	submit("run1")
	got, err := q.ClaimForTest(ctx, "w1", 3, time.Hour)
	must(err)
	if len(got) != 3 {
		t.Fatalf("fixture %s: claimed %d tasks, want 3", name, len(got))
	}
	for _, c := range got {
		switch c.ID {
		case "ok1":
			must(q.FinishForTest(ctx, "w1", c, "ok", "\xa0", 0)) // CBOR for an empty map
		case "dead1":
			must(q.FinishForTest(ctx, "w1", c, "fatal", "boom\nfailed", 0))
		case "run1":
			f.run1 = c
		}
	}
	must(q.ProgressForTest(ctx, "w1", f.run1, 1, 3))
	submit("run1") // joined: a waiter the next write to run1 wakes
	// Idle fetchers, each woken by one of the three submissions below
	// but the last.
	for i := range 4 {
		_, err := q.ClaimIdleForTest(ctx, "w2", 1, time.Hour, fmt.Sprintf("tok%d", i))
		must(err)
	}
	submit("p1")
	submit("p1") // joined: two waiters
	submit("p2", task.Priority(2))
	submit("d1", task.Delay(time.Hour))
	must(q.Schedule(ctx, "s1", "@every 1h", job{N: 1}))
	if due {
		short, err := task.New[job, *res](b.Client, b.Prefix, name, task.WithRetention(time.Millisecond, time.Millisecond))
		must(err)
		_, err = short.Submit(ctx, "x1", job{N: 1}, task.Timeout(20*time.Millisecond))
		must(err)
		submit("dd1", task.Delay(20*time.Millisecond))
		submit("l1", task.Priority(10))
		submit("g1", task.Priority(9))
		_, err = q.ClaimForTest(ctx, "w3", 1, 20*time.Millisecond) // l1: its lease lapses
		must(err)
		_, err = q.BeatOpForTest(ctx, "w4", "join", 5*time.Millisecond, time.Hour, nil)
		must(err)
		_, err = q.ClaimForTest(ctx, "w4", 1, time.Hour)
		must(err)
	}
	// Notify lists expire after 10 s; the test may take longer.
	for _, id := range corruptIDs {
		k := f.keys["n:"+id]
		must(b.Client.Do(ctx, b.Client.B().Persist().Key(k).Build()).Error())
	}
	return f
}

// taskCorruption is one piece of hostile state put into one key.
type taskCorruption struct {
	name  string
	key   string // role: ready, data, n:run1, ...
	field string // the hash field the error must name, if any
	due   bool   // only with the due fixture
	apply func(ctx context.Context, c rueidis.Client, key string) error
}

func taskCorruptions(keys map[string]string) []taskCorruption {
	var out []taskCorruption
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		out = append(out, taskCorruption{name: "WrongType/" + k, key: k, apply: func(ctx context.Context, c rueidis.Client, key string) error {
			if err := c.Do(ctx, c.B().Del().Key(key).Build()).Error(); err != nil {
				return err
			}
			return c.Do(ctx, c.B().Set().Key(key).Value("x").Build()).Error()
		}})
	}
	hset := func(name, field, value string, due bool) taskCorruption {
		return taskCorruption{name: "Garbage/" + name, key: "data", field: field, due: due, apply: func(ctx context.Context, c rueidis.Client, key string) error {
			return c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue(field, value).Build()).Error()
		}}
	}
	return append(out,
		hset("ready", "m:p1", "garbage", false),
		hset("readyFields", "m:p2", "p 0 3 x 1 1 1 1 - 0 1 0 0", false),
		hset("delayed", "m:d1", "p 0 3 0 soon 1 1 1 - 0 1 0 0", false),
		hset("running", "m:run1", "r x y z", false),
		hset("claim", "m:run1", "r 1 3 0 99999999999999 1 1 1 w1 0 1 later 0", false),
		hset("succeeded", "m:ok1", "s 1 3 0 1 1 1 1 - 0 1 1 never", false),
		hset("dead", "m:dead1", "garbage", false),
		hset("progress", "g:run1", "lots", false),
		hset("readers", "o:ok1", "many", false),
		hset("seq", "#seq", "next", false),
		hset("expired", "m:x1", "garbage", true),
		hset("promoted", "m:dd1", "garbage", true),
		hset("lapsed", "m:l1", "garbage", true),
		hset("orphaned", "m:g1", "garbage", true),
		hset("paused", "#paused", "yes", false),
		taskCorruption{name: "Garbage/counts", key: "counts", field: "ms", apply: func(ctx context.Context, c rueidis.Client, key string) error {
			return c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue("ms", "lots").Build()).Error()
		}},
		taskCorruption{name: "Garbage/schedule", key: "schedules", field: "s1", apply: func(ctx context.Context, c rueidis.Client, key string) error {
			return c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue("s1", "garbage").Build()).Error()
		}},
	)
}

// taskCorruptOps are the queue's operations, each run once on a fixture.
var taskCorruptOps = map[string]func(ctx context.Context, f *corruptFixture) error{
	"Submit": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.Submit(ctx, "n1", job{N: 1})
		return err
	},
	"SubmitDelayed": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.Submit(ctx, "n1", job{N: 1}, task.Delay(time.Hour), task.NoWait())
		return err
	},
	"SubmitJoin": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.Submit(ctx, "p1", job{N: 1})
		return err
	},
	"SubmitReplace": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.Submit(ctx, "ok1", job{N: 1})
		return err
	},
	"QueryRemote": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.Query(ctx, "n2", job{N: 1}, task.Remote(), task.Timeout(30*time.Millisecond))
		if errors.Is(err, task.ErrTimeout) {
			return nil // queued; no worker ran it
		}
		return err
	},
	"Claim": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.ClaimForTest(ctx, "w9", 2, time.Hour)
		return err
	},
	"ClaimIdle": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.ClaimIdleForTest(ctx, "w9", 20, time.Hour, "tok9")
		return err
	},
	"Beat": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.BeatOpForTest(ctx, "w1", "beat", time.Hour, time.Hour, []task.Claim{f.run1})
		return err
	},
	"Join": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.BeatOpForTest(ctx, "w5", "join", time.Hour, time.Hour, nil)
		return err
	},
	"Leave": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.BeatOpForTest(ctx, "w1", "stop", time.Hour, time.Hour, nil)
		return err
	},
	"Progress": func(ctx context.Context, f *corruptFixture) error {
		return f.q.ProgressForTest(ctx, "w1", f.run1, 2, 3)
	},
	"FinishOK": func(ctx context.Context, f *corruptFixture) error {
		return f.q.FinishForTest(ctx, "w1", f.run1, "ok", "\xa0", 0)
	},
	"FinishRetry": func(ctx context.Context, f *corruptFixture) error {
		return f.q.FinishForTest(ctx, "w1", f.run1, "err", "boom\nagain", time.Hour)
	},
	"FinishRetryNow": func(ctx context.Context, f *corruptFixture) error {
		return f.q.FinishForTest(ctx, "w1", f.run1, "err", "boom\nagain", 0)
	},
	"FinishFatal": func(ctx context.Context, f *corruptFixture) error {
		return f.q.FinishForTest(ctx, "w1", f.run1, "fatal", "boom\nhopeless", 0)
	},
	"FinishRelease": func(ctx context.Context, f *corruptFixture) error {
		return f.q.FinishForTest(ctx, "w1", f.run1, "release", "lost\nshutdown", 0)
	},
	"CancelPending": func(ctx context.Context, f *corruptFixture) error {
		h, err := f.q.Handle("p1")
		if err != nil {
			return err
		}
		return h.Cancel(ctx)
	},
	"CancelRunning": func(ctx context.Context, f *corruptFixture) error {
		h, err := f.q.Handle("run1")
		if err != nil {
			return err
		}
		return h.Cancel(ctx)
	},
	"Wait": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.OnceHandle("ok1").Wait(ctx)
		return err
	},
	"Progress/Read": func(ctx context.Context, f *corruptFixture) error {
		h, err := f.q.Handle("run1")
		if err != nil {
			return err
		}
		_, err = h.Progress(ctx, -1)
		return err
	},
	"Progress/Wait": func(ctx context.Context, f *corruptFixture) error {
		h, err := f.q.Handle("run1")
		if err != nil {
			return err
		}
		_, err = h.Progress(ctx, 0)
		return err
	},
	"Stats": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		st, err := in.Stats(ctx)
		if err == nil && st.Corrupt != "" {
			return fmt.Errorf("%w: %s", errReported, st.Corrupt)
		}
		return err
	},
	"Info": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		for _, id := range []string{"run1", "ok1", "p1", "p2", "d1", "dead1"} {
			if _, err := in.Info(ctx, id); err != nil {
				return err
			}
		}
		return nil
	},
	"DeadLetters": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.DeadLetters(ctx, 0, 100)
		return err
	},
	"List": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		for _, st := range task.States() {
			if _, _, err := in.List(ctx, st, "", 100); err != nil {
				return err
			}
		}
		return nil
	},
	"InspectCancel": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		return in.Cancel(ctx, "p2")
	},
	"Delete": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		return in.Delete(ctx, "dead1")
	},
	"DeleteRunning": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		if err := in.Delete(ctx, "run1"); !errors.Is(err, task.ErrInvalid) {
			return err
		}
		return nil
	},
	"DeletePending": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		return in.Delete(ctx, "p1")
	},
	"CancelRunningInspect": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		return in.Cancel(ctx, "run1")
	},
	"RunNow": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.RunNow(ctx, "d1", "p1")
		return err
	},
	"Pause": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.Pause(ctx)
		return err
	},
	"Paused": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.Paused(ctx)
		return err
	},
	"Resume": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.Resume(ctx)
		return err
	},
	"Schedule": func(ctx context.Context, f *corruptFixture) error {
		return f.q.Schedule(ctx, "s1", "@every 2h", job{N: 2})
	},
	"Schedules": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.Schedules(ctx)
		return err
	},
	"Unschedule": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.Unschedule(ctx, "s1")
		return err
	},
	"Tick": func(ctx context.Context, f *corruptFixture) error {
		_, err := f.q.TickForTest(ctx, "s1", -1)
		return err
	},
	"Requeue": func(ctx context.Context, f *corruptFixture) error {
		in, err := task.InspectorOf(f.q)
		if err != nil {
			return err
		}
		_, err = in.Requeue(ctx, "dead1", "ok1")
		return err
	},
}

// dueOps run housekeeping: with the due fixture, they run only these.
var dueOps = []string{"Claim", "ClaimIdle", "Submit"}

// statsKeys are the keys Stats counts.
var statsKeys = []string{"ready", "delayed", "running", "dead", "expiry", "data", "waiters", "owned", "workers", "idle", "wake", "counts"}

// errReported marks reads that report hostile state rather than failing.
var errReported = errors.New("reported")

func hgetField(t *testing.T, ctx context.Context, c rueidis.Client, key, field string) string {
	t.Helper()
	if field == "" {
		return ""
	}
	v, err := c.Do(ctx, c.B().Hget().Key(key).Field(field).Build()).ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	return v
}

// TestCorruptStateWritesNothing (issue 13, point 5): with one queue key of
// the wrong type, or garbage where a record, counter or claim belongs,
// every operation either answers an error matching ErrCorrupt that names
// the key (and the field) and writes nothing, or does not read that state
// and leaves it as it was; Stats reports wrong-typed keys.
func TestCorruptStateWritesNothing(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		probe := newCorruptFixture(t, ctx, b, "probe", false)
		type pair struct {
			cr  taskCorruption
			op  string
			due bool
			f   *corruptFixture
		}
		var all []pair
		for _, due := range []bool{false, true} {
			for _, cr := range taskCorruptions(probe.keys) {
				if cr.due && !due {
					continue
				}
				for _, op := range slices.Sorted(maps.Keys(taskCorruptOps)) {
					if !due || slices.Contains(dueOps, op) {
						all = append(all, pair{cr: cr, op: op, due: due})
					}
				}
			}
		}
		// The fixtures first, so that one wait makes every due thing due.
		for i := range all {
			all[i].f = newCorruptFixture(t, ctx, b, fmt.Sprintf("c%d", i), all[i].due)
		}
		time.Sleep(60 * time.Millisecond)
		cases, wroteThenFailed, failedOther := 0, 0, 0
		for _, pc := range all {
			cr, op, f := pc.cr, pc.op, pc.f
			name := fmt.Sprintf("%s/%s/due=%v", cr.name, op, pc.due)
			key := f.keys[cr.key]
			if err := cr.apply(ctx, b.Client, key); err != nil {
				t.Fatal(err)
			}
			before := redisxtest.ReadKeys(t, ctx, b.Client, f.keys)
			fieldBefore := hgetField(t, ctx, b.Client, key, cr.field)
			err := taskCorruptOps[op](ctx, f)
			after := redisxtest.ReadKeys(t, ctx, b.Client, f.keys)
			fieldAfter := hgetField(t, ctx, b.Client, key, cr.field)
			cases++
			wrote := !maps.Equal(before, after)
			switch {
			case errors.Is(err, errReported):
				if !strings.Contains(err.Error(), key) {
					t.Errorf("%s: the report does not name %s: %v", name, key, err)
				}
			case err == nil:
				// Success means the operation did not read the hostile
				// state: it is left as it was, or deleted (a record
				// replaced or consumed), never rewritten.
				switch {
				case cr.field == "" && before[cr.key] != after[cr.key] && !strings.HasPrefix(after[cr.key], "none "):
					t.Errorf("%s: succeeded and rewrote the corrupt key %s:\nbefore %s\nafter  %s", name, key, before[cr.key], after[cr.key])
				case cr.field != "" && fieldAfter != fieldBefore && fieldAfter != "":
					t.Errorf("%s: succeeded and rewrote the corrupt field %s %s: %q -> %q", name, key, cr.field, fieldBefore, fieldAfter)
				}
				if op == "Stats" && cr.field == "" && slices.Contains(statsKeys, cr.key) {
					t.Errorf("%s: Stats reports nothing", name)
				}
			case wrote:
				wroteThenFailed++
				t.Errorf("%s: wrote, then failed: %v\nbefore %v\nafter  %v", name, err, diffKeys(before, after), diffKeys(after, before))
			case !errors.Is(err, redisallocator.ErrCorrupt):
				failedOther++
				t.Errorf("%s: error does not match ErrCorrupt: %v", name, err)
			case !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), cr.field):
				t.Errorf("%s: error does not name %s %s: %v", name, key, cr.field, err)
			}
		}
		t.Logf("%d cases: %d wrote then failed, %d failed without ErrCorrupt", cases, wroteThenFailed, failedOther)
	})
}

// diffKeys returns the entries of a that differ in b.
func diffKeys(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if b[k] != v {
			out[k] = v
		}
	}
	return out
}
