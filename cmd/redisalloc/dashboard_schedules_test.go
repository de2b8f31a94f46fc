package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestDashboardSchedules lists a queue's periodic tasks and removes one
// through the action framework: refused without the CSRF token (the
// schedule stays), done with it (the schedule is gone, the action logged).
func TestDashboardSchedules(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		q, err := task.New[string, string](b.Client, b.Prefix, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		for name, spec := range map[string]string{"nightly": "0 3 * * *", "often": "@every 90s"} {
			if err := q.Schedule(ctx, name, spec, "p-"+name); err != nil {
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
		list := func() []scheduleView {
			t.Helper()
			res, body := dt.do(t, "GET", "/api/schedules?queue=jobs", nil)
			var page struct {
				Queue     string         `json:"queue"`
				Schedules []scheduleView `json:"schedules"`
			}
			if err := json.Unmarshal([]byte(body), &page); err != nil || res.StatusCode != 200 || page.Queue != "jobs" || page.Schedules == nil {
				t.Fatalf("schedules: %d %v %s", res.StatusCode, err, body)
			}
			return page.Schedules
		}
		got := list()
		if len(got) != 2 || got[0].Name != "nightly" || got[0].Spec != "0 3 * * *" || got[1].Name != "often" || got[1].Spec != "@every 90s" {
			t.Fatalf("schedules: %+v", got)
		}
		for _, sv := range got {
			if sv.Next == nil || sv.Last != nil {
				t.Errorf("schedule %s: next %v, last %v; want a next run and no last one", sv.Name, sv.Next, sv.Last)
			}
		}
		if res, _ := dt.do(t, "GET", "/api/schedules?queue=a{b}", nil); res.StatusCode != 400 {
			t.Errorf("bad queue name: status %d", res.StatusCode)
		}

		body := `{"queue":"jobs","schedule":"nightly"}`
		res, out := dt.post(t, "/api/actions/queue/unschedule", body, nil)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(out, dashCSRFHeader) {
			t.Fatalf("without the CSRF token: status %d: %s", res.StatusCode, out)
		}
		if s, err := ins.Schedules(ctx); err != nil || len(s) != 2 {
			t.Fatalf("after the refused unschedule: %+v, %v", s, err)
		}
		if !strings.Contains(logBuf.String(), "dashboard action refused") {
			t.Errorf("refusal not logged:\n%s", logBuf.String())
		}

		_, csrf := dt.session(t, nil)
		hdr := http.Header{dashCSRFHeader: {csrf}}
		res, out = dt.post(t, "/api/actions/queue/unschedule", body, hdr)
		if res.StatusCode != 200 || !strings.Contains(out, "removed schedule nightly of queue jobs") {
			t.Fatalf("unschedule: status %d: %s", res.StatusCode, out)
		}
		if s, err := ins.Schedules(ctx); err != nil || len(s) != 1 || s[0].Name != "often" {
			t.Fatalf("after unschedule: %+v, %v", s, err)
		}
		if got := list(); len(got) != 1 || got[0].Name != "often" {
			t.Fatalf("listed after unschedule: %+v", got)
		}
		logged := logBuf.String()
		if !strings.Contains(logged, "dashboard action done") || !strings.Contains(logged, `target="queue:jobs schedule:nightly"`) {
			t.Errorf("unschedule not logged with its target:\n%s", logged)
		}
		if res, out := dt.post(t, "/api/actions/queue/unschedule", body, hdr); res.StatusCode != http.StatusNotFound {
			t.Errorf("unschedule again: status %d: %s", res.StatusCode, out)
		}
		if res, out := dt.post(t, "/api/actions/queue/unschedule", `{"queue":"jobs","schedule":""}`, hdr); res.StatusCode != http.StatusBadRequest {
			t.Errorf("empty name: status %d: %s", res.StatusCode, out)
		}
	})
}
