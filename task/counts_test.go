package task_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestStatsCounters (issue 16): the finish script counts outcomes and the
// run time of finished attempts; canceled and released attempts are not
// counted, and deleting a task keeps the counts.
func TestStatsCounters(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		q, err := task.New[job, *res](b.Client, b.Prefix, "counted")
		if err != nil {
			t.Fatal(err)
		}
		in, err := task.InspectorOf(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"ok", "retry", "fatal", "cancel", "release"} {
			if _, err := q.Submit(ctx, id, job{N: 1}, task.NoWait(), task.MaxAttempts(3)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := q.ClaimForTest(ctx, "w1", 5, time.Hour)
		if err != nil || len(got) != 5 {
			t.Fatalf("claimed %d, %v", len(got), err)
		}
		time.Sleep(30 * time.Millisecond) // every counted attempt runs at least this long
		h, err := q.Handle("cancel")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		outcome := map[string]string{"ok": "ok", "retry": "err", "fatal": "fatal", "cancel": "err", "release": "release"}
		for _, c := range got {
			if err := q.FinishForTest(ctx, "w1", c, outcome[c.ID], "boom\nx", 0); err != nil && c.ID != "ok" {
				t.Fatalf("finish %s: %v", c.ID, err)
			}
		}
		st, err := in.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Succeeded != 1 || st.Failed != 1 || st.Retried != 1 || st.RunTime < 90*time.Millisecond || st.RunTime > time.Minute || st.Corrupt != "" {
			t.Fatalf("stats %+v: want 1 succeeded, 1 failed, 1 retried, run time at least 3 x 30ms", st)
		}
		if err := in.Delete(ctx, "ok"); err != nil {
			t.Fatal(err)
		}
		after, err := in.Stats(ctx)
		if err != nil || after.Succeeded != 1 || after.RunTime != st.RunTime {
			t.Fatalf("stats after Delete %+v, %v: want the counters kept", after, err)
		}
	})
}
