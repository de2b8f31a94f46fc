package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect/inspecttest"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// post sends a POST with a body and returns the response and its body.
func (dt *dashTest) post(t *testing.T, path, body string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range hdr {
		h[k] = v
	}
	return dt.doBody(t, "POST", path, body, h)
}

// session reads /api/session.
func (dt *dashTest) session(t *testing.T, hdr http.Header) (actions bool, csrf string) {
	t.Helper()
	res, body := dt.do(t, "GET", "/api/session", hdr)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/session: status %d: %s", res.StatusCode, body)
	}
	var s struct {
		Actions bool   `json:"actions"`
		CSRF    string `json:"csrf"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/api/session: %v in %s", err, body)
	}
	return s.Actions, s.CSRF
}

// soloPool makes a pool of one member "solo" under b's prefix, leased
// twice: it returns the fence of the first lease (ended by an
// administrator) and of the second, which holds the member now.
func soloPool(t *testing.T, b *redisxtest.Backend) (p *pool.Pool[string], old, cur int64) {
	t.Helper()
	ctx := t.Context()
	p, err := pool.New[string](b.Client, b.Prefix, "solo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(ctx, map[string]string{"solo": "v"}); err != nil {
		t.Fatal(err)
	}
	a, err := p.Malloc(ctx, pool.LeaseTTL(pool.Permanent))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.Admin().ForceRelease(ctx, map[string]int64{"solo": a.Fence()}); n != 1 || err != nil {
		t.Fatalf("ForceRelease: %d, %v", n, err)
	}
	a2, err := p.Malloc(ctx, pool.LeaseTTL(pool.Permanent))
	if err != nil {
		t.Fatal(err)
	}
	if a2.Fence() <= a.Fence() {
		t.Fatalf("fences %d then %d", a.Fence(), a2.Fence())
	}
	return p, a.Fence(), a2.Fence()
}

// leaseOf returns the fence of member's lease in pool p, 0 when not held.
func leaseOf(t *testing.T, p *pool.Pool[string], member string) (fence int64, state pool.State) {
	t.Helper()
	s, err := p.Admin().Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Members {
		if m.Key == member {
			if m.Lease != nil {
				return m.Lease.Fence, m.State
			}
			return 0, m.State
		}
	}
	t.Fatalf("no member %q", member)
	return 0, ""
}

// TestDashboardActionGuards sends an action that would free a lease in
// every way that must be refused, checks that each is refused with the
// right status, logged, and left the lease alone, then sends it right.
func TestDashboardActionGuards(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	p, _, fence := soloPool(t, b)
	const token = "s3cret-token-0123456789"
	var logBuf syncBuffer
	dt := startDashTest(t, dashboardConfig{
		token: token, interval: time.Hour, source: fakeSource(), allowActions: true,
		ops: &dashOps{client: b.Client, prefix: b.Prefix}, log: slog.New(slog.NewTextHandler(&logBuf, nil)),
	})
	bearer := http.Header{"Authorization": {"Bearer " + token}}
	actions, csrf := dt.session(t, bearer)
	if !actions || len(csrf) < 32 {
		t.Fatalf("session: actions %v, csrf %q", actions, csrf)
	}
	body := `{"pool":"solo","member":"solo","fence":` + jsonInt(fence) + `}`
	good := http.Header{"Authorization": {"Bearer " + token}}
	good.Set(dashCSRFHeader, csrf) // canonical key, so with() can delete it
	with := func(extra ...string) http.Header {
		h := http.Header{}
		for k, v := range good {
			h[k] = v
		}
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == "" {
				h.Del(extra[i])
			} else {
				h.Set(extra[i], extra[i+1])
			}
		}
		return h
	}
	tests := []struct {
		name, method, path, ctype string
		hdr                       http.Header
		code                      int
		log                       string
	}{
		{"NoToken", "POST", "/api/actions/pool/free", "application/json", with("Authorization", ""), 401, "no or wrong token"},
		{"WrongToken", "POST", "/api/actions/pool/free", "application/json", with("Authorization", "Bearer "+token+"x"), 401, "no or wrong token"},
		{"Get", "GET", "/api/actions/pool/free", "", good, 405, "method GET"},
		{"ForeignOrigin", "POST", "/api/actions/pool/free", "application/json", with("Origin", "http://evil.example"), 403, "cross-origin"},
		{"CrossSite", "POST", "/api/actions/pool/free", "application/json", with("Sec-Fetch-Site", "cross-site"), 403, "cross-origin"},
		{"SameSiteOtherOrigin", "POST", "/api/actions/pool/free", "application/json", with("Sec-Fetch-Site", "same-site", "Origin", "http://other.localhost:1"), 403, "cross-origin"},
		{"NoCSRF", "POST", "/api/actions/pool/free", "application/json", with(dashCSRFHeader, ""), 403, "X-CSRF-Token"},
		{"WrongCSRF", "POST", "/api/actions/pool/free", "application/json", with(dashCSRFHeader, csrf[:len(csrf)-1]+"x"), 403, "X-CSRF-Token"},
		{"FormPost", "POST", "/api/actions/pool/free", "application/x-www-form-urlencoded", good, 415, "application/json"},
		{"TextPlain", "POST", "/api/actions/pool/free", "text/plain", good, 415, "application/json"},
		{"UnknownAction", "POST", "/api/actions/pool/nuke", "application/json", good, 404, "no such action"},
		{"RebindingHost", "POST", "/api/actions/pool/free", "application/json", with("Host", "attacker.example"), 403, "not a loopback name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.hdr.Clone()
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			res, got := dt.doBody(t, tt.method, tt.path, body, h)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.code, got)
			}
			checkDashHeaders(t, res)
			if f, st := leaseOf(t, p, "solo"); f != fence || st != pool.StateHeld {
				t.Fatalf("after a refused action: solo %s with fence %d, want held with %d", st, f, fence)
			}
			if !strings.Contains(logBuf.String(), tt.log) {
				t.Errorf("log has no %q:\n%s", tt.log, logBuf.String())
			}
		})
	}
	// Same origin, as a browser sends it: done, and logged with the target.
	res, got := dt.post(t, "/api/actions/pool/free", body, with("Origin", strings.TrimSuffix(dt.d.URL, "/"), "Sec-Fetch-Site", "same-origin"))
	if res.StatusCode != http.StatusOK || !strings.Contains(got, `"ok":true`) {
		t.Fatalf("the right request: status %d: %s", res.StatusCode, got)
	}
	if f, st := leaseOf(t, p, "solo"); f != 0 || st != pool.StateFree {
		t.Fatalf("after freeing: solo %s with fence %d", st, f)
	}
	line := ""
	for l := range strings.Lines(logBuf.String()) {
		if strings.Contains(l, "dashboard action done") {
			line = l
		}
	}
	for _, want := range []string{"action=pool/free", "remote=127.0.0.1:", "auth=bearer", `target="pool:solo member:solo fence:` + jsonInt(fence) + `"`, "result="} {
		if !strings.Contains(line, want) {
			t.Errorf("action log line %q has no %q", line, want)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestDashboardActionsOff: without --allow-actions no action runs, even
// with every header right, and the page is told there are none.
func TestDashboardActionsOff(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	p, _, fence := soloPool(t, b)
	dt := startDashTest(t, dashboardConfig{interval: time.Hour, source: fakeSource(), ops: &dashOps{client: b.Client, prefix: b.Prefix}})
	actions, csrf := dt.session(t, nil)
	if actions || csrf != "" {
		t.Fatalf("session: actions %v, csrf %q; want none", actions, csrf)
	}
	res, body := dt.post(t, "/api/actions/pool/free", `{"pool":"solo","member":"solo","fence":`+jsonInt(fence)+`}`, nil)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "--allow-actions") {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if f, _ := leaseOf(t, p, "solo"); f != fence {
		t.Fatalf("solo's lease is %d, want %d", f, fence)
	}
}

// TestDashboardActions runs each action on every backend: a stale fence
// leaves the newer lease alone, the right one frees it; quarantine and
// its end; the dead-letter list, a task's record, and requeue.
func TestDashboardActions(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		p, old, cur := soloPool(t, b)
		seedAll(t, b)
		var logBuf syncBuffer
		dt := startDashTest(t, dashboardConfig{
			interval: time.Hour, source: fakeSource(), allowActions: true,
			ops: &dashOps{client: b.Client, prefix: b.Prefix}, log: slog.New(slog.NewTextHandler(&logBuf, nil)),
		})
		_, csrf := dt.session(t, nil)
		hdr := http.Header{}
		hdr.Set(dashCSRFHeader, csrf)
		act := func(name, body string, code int, want string) {
			t.Helper()
			res, got := dt.post(t, "/api/actions/"+name, body, hdr)
			if res.StatusCode != code || !strings.Contains(got, want) {
				t.Fatalf("%s %s: status %d, want %d with %q: %s", name, body, res.StatusCode, code, want, got)
			}
		}

		// A stale page: the fence of the lease that was ended.
		act("pool/free", `{"pool":"solo","member":"solo","fence":`+jsonInt(old)+`}`, 409, "has ended or changed")
		if f, st := leaseOf(t, p, "solo"); f != cur || st != pool.StateHeld {
			t.Fatalf("a stale fence freed the newer lease: solo %s, fence %d, want held with %d", st, f, cur)
		}
		act("pool/free", `{"pool":"solo","member":"solo","fence":0}`, 400, "fence must be")
		act("pool/free", `{"pool":"solo","member":"nope","fence":5}`, 404, "not a member")
		act("pool/free", `{"pool":"solo","member":"solo","fence":1,"extra":1}`, 400, "unknown field")
		act("pool/free", `{"pool":"a{b}","member":"solo","fence":1}`, 400, "pool")
		act("pool/free", `{"pool":"solo","member":"solo","fence":`+jsonInt(cur)+`}`, 200, "freed the lease of solo")
		if f, st := leaseOf(t, p, "solo"); f != 0 || st != pool.StateFree {
			t.Fatalf("after freeing: solo %s, fence %d", st, f)
		}
		act("pool/free", `{"pool":"solo","member":"solo","fence":`+jsonInt(cur)+`}`, 409, "has ended or changed")

		act("pool/quarantine", `{"pool":"solo","member":"solo","seconds":-1}`, 400, "seconds must be")
		act("pool/quarantine", `{"pool":"solo","member":"solo","seconds":600}`, 200, "quarantined solo")
		if _, st := leaseOf(t, p, "solo"); st != pool.StateUnhealthy {
			t.Fatalf("after quarantine: solo %s", st)
		}
		act("pool/quarantine", `{"pool":"solo","member":"solo","seconds":0}`, 200, "ended the quarantine")
		if _, st := leaseOf(t, p, "solo"); st != pool.StateFree {
			t.Fatalf("after ending the quarantine: solo %s", st)
		}

		// The dead letters, one task's record, and requeue.
		q := url.QueryEscape(inspecttest.DeadQueue)
		res, body := dt.do(t, "GET", "/api/tasks?queue="+q+"&state=dead", nil)
		var page struct {
			Tasks []taskView `json:"tasks"`
			Next  string     `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || res.StatusCode != 200 ||
			len(page.Tasks) != 1 || page.Tasks[0].ID != inspecttest.FailedTaskID || page.Tasks[0].ErrorKind != "smtp" || page.Next != "" {
			t.Fatalf("dead letters: status %d, %v: %s", res.StatusCode, err, body)
		}
		for path, code := range map[string]int{
			"/api/tasks?queue=" + q + "&state=bogus":         400,
			"/api/tasks?queue=" + q + "&state=dead&limit=0":  400,
			"/api/tasks?queue=" + q + "&state=dead&cursor=x": 400,
			"/api/tasks?queue=a{b}&state=dead":               400,
			"/api/task?queue=" + q + "&id=nope":              404,
		} {
			if res, body := dt.do(t, "GET", path, nil); res.StatusCode != code {
				t.Errorf("GET %s: status %d, want %d: %s", path, res.StatusCode, code, body)
			}
		}
		res, body = dt.do(t, "GET", "/api/task?queue="+q+"&id="+inspecttest.FailedTaskID, nil)
		var tv taskView
		if err := json.Unmarshal([]byte(body), &tv); err != nil || res.StatusCode != 200 || tv.Status != string(task.StatusFailed) ||
			tv.ErrorMessage != "smtp refused" || tv.Attempt != 1 || tv.Finished == nil {
			t.Fatalf("task detail: status %d, %v: %s", res.StatusCode, err, body)
		}
		act("queue/requeue", `{"queue":"`+inspecttest.DeadQueue+`","ids":[]}`, 400, "ids")
		act("queue/requeue", `{"queue":"`+inspecttest.DeadQueue+`","ids":["`+inspecttest.FailedTaskID+`"]}`, 200, "requeued 1 of 1")
		act("queue/requeue", `{"queue":"`+inspecttest.DeadQueue+`","ids":["`+inspecttest.FailedTaskID+`"]}`, 409, "no longer in the dead-letter set")
		ins, err := task.NewInspector(b.Client, b.Prefix, inspecttest.DeadQueue)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := ins.Stats(t.Context()); err != nil || st.Dead != 0 || st.Ready != 1 {
			t.Fatalf("after requeue: %+v, %v", st, err)
		}
		if n := strings.Count(logBuf.String(), "dashboard action done"); n != 4 {
			t.Errorf("%d actions logged as done, want 4:\n%s", n, logBuf.String())
		}
	})
}

