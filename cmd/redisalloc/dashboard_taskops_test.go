package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestDashboardTaskActions runs the task actions (cancel, delete, run now,
// pause and resume) and the task list by state on every backend, on a
// queue without workers, so every task stays where the test puts it.
func TestDashboardTaskActions(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		q, err := task.New[string, string](b.Client, b.Prefix, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		for id, opts := range map[string][]task.QueryOption{
			"t-delayed": {task.Delay(time.Hour)},
			"t-pending": nil,
			"t-cancel":  nil,
		} {
			if _, err := q.Submit(ctx, id, "p-"+id, opts...); err != nil {
				t.Fatal(err)
			}
		}
		ins, err := task.NewInspector(b.Client, b.Prefix, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		var logBuf syncBuffer
		dt := startDashTest(t, dashboardConfig{
			interval: time.Hour, source: fakeSource(), allowActions: true,
			ops: &dashOps{client: b.Client, prefix: b.Prefix}, log: slog.New(slog.NewTextHandler(&logBuf, nil)),
		})
		res, body := dt.do(t, "GET", "/api/session", nil)
		var sess struct {
			CSRF   string   `json:"csrf"`
			States []string `json:"task_states"`
		}
		if err := json.Unmarshal([]byte(body), &sess); err != nil || res.StatusCode != 200 {
			t.Fatalf("session: %d %v %s", res.StatusCode, err, body)
		}
		for _, st := range []string{"pending", "delayed", "retrying", "running", "dead", "succeeded", "canceled"} {
			if !slices.Contains(sess.States, st) {
				t.Errorf("session states %q lack %q", sess.States, st)
			}
		}
		hdr := http.Header{}
		hdr.Set(dashCSRFHeader, sess.CSRF)
		act := func(name, body string, code int, want string) {
			t.Helper()
			res, got := dt.post(t, "/api/actions/"+name, body, hdr)
			if res.StatusCode != code || !strings.Contains(got, want) {
				t.Fatalf("%s %s: status %d, want %d with %q: %s", name, body, res.StatusCode, code, want, got)
			}
		}
		list := func(state string) []taskView {
			t.Helper()
			res, body := dt.do(t, "GET", "/api/tasks?queue=jobs&state="+state, nil)
			var page struct {
				Tasks []taskView `json:"tasks"`
			}
			if err := json.Unmarshal([]byte(body), &page); err != nil || res.StatusCode != 200 {
				t.Fatalf("list %s: %d %v %s", state, res.StatusCode, err, body)
			}
			return page.Tasks
		}
		ids := func(ts []taskView) []string {
			var out []string
			for _, tv := range ts {
				out = append(out, tv.ID)
			}
			slices.Sort(out)
			return out
		}
		if d := list("delayed"); len(d) != 1 || d[0].ID != "t-delayed" || d[0].Due == nil {
			t.Fatalf("delayed: %+v", d)
		}
		if got := ids(list("pending")); !slices.Equal(got, []string{"t-cancel", "t-pending"}) {
			t.Fatalf("pending: %q", got)
		}
		res, body = dt.do(t, "GET", "/api/task?queue=jobs&id=t-delayed", nil)
		var tv taskView
		if err := json.Unmarshal([]byte(body), &tv); err != nil || res.StatusCode != 200 || tv.Params != `"p-t-delayed"` || tv.Due == nil {
			t.Fatalf("task record: %d %v %s", res.StatusCode, err, body)
		}

		act("task/run-now", `{"queue":"jobs","id":"t-delayed"}`, 200, "is due now")
		act("task/run-now", `{"queue":"jobs","id":"t-delayed"}`, 409, "not delayed")
		if got := ids(list("pending")); !slices.Equal(got, []string{"t-cancel", "t-delayed", "t-pending"}) {
			t.Fatalf("pending after run now: %q", got)
		}
		act("task/cancel", `{"queue":"jobs","id":"t-cancel"}`, 200, "canceled task t-cancel")
		if in, err := ins.Info(ctx, "t-cancel"); err != nil || in.Status != task.StatusCanceled {
			t.Fatalf("after cancel: %+v, %v", in, err)
		}
		// Canceling a canceled task is not an error (Inspector.Cancel).
		act("task/cancel", `{"queue":"jobs","id":"t-cancel"}`, 200, "canceled task t-cancel")
		act("task/cancel", `{"queue":"jobs","id":"nope"}`, 404, "no task")
		act("task/delete", `{"queue":"jobs","id":"t-pending"}`, 200, "deleted task t-pending")
		act("task/delete", `{"queue":"jobs","id":"t-pending"}`, 404, "no task")
		if res, _ := dt.do(t, "GET", "/api/task?queue=jobs&id=t-pending", nil); res.StatusCode != 404 {
			t.Errorf("the deleted task's record: status %d", res.StatusCode)
		}
		act("task/delete", `{"queue":"jobs","id":"a\u0000b"}`, 400, "")

		paused := func() bool {
			p, err := ins.Paused(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		act("queue/pause", `{"queue":"jobs"}`, 200, "paused queue jobs")
		if !paused() {
			t.Fatal("not paused")
		}
		act("queue/pause", `{"queue":"jobs"}`, 200, "was paused already")
		act("queue/resume", `{"queue":"jobs"}`, 200, "resumed queue jobs")
		if paused() {
			t.Fatal("still paused")
		}
		if res, _ := dt.do(t, "GET", "/api/tasks?queue=jobs&state=bogus", nil); res.StatusCode != 400 {
			t.Errorf("bogus state: status %d", res.StatusCode)
		}
		if n := strings.Count(logBuf.String(), "dashboard action done"); n != 7 {
			t.Errorf("%d actions logged as done, want 7:\n%s", n, logBuf.String())
		}
	})
}
