package task_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// listAll pages through state with page size limit and returns the ids in
// order.
func listAll(t *testing.T, ctx context.Context, in *task.Inspector, state task.State, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 10000 {
		page, next, err := in.List(ctx, state, cursor, limit)
		if err != nil {
			t.Fatalf("List %s: %v", state, err)
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		if next == "" {
			return ids
		}
		cursor = next
	}
	t.Fatalf("List %s: no end after 10000 pages", state)
	return nil
}

// stateFixture puts tasks of queue name in every state: r1 r2 ready (r2
// first: higher priority), d1 delayed (an hour), y1 retrying (a minute), w1 running under worker
// "wk", x1 dead, s1 succeeded, c1 canceled.
func stateFixture(t *testing.T, ctx context.Context, tb *bundle, name string) *task.Queue[job, *res] {
	t.Helper()
	q := tb.on(name)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	submit := func(id string, opts ...task.QueryOption) {
		t.Helper()
		_, err := q.Submit(ctx, id, job{N: 7}, append(opts, task.NoWait())...)
		must(err)
	}
	claim := func(want string) task.Claim {
		t.Helper()
		got, err := q.ClaimForTest(ctx, "wk", 1, time.Hour)
		must(err)
		if len(got) != 1 || got[0].ID != want {
			t.Fatalf("claimed %v, want %s", got, want)
		}
		return got[0]
	}
	submit("y1", task.Priority(5))
	must(q.FinishForTest(ctx, "wk", claim("y1"), "err", "boom\nonce", time.Minute))
	submit("x1", task.Priority(5), task.MaxAttempts(1))
	must(q.FinishForTest(ctx, "wk", claim("x1"), "fatal", "boom\nfor good", 0))
	submit("s1", task.Priority(5))
	must(q.FinishForTest(ctx, "wk", claim("s1"), "ok", "\xa0", 0))
	submit("w1", task.Priority(5))
	claim("w1")
	submit("c1")
	h, err := q.Handle("c1")
	must(err)
	must(h.Cancel(ctx))
	submit("r1")
	submit("r2", task.Priority(1))
	submit("d1", task.Delay(time.Hour))
	return q
}

func TestListStates(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		stateFixture(t, ctx, tb, "states")
		in := tb.insp("states")
		want := map[task.State][]string{
			task.StatePending: {"r2", "r1"}, task.StateDelayed: {"d1"}, task.StateRetrying: {"y1"},
			task.StateRunning: {"w1"}, task.StateDead: {"x1"}, task.StateSucceeded: {"s1"}, task.StateCanceled: {"c1"},
		}
		for _, st := range task.States() {
			for _, limit := range []int{1, 2, 1000} {
				if diff := cmp.Diff(want[st], listAll(t, ctx, in, st, limit)); diff != "" {
					t.Errorf("List %s limit %d (-want +got):\n%s", st, limit, diff)
				}
			}
		}
		page, _, err := in.List(ctx, task.StateRunning, "", 10)
		if err != nil || len(page) != 1 || page[0].Worker != "wk" || page[0].Status != task.StatusRunning || page[0].Attempt != 1 {
			t.Errorf("running page %+v, %v: want w1 on worker wk, attempt 1", page, err)
		}
		page, _, err = in.List(ctx, task.StateRetrying, "", 10)
		if err != nil || len(page) != 1 || page[0].Due.Before(time.Now().Add(50*time.Second)) || page[0].ErrorMessage != "once" {
			t.Errorf("retrying page %+v, %v: want y1 due in a minute, last error once", page, err)
		}
		page, _, err = in.List(ctx, task.StatePending, "", 10)
		if err != nil || len(page) != 2 || page[0].Params != nil || page[0].Worker != "" || !page[0].Due.IsZero() {
			t.Errorf("ready page %+v, %v: want no params, worker or due time", page, err)
		}
		for _, bad := range []struct {
			state  task.State
			cursor string
			limit  int
		}{{"nope", "", 1}, {task.StatePending, "", 0}, {task.StatePending, "", 1001}, {task.StatePending, "zz", 1}, {task.StateDead, "6162", 1}} {
			if _, _, err := in.List(ctx, bad.state, bad.cursor, bad.limit); !errors.Is(err, task.ErrInvalid) {
				t.Errorf("List(%q, %q, %d) = %v, want ErrInvalid", bad.state, bad.cursor, bad.limit, err)
			}
		}
	})
}