// TestDashboardQueueSeries: each queue's counts over time, the growth of
// its dead letters per second (none on the first point, never negative),
// and queues gone from the report leave.
func TestDashboardQueueSeries(t *testing.T) {
	t.Parallel()
	qt := queueTracker{series: map[string][]queuePoint{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := func(sec int, qs ...inspect.Queue) *inspect.Report {
		return &inspect.Report{Time: t0.Add(time.Duration(sec) * time.Second), Queues: qs}
	}
	qt.add(rep(0, inspect.Queue{Name: "a", Ready: 5, Dead: 1}, inspect.Queue{Name: "b"}))
	qt.add(rep(2, inspect.Queue{Name: "a", Ready: 3, Running: 2, Dead: 5}))
	qt.add(rep(3, inspect.Queue{Name: "a", Ready: 1, Dead: 2}))
	if b := qt.get("b"); len(b.Points) != 0 {
		t.Fatalf("queue b left the report, yet has %d points", len(b.Points))
	}
	got := qt.get("a")
	if got.Queue != "a" || len(got.Points) != 3 {
		t.Fatalf("series %+v: want queue a with 3 points", got)
	}
	pts := got.Points
	if pts[0].NewDead != nil || pts[1].NewDead == nil || *pts[1].NewDead != 2 || pts[2].NewDead == nil || *pts[2].NewDead != 0 {
		t.Errorf("new dead letters per second: %v %v %v, want nil, 2, 0", pts[0].NewDead, pts[1].NewDead, pts[2].NewDead)
	}
	if pts[1].Ready != 3 || pts[1].Running != 2 || pts[1].Dead != 5 {
		t.Errorf("point 1: %+v", pts[1])
	}
	for i := range dashboardRatePoints + 10 {
		qt.add(rep(10+i, inspect.Queue{Name: "a"}))
	}
	if n := len(qt.get("a").Points); n != dashboardRatePoints {
		t.Errorf("%d points kept, want %d", n, dashboardRatePoints)
	}
}

// TestDashboardQueueCounterRates (issue 16): processed and failed per
// second and mean latency from the growth of the queue's counters; none on
// the first point or when a counter goes back, no latency when nothing
// finished.
func TestDashboardQueueCounterRates(t *testing.T) {
	t.Parallel()
	qt := queueTracker{series: map[string][]queuePoint{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(sec int, s, f, r, ms int64) {
		qt.add(&inspect.Report{Time: t0.Add(time.Duration(sec) * time.Second), Queues: []inspect.Queue{
			{Name: "a", Succeeded: s, Failed: f, Retried: r, RunTimeMillis: ms},
		}})
	}
	add(0, 10, 1, 0, 1000)
	add(2, 16, 3, 2, 2000) // 6 ok + 2 failed in 2s; 2+2 failed attempts; 1000ms over 10 attempts
	add(3, 16, 3, 2, 2000) // nothing finished
	add(4, 1, 0, 0, 5)     // counters went back
	pts := qt.get("a").Points
	f := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	want := [][3]any{{nil, nil, nil}, {4.0, 2.0, 100.0}, {0.0, 0.0, nil}, {nil, nil, nil}}
	for i, w := range want {
		if got := [3]any{f(pts[i].Processed), f(pts[i].Failed), f(pts[i].LatencyMS)}; got != w {
			t.Errorf("point %d: processed, failed, latency %v, want %v", i, got, w)
		}
	}
}

// TestDashboardTaskRoutesNeedRedis: a dashboard without Redis operations
// (as in tests with a fake source) serves no task view.
func TestDashboardTaskRoutesNeedRedis(t *testing.T) {
	t.Parallel()
	dt := startDashTest(t, dashboardConfig{interval: time.Hour, source: fakeSource(), allowActions: true})
	for _, path := range []string{"/api/tasks?queue=q&state=dead", "/api/task?queue=q&id=x", "/api/schedules?queue=q"} {
		if res, _ := dt.do(t, "GET", path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
	if res, body := dt.do(t, "GET", "/api/queue-series?queue=q", nil); res.StatusCode != http.StatusOK || body != `{"queue":"q","points":[]}` {
		t.Errorf("queue series of a queue not seen: status %d, %s", res.StatusCode, body)
	}
	if actions, _ := dt.session(t, nil); actions {
		t.Errorf("actions offered without Redis operations")
	}
}