func TestInfoShowsParamsWorkerDue(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		stateFixture(t, ctx, tb, "info")
		in := tb.insp("info")
		w, err := in.Info(ctx, "w1")
		if err != nil {
			t.Fatal(err)
		}
		var p job
		if err := codec.CBOR.Unmarshal(w.Params, &p); err != nil || p.N != 7 {
			t.Errorf("params %x decode to %+v, %v: want N 7", w.Params, p, err)
		}
		if w.Worker != "wk" || w.Started.IsZero() || w.Created.IsZero() || !w.Due.IsZero() {
			t.Errorf("running info %+v: want worker wk, started and created set, no due time", w)
		}
		d, err := in.Info(ctx, "d1")
		if err != nil || d.Due.Before(time.Now().Add(50*time.Minute)) || d.Worker != "" {
			t.Errorf("delayed info %+v, %v: want due in an hour", d, err)
		}
		x, err := in.Info(ctx, "x1")
		if err != nil || x.Status != task.StatusFailed || x.ErrorKind != "boom" || x.ErrorMessage != "for good" || x.Finished.IsZero() {
			t.Errorf("dead info %+v, %v", x, err)
		}
		if _, err := in.Info(ctx, "none"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Info(none) = %v, want ErrNotFound", err)
		}
	})
}

func TestInspectorRepairs(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		q := stateFixture(t, ctx, tb, "repairs")
		in := tb.insp("repairs")

		// RunNow: delayed and retrying tasks become ready; others are skipped,
		// and an id given twice moves (and counts) once.
		n, err := in.RunNow(ctx, "d1", "y1", "r1", "w1", "none", "d1")
		if err != nil || n != 2 {
			t.Fatalf("RunNow = %d, %v, want 2", n, err)
		}
		if diff := cmp.Diff([]string{"y1", "r2", "r1", "d1"}, listAll(t, ctx, in, task.StatePending, 10)); diff != "" {
			t.Errorf("ready after RunNow (-want +got):\n%s", diff)
		}
		if _, err := in.RunNow(ctx, ""); !errors.Is(err, task.ErrInvalid) {
			t.Errorf("RunNow(\"\") = %v, want ErrInvalid", err)
		}

		// Delete: a waiter of the deleted task learns it is gone.
		h, err := q.Submit(ctx, "r1", job{N: 1}) // joins r1
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := h.Wait(ctx); done <- err }()
		if err := in.Delete(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, task.ErrNotFound) {
				t.Errorf("waiter of a deleted task got %v, want ErrNotFound", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("waiter of a deleted task not woken")
		}
		for _, id := range []string{"x1", "s1", "c1", "d1"} {
			if err := in.Delete(ctx, id); err != nil {
				t.Errorf("Delete(%s) = %v", id, err)
			}
		}
		if err := in.Delete(ctx, "w1"); !errors.Is(err, task.ErrInvalid) {
			t.Errorf("Delete(running) = %v, want ErrInvalid", err)
		}
		if err := in.Delete(ctx, "x1"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Delete(deleted) = %v, want ErrNotFound", err)
		}
		st, err := in.Stats(ctx)
		if err != nil || st.Ready != 2 || st.Dead != 0 || st.Delayed != 0 || st.Running != 1 || st.Records != 3 {
			t.Errorf("stats after deletes %+v, %v: want 2 ready (y1, r2), 1 running, 3 records", st, err)
		}

		// Cancel: pending at once, running by request, finished refused.
		if err := in.Cancel(ctx, "r2"); err != nil {
			t.Errorf("Cancel(pending) = %v", err)
		}
		if err := in.Cancel(ctx, "w1"); err != nil {
			t.Errorf("Cancel(running) = %v", err)
		}
		if w, err := in.Info(ctx, "w1"); err != nil || !w.CancelRequested {
			t.Errorf("running task after Cancel: %+v, %v: want cancel requested", w, err)
		}
		if err := in.Cancel(ctx, "r2"); err != nil && !errors.Is(err, task.ErrFinished) {
			t.Errorf("Cancel(canceled) = %v", err)
		}
		if err := in.Cancel(ctx, "none"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Cancel(none) = %v, want ErrNotFound", err)
		}
	})
}

// TestPauseResume: a paused queue's workers claim nothing while submitters
// still queue; Resume wakes them.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		in := tb.insp("paused")
		if ok, err := in.Pause(ctx); !ok || err != nil {
			t.Fatalf("Pause = %v, %v, want true", ok, err)
		}
		if ok, err := in.Pause(ctx); ok || err != nil {
			t.Fatalf("second Pause = %v, %v, want false", ok, err)
		}
		wh, _ := tb.worker(t, "worker", "paused")
		h, err := tb.on("paused").Submit(ctx, "p1", job{N: 2})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // a negative: nothing may run meanwhile
		st, err := in.Stats(ctx)
		paused, perr := in.Paused(ctx)
		if err != nil || perr != nil || !paused || st.Ready != 1 || wh.count("p1") != 0 {
			t.Fatalf("paused queue: stats %+v, %v, paused %v, %v, runs %d: want paused, 1 ready, no run", st, err, paused, perr, wh.count("p1"))
		}
		if ok, err := in.Resume(ctx); !ok || err != nil {
			t.Fatalf("Resume = %v, %v, want true", ok, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := h.Wait(wctx)
		if err != nil || r.N != 4 {
			t.Fatalf("after Resume: %v, %v", r, err)
		}
		if paused, err := in.Paused(ctx); err != nil || paused {
			t.Errorf("Paused after Resume = %v, %v, want false", paused, err)
		}
	})
}

// TestListPagingProperty: paging through a state while other tasks move
// (submitted, claimed, finished, made due) lists every task that stays in
// the state exactly once, in the state's order, and no task twice.
func TestListPagingProperty(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		n := 0
		rapid.Check(t, func(rt *rapid.T) {
			n++
			name := fmt.Sprintf("prop%d", n)
			q, err := task.New[job, *res](b.Client, b.Prefix, name)
			if err != nil {
				rt.Fatal(err)
			}
			in, _ := task.InspectorOf(q)
			state := rapid.SampledFrom([]task.State{task.StatePending, task.StateDelayed, task.StateRunning, task.StateDead}).Draw(rt, "state")
			stay := rapid.IntRange(0, 25).Draw(rt, "stay")
			seq := 0
			// put puts a new task into state and returns its id.
			put := func(st task.State, prefix string) string {
				seq++
				id := fmt.Sprintf("%s%03d", prefix, seq)
				var opts []task.QueryOption
				if st == task.StateDelayed {
					// Few due times: ties in score, ordered by id.
					opts = append(opts, task.Delay(time.Duration(rapid.IntRange(1, 3).Draw(rt, "delay"))*time.Hour))
				} else {
					opts = append(opts, task.Priority(rapid.IntRange(-1, 1).Draw(rt, "prio")))
				}
				if st == task.StateDead {
					opts = append(opts, task.MaxAttempts(1))
				}
				opts = append(opts, task.NoWait())
				if _, err := q.Submit(ctx, id, job{}, opts...); err != nil {
					rt.Fatal(err)
				}
				return id
			}
			// Tasks that must stay put in their state go first, then are
			// moved there by claims of their own worker.
			var stayIDs []string
			for range stay {
				stayIDs = append(stayIDs, put(state, "s"))
			}
			if state == task.StateRunning || state == task.StateDead {
				got, err := q.ClaimForTest(ctx, "stay", max(stay, 1), time.Hour)
				if err != nil || len(got) != stay {
					rt.Fatalf("claimed %d, %v, want %d", len(got), err, stay)
				}
				if state == task.StateDead {
					for _, c := range got {
						if err := q.FinishForTest(ctx, "stay", c, "fatal", "boom\nx", 0); err != nil {
							rt.Fatal(err)
						}
					}
				}
			}
			limit := rapid.IntRange(1, 7).Draw(rt, "limit")
			seen := map[string]int{}
			cursor := ""
			var mover []task.Claim
			for pages := 0; ; pages++ {
				if pages > 1000 {
					rt.Fatal("no end")
				}
				page, next, err := in.List(ctx, state, cursor, limit)
				if err != nil {
					rt.Fatal(err)
				}
				if len(page) > limit {
					rt.Fatalf("page of %d, limit %d", len(page), limit)
				}
				for _, p := range page {
					seen[p.ID]++
				}
				if next == "" {
					break
				}
				cursor = next
				// Other tasks move meanwhile: new ones in the state, and
				// (for ready) some of them claimed by another worker.
				switch rapid.IntRange(0, 2).Draw(rt, "move") {
				case 1:
					put(state, "m")
				case 2:
					if state == task.StatePending || state == task.StateRunning {
						got, err := q.ClaimForTest(ctx, "mover", 1, time.Hour)
						if err != nil {
							rt.Fatal(err)
						}
						mover = append(mover, got...)
					}
				}
			}
			for id, c := range seen {
				if c > 1 {
					rt.Errorf("%s listed %d times", id, c)
				}
			}
			for _, id := range stayIDs {
				if state == task.StatePending && slices.ContainsFunc(mover, func(c task.Claim) bool { return c.ID == id }) {
					continue // moved out of the state
				}
				if seen[id] != 1 {
					rt.Errorf("%s stayed %s but was listed %d times", id, state, seen[id])
				}
			}
		})
	})
}

// TestScheduleTicksOnce: however many schedulers tick a run at once,
// exactly one takes it and queues it as "<name>@<planned ms>".
func TestScheduleTicksOnce(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx := tb.ctx
		q := tb.on("cron")
		if err := q.Schedule(ctx, "nightly", "0 3 * * *", job{N: 5}, task.Priority(3), task.MaxAttempts(2)); err != nil {
			t.Fatal(err)
		}
		in := tb.insp("cron")
		s, err := in.Schedules(ctx)
		if err != nil || len(s) != 1 {
			t.Fatalf("Schedules = %v, %v", s, err)
		}
		first := s[0]
		if first.Name != "nightly" || first.Spec != "0 3 * * *" || first.Priority != 3 || first.MaxAttempts != 2 ||
			!first.Last.IsZero() || first.Next.UTC().Hour() != 3 || first.Next.UTC().Minute() != 0 || !first.Next.After(time.Now()) {
			t.Errorf("schedule %+v", first)
		}
		for round := range 3 {
			cur, err := in.Schedules(ctx)
			if err != nil || len(cur) != 1 {
				t.Fatalf("Schedules = %v, %v", cur, err)
			}
			seen := cur[0].Next.UnixMilli()
			const schedulers = 6
			var wg sync.WaitGroup
			won := make(chan bool, schedulers)
			for range schedulers {
				wg.Go(func() {
					ok, err := q.TickForTest(ctx, "nightly", seen)
					if err != nil {
						t.Error(err)
					}
					won <- ok
				})
			}
			wg.Wait()
			close(won)
			n := 0
			for ok := range won {
				if ok {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("round %d: %d schedulers took the run, want 1", round, n)
			}
		}
		s, _ = in.Schedules(ctx)
		if len(s) != 1 || s[0].Last.IsZero() || !s[0].Next.After(s[0].Last) {
			t.Errorf("after ticks %+v: want last and next set", s)
		}
		ready := listAll(t, ctx, in, task.StatePending, 100)
		if len(ready) != 3 {
			t.Fatalf("queued runs %v, want 3", ready)
		}
		ti, err := in.Info(ctx, ready[0])
		if err != nil || ti.Priority != 3 || ti.MaxAttempts != 2 || ti.ID != fmt.Sprintf("nightly@%d", first.Next.UnixMilli()) {
			t.Errorf("first run %+v, %v: want nightly@%d with the schedule's options", ti, err, first.Next.UnixMilli())
		}
		// Same spec again keeps the plan; another spec plans anew.
		if err := q.Schedule(ctx, "nightly", "0 3 * * *", job{N: 6}); err != nil {
			t.Fatal(err)
		}
		if s2, _ := in.Schedules(ctx); !s2[0].Next.Equal(s[0].Next) || s2[0].Priority != 0 {
			t.Errorf("re-stored schedule %+v, want next %v kept, options replaced", s2[0], s[0].Next)
		}
		for _, bad := range []string{"", "* * *", "61 * * * *", "@every -1s", "0 3 * * *\n"} {
			if err := q.Schedule(ctx, "bad", bad, job{}); !errors.Is(err, task.ErrInvalid) {
				t.Errorf("Schedule(%q) = %v, want ErrInvalid", bad, err)
			}
		}
		if err := q.Schedule(ctx, "bad", "@hourly", job{}, task.Delay(time.Second)); !errors.Is(err, task.ErrInvalid) {
			t.Errorf("Schedule with Delay = %v, want ErrInvalid", err)
		}
		if n, err := in.Unschedule(ctx, "nightly", "other"); n != 1 || err != nil {
			t.Errorf("Unschedule = %d, %v, want 1", n, err)
		}
		if s, err := in.Schedules(ctx); len(s) != 0 || err != nil {
			t.Errorf("Schedules after Unschedule = %v, %v", s, err)
		}
	})
}

// TestRunSchedules: two schedulers running an "@every" schedule queue each
// run once, and the queue's worker runs them.
func TestRunSchedules(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, cancel := context.WithCancel(tb.ctx)
		defer cancel()
		q := tb.on("every")
		if err := q.Schedule(ctx, "tick", "@every 1s", job{N: 1}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if err := q.RunSchedules(ctx, func(err error) { t.Error(err) }); err != nil {
					t.Error(err)
				}
			})
		}
		defer wg.Wait()
		defer cancel()
		in := tb.insp("every")
		waitFor(t, "two runs queued", func() bool {
			st, err := in.Stats(ctx)
			return err == nil && st.Ready >= 2
		})
		ids := listAll(t, ctx, in, task.StatePending, 100)
		s, _ := in.Schedules(ctx)
		if len(s) != 1 || len(ids) < 2 || ids[len(ids)-1] != fmt.Sprintf("tick@%d", s[0].Last.UnixMilli()) {
			t.Errorf("runs %v, schedule %+v: want the last run queued as tick@<last>", ids, s)
		}
	})
}
