package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// dashTest is a running dashboard and an HTTP client for it.
type dashTest struct {
	d      *dashboard
	client *http.Client
}

// startDashTest starts a dashboard on a free loopback port, stopped after
// the test.
func startDashTest(t *testing.T, cfg dashboardConfig) *dashTest {
	t.Helper()
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:0"
	}
	d, err := startDashboard(t.Context(), cfg)
	if err != nil {
		t.Fatalf("startDashboard: %v", err)
	}
	tr := &http.Transport{}
	dt := &dashTest{d: d, client: &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		// Redirects are asserted, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	t.Cleanup(func() {
		d.Stop()
		tr.CloseIdleConnections()
	})
	return dt
}

// do sends a request and returns the response with its body read.
func (dt *dashTest) do(t *testing.T, method, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	return dt.doBody(t, method, path, "", hdr)
}

// doBody is do with a request body.
func (dt *dashTest) doBody(t *testing.T, method, path, reqBody string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	var rb io.Reader
	if reqBody != "" {
		rb = strings.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, strings.TrimSuffix(dt.d.URL, "/")+path, rb)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h // Go sends req.Host, not a Host header
	}
	res, err := dt.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return res, string(body)
}

// fakeSource returns reports of one pool whose fence grows by 5 per call.
func fakeSource() reportSource {
	var mu sync.Mutex
	var fence int64
	return func(context.Context) (*inspect.Report, error) {
		mu.Lock()
		defer mu.Unlock()
		fence += 5
		return &inspect.Report{
			Version: inspect.SchemaVersion, Time: time.Now(), Prefix: "fake", Health: "healthy",
			Pools: []inspect.Pool{{Name: "proxies", Free: 2, Held: 1, Total: 3, Fence: fence}},
		}, nil
	}
}

func TestDashboardListenRules(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef"
	tests := []struct {
		name, addr, token string
		want              error
		loopback          bool
	}{
		{"LoopbackV4", "127.0.0.1:0", "", nil, true},
		{"LoopbackV6", "[::1]:8765", "", nil, true},
		{"Localhost", "localhost:8765", "", nil, true},
		{"LoopbackWithToken", "127.0.0.1:0", token, nil, true},
		{"AllInterfacesNoToken", ":8765", "", errDashboardToken, false},
		{"AnyV4NoToken", "0.0.0.0:0", "", errDashboardToken, false},
		{"LANNoToken", "192.168.1.5:80", "", errDashboardToken, false},
		{"HostnameNoToken", "dash.example:80", "", errDashboardToken, false},
		{"LANWithToken", "192.168.1.5:80", token, nil, false},
		{"ShortToken", "0.0.0.0:0", "short", errDashboardToken, false},
		{"TokenWithSpace", "0.0.0.0:0", "0123456789 abcdef", errDashboardToken, false},
		{"NoPort", "127.0.0.1", "", errDashboardAddr, false},
		{"BadPort", "127.0.0.1:99999", "", errDashboardAddr, false},
		{"NamedPort", "127.0.0.1:http", "", errDashboardAddr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lb, err := checkDashboardListen(tt.addr, tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("checkDashboardListen(%q, %q) = %v, want %v", tt.addr, tt.token, err, tt.want)
			}
			if err == nil && lb != tt.loopback {
				t.Errorf("loopback = %v, want %v", lb, tt.loopback)
			}
		})
	}
}

func TestDashboardCommandUsage(t *testing.T) {
	t.Setenv(dashboardTokenEnv, "") // not parallel: the env var must be unset
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NoRedis", []string{"--prefix", "p"}, "no Redis given: pass --redis URL or set REDIS_URL"},
		{"NoPrefix", []string{"--redis", "redis://127.0.0.1:1"}, "--prefix is required"},
		{"NonLoopbackNoToken", []string{"--redis", "redis://127.0.0.1:1", "--prefix", "p", "--listen", "0.0.0.0:0"}, "token required"},
		{"ShortInterval", []string{"--redis", "redis://127.0.0.1:1", "--prefix", "p", "--interval", "1ms"}, "--interval"},
		{"StrayArgument", []string{"extra"}, "unexpected argument"},
		{"ZeroFullRead", []string{"--redis", "redis://127.0.0.1:1", "--prefix", "p", "--full-read-limit", "0"}, "--full-read-limit must be -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			// An empty environment: the test process's REDIS_URL must not count.
			e := env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
			code := run(t.Context(), e, append([]string{"dashboard"}, tt.args...))
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestDashboardRoutes(t *testing.T) {
	t.Parallel()
	dt := startDashTest(t, dashboardConfig{interval: 50 * time.Millisecond, source: fakeSource()})
	tests := []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/?x=1", 200, "text/html; charset=utf-8"},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/favicon.svg", 200, "image/svg+xml"},
		{"GET", "/api/snapshot", 200, "application/json; charset=utf-8"},
		{"GET", "/api/healthz", 200, "text/plain; charset=utf-8"},
		{"HEAD", "/api/events", 200, "text/event-stream; charset=utf-8"},
		{"GET", "/index.html", 404, ""},
		{"GET", "/web/app.js", 404, ""},
		{"GET", "/app.js/", 404, ""},
		{"GET", "/api/snapshot/", 404, ""},
		{"GET", "/API/snapshot", 404, ""},
		{"GET", "/api", 404, ""},
		{"GET", "//app.js", 404, ""},
		{"POST", "/", 405, ""},
		{"PUT", "/api/snapshot", 405, ""},
		{"DELETE", "/api/events", 405, ""},
		{"POST", "/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+strings.ReplaceAll(tt.path, "/", "_"), func(t *testing.T) {
			t.Parallel()
			res, body := dt.do(t, tt.method, tt.path, nil)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, tt.code, body)
			}
			checkDashHeaders(t, res)
			if tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.ctype)
			}
			if tt.code == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", res.Header.Get("Allow"))
			}
			if tt.method == "HEAD" && body != "" {
				t.Errorf("HEAD returned a body: %q", body)
			}
		})
	}
}

// checkDashHeaders asserts the headers every response carries.
func checkDashHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q is not strict", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no X-Content-Type-Options: nosniff")
	}
}

func TestDashboardRebindingHost(t *testing.T) {
	t.Parallel()
	dt := startDashTest(t, dashboardConfig{source: fakeSource()})
	for host, want := range map[string]int{
		"attacker.example":      http.StatusForbidden,
		"attacker.example:8765": http.StatusForbidden,
		"localhost:8765":        http.StatusOK,
		"127.0.0.1":             http.StatusOK,
		"[::1]:1":               http.StatusOK,
	} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", dt.d.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		res, err := dt.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Host %q: status %d, want %d", host, res.StatusCode, want)
		}
		checkDashHeaders(t, res)
	}
}

func TestDashboardToken(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token-0123456789"
	dt := startDashTest(t, dashboardConfig{token: token, interval: 50 * time.Millisecond, source: fakeSource()})
	bearer := func(v string) http.Header { return http.Header{"Authorization": {"Bearer " + v}} }

	for _, path := range []string{"/", "/app.js", "/api/snapshot", "/api/events", "/nope"} {
		res, _ := dt.do(t, "GET", path, nil)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token: status %d, want 401", path, res.StatusCode)
		}
		checkDashHeaders(t, res)
	}
	for name, h := range map[string]http.Header{
		"WrongBearer":  bearer(token + "x"),
		"Prefix":       bearer(token[:10]),
		"NotBearer":    {"Authorization": {"Basic " + token}},
		"RawToken":     {"Authorization": {token}},
		"ForgedCookie": {"Cookie": {dashboardCookie + "=" + token}},
	} {
		if res, _ := dt.do(t, "GET", "/api/snapshot", h); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, res.StatusCode)
		}
	}
	if res, _ := dt.do(t, "GET", "/?token=wrong-token-0123456789", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong ?token=: status %d, want 401", res.StatusCode)
	}
	if res, body := dt.do(t, "GET", "/api/snapshot", bearer(token)); res.StatusCode != http.StatusOK || !json.Valid([]byte(body)) {
		t.Errorf("with the bearer token: status %d, body %.80q", res.StatusCode, body)
	}
	if res, _ := dt.do(t, "GET", "/nope", bearer(token)); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path with the token: status %d, want 404", res.StatusCode)
	}

	// ?token= once: a cookie, and a redirect that drops the token from the URL.
	res, _ := dt.do(t, "GET", "/?token="+token, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("?token=: status %d Location %q, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == dashboardCookie {
			cookie = c
		}
	}
	switch {
	case cookie == nil:
		t.Fatalf("no %s cookie set; Set-Cookie: %q", dashboardCookie, res.Header.Values("Set-Cookie"))
	case !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/":
		t.Errorf("cookie %q: want HttpOnly, SameSite=Strict, Path=/", cookie.String())
	case strings.Contains(cookie.Value, token):
		t.Errorf("the cookie carries the token itself")
	}
	withCookie := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	if res, _ := dt.do(t, "GET", "/", withCookie); res.StatusCode != http.StatusOK {
		t.Errorf("GET / with the cookie: status %d, want 200", res.StatusCode)
	}
	// The event stream, which a browser opens with the cookie only.
	ev := openEvents(t, dt, withCookie)
	if f := ev.next(t); f.Seq == 0 {
		t.Errorf("no event with the cookie")
	}
	// A query with more than the token keeps the rest.
	res, _ = dt.do(t, "GET", "/api/snapshot?seq=1&token="+token, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/api/snapshot?seq=1" {
		t.Errorf("?seq=1&token=: status %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// eventStream reads server-sent events.
type eventStream struct {
	r *bufio.Reader
}

// dashEvent is the part of a broadcast the tests look at, plus its raw
// JSON.
type dashEvent struct {
	ID  string
	Raw string
	inspect.Report
	Dashboard dashMeta `json:"dashboard"`
}

func openEvents(t *testing.T, dt *dashTest, hdr http.Header) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", dt.d.URL+"api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := dt.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = res.Body.Close()
	})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: status %d", res.StatusCode)
	}
	checkDashHeaders(t, res)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	return &eventStream{r: bufio.NewReader(res.Body)}
}

// next returns the next data event, skipping comments and retry lines.
func (es *eventStream) next(t *testing.T) dashEvent {
	t.Helper()
	var ev dashEvent
	for {
		line, err := es.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading events: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.Raw = strings.TrimPrefix(line, "data: ")
		case line == "" && ev.Raw != "":
			if err := json.Unmarshal([]byte(ev.Raw), &ev); err != nil {
				t.Fatalf("event data is not a report: %v\n%s", err, ev.Raw)
			}
			if ev.ID != fmt.Sprint(ev.Seq) {
				t.Fatalf("event id %q but seq %d", ev.ID, ev.Seq)
			}
			return ev
		}
	}
}

// TestDashboardLive runs the dashboard on a real pool on every backend: the
// event stream carries successive reports of it, and ?seq=N returns
// exactly what broadcast N carried.
func TestDashboardLive(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		p, err := pool.New[string](b.Client, b.Prefix, "proxies")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Add(ctx, map[string]string{"a": "1", "b": "2", "c": "3"}); err != nil {
			t.Fatal(err)
		}
		a, err := p.Malloc(ctx, pool.LeaseTTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		dt := startDashTest(t, dashboardConfig{
			interval: 100 * time.Millisecond,
			source: func(ctx context.Context) (*inspect.Report, error) {
				return inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{})
			},
		})
		es := openEvents(t, dt, nil)
		first := es.next(t)
		// Allocations between events move the fence, hence the rate.
		if _, err := p.Malloc(ctx, pool.LeaseTTL(time.Minute)); err != nil {
			t.Fatal(err)
		}
		var evs []dashEvent
		deadline := time.Now().Add(20 * time.Second)
		for len(evs) < 3 && time.Now().Before(deadline) {
			evs = append(evs, es.next(t))
		}
		last := first
		for _, ev := range evs {
			if ev.Seq <= last.Seq {
				t.Fatalf("seq %d after %d: not increasing", ev.Seq, last.Seq)
			}
			last = ev
		}
		if last.Dashboard.Error != "" {
			t.Fatalf("collection failed: %s", last.Dashboard.Error)
		}
		if last.Prefix != b.Prefix || len(last.Pools) != 1 {
			t.Fatalf("report of prefix %q with %d pools, want %q with 1:\n%s", last.Prefix, len(last.Pools), b.Prefix, last.Raw)
		}
		got := last.Pools[0]
		if got.Name != "proxies" || got.Free != 1 || got.Held != 2 || got.Total != 3 {
			t.Errorf("pool %s free=%d held=%d total=%d, want proxies 1/2/3", got.Name, got.Free, got.Held, got.Total)
		}
		if len(last.Dashboard.Rates) != 1 || last.Dashboard.Rates[0].Pool != "proxies" || len(last.Dashboard.Rates[0].Points) == 0 {
			t.Errorf("rates %+v: want a series of pool proxies with points", last.Dashboard.Rates)
		}
		// The one allocation since the dashboard started shows as one
		// lease over the interval it fell into, and nowhere else: the
		// rate counts leases (fence deltas are microseconds of clock).
		var pts []ratePoint
		for deadline := time.Now().Add(20 * time.Second); ; last = es.next(t) {
			if len(last.Dashboard.Rates) == 1 {
				pts = last.Dashboard.Rates[0].Points
			}
			if slices.ContainsFunc(pts, func(p ratePoint) bool { return p.PerSec != 0 }) || time.Now().After(deadline) {
				break
			}
		}
		// The first point spans from the first report (seq 1) on.
		_, body := dt.do(t, "GET", "/api/snapshot?seq=1", nil)
		var ev1 dashEvent
		if err := json.Unmarshal([]byte(body), &ev1); err != nil {
			t.Fatalf("report 1: %v", err)
		}
		leases, prev := 0.0, ev1.Time
		for i, p := range pts {
			if p.PerSec < 0 {
				t.Errorf("point %d: negative rate %v", i, p.PerSec)
			}
			leases += p.PerSec * p.Time.Sub(prev).Seconds()
			prev = p.Time
		}
		if leases < 0.99 || leases > 1.01 {
			t.Errorf("rate points %+v add up to %.3f leases, want 1", pts, leases)
		}

		// ?seq=N returns the very bytes broadcast N carried.
		for _, ev := range append(evs, first) {
			res, body := dt.do(t, "GET", fmt.Sprintf("/api/snapshot?seq=%d", ev.Seq), nil)
			if res.StatusCode != http.StatusOK || body != ev.Raw {
				t.Errorf("?seq=%d: status %d, body differs from the broadcast:\n got %.200s\nwant %.200s", ev.Seq, res.StatusCode, body, ev.Raw)
			}
		}
		res, body := dt.do(t, "GET", "/api/snapshot", nil)
		var latest dashEvent
		if err := json.Unmarshal([]byte(body), &latest); res.StatusCode != http.StatusOK || err != nil || latest.Seq < last.Seq {
			t.Errorf("latest snapshot: status %d, err %v, seq %d (last event %d)", res.StatusCode, err, latest.Seq, last.Seq)
		}
		_ = a.Release(ctx)
	})
}

func TestDashboardSnapshotSeq(t *testing.T) {
	t.Parallel()
	s := newDashServer(dashboardConfig{interval: time.Second, source: fakeSource()}, true)
	t0 := time.Now()
	for i := range dashboardRingSize + 5 {
		s.publish(&inspect.Report{Version: 1, Time: t0.Add(time.Duration(i) * time.Second), Health: "healthy"}, nil, 0, t0)
	}
	for _, tt := range []struct {
		query string
		code  int
	}{
		{"", 200},
		{"?seq=6", 200},
		{"?seq=305", 200},
		{"?seq=5", 404},
		{"?seq=306", 404},
		{"?seq=0", 400},
		{"?seq=-1", 400},
		{"?seq=abc", 400},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1/api/snapshot"+tt.query, nil)
		rec := newRecorder()
		s.ServeHTTP(rec, req)
		if rec.code != tt.code {
			t.Errorf("%q: status %d, want %d (%s)", tt.query, rec.code, tt.code, rec.body.String())
		}
		if tt.code == 200 {
			var r inspect.Report
			if err := json.Unmarshal(rec.body.Bytes(), &r); err != nil {
				t.Fatalf("%q: %v", tt.query, err)
			}
			want := uint64(dashboardRingSize + 5)
			if tt.query != "" {
				want, _ = strconv.ParseUint(strings.TrimPrefix(tt.query, "?seq="), 10, 64)
			}
			if r.Seq != want {
				t.Errorf("%q: seq %d, want %d", tt.query, r.Seq, want)
			}
		}
	}
}

// TestDashboardFirstCollectionFails: before any good collection, a failed
// one is published in the documented shape: lists empty (never null),
// health "unknown", and the error in the dashboard object.
func TestDashboardFirstCollectionFails(t *testing.T) {
	t.Parallel()
	s := newDashServer(dashboardConfig{interval: time.Second, source: fakeSource()}, true)
	s.publish(nil, errors.New("redis down"), 0, time.Now())
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1/api/snapshot", nil)
	rec := newRecorder()
	s.ServeHTTP(rec, req)
	var raw map[string]any
	if err := json.Unmarshal(rec.body.Bytes(), &raw); err != nil || rec.code != 200 {
		t.Fatalf("status %d, %v: %s", rec.code, err, rec.body.String())
	}
	for _, k := range []string{"pools", "queues", "locks", "lock_pools", "workers", "findings"} {
		if _, ok := raw[k].([]any); !ok {
			t.Errorf("%s is %v, not a list", k, raw[k])
		}
	}
	d, _ := raw["dashboard"].(map[string]any)
	if raw["health"] != "unknown" || d == nil || d["error"] != "redis down" {
		t.Errorf("health %v, dashboard %v", raw["health"], raw["dashboard"])
	}
}

// recorder is a minimal ResponseWriter (httptest.ResponseRecorder would do,
// but this keeps the flusher out of the picture).
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}, code: 200} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// TestDashboardSlowViewer: a viewer that reads nothing never holds up the
// broadcasts, and when it reads it gets the latest.
func TestDashboardSlowViewer(t *testing.T) {
	t.Parallel()
	s := newDashServer(dashboardConfig{interval: time.Second, source: fakeSource()}, true)
	ch, _ := s.subscribe()
	defer s.unsubscribe(ch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			s.publish(&inspect.Report{Version: 1, Time: time.Now()}, nil, 0, time.Now())
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publish blocked on a viewer that reads nothing")
	}
	if f := <-ch; f.seq != 1000 {
		t.Errorf("the slow viewer got seq %d, want the latest, 1000", f.seq)
	}
}

func TestDashboardRatesAndErrors(t *testing.T) {
	t.Parallel()
	s := newDashServer(dashboardConfig{interval: time.Second, source: fakeSource()}, true)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := func(sec int, allocs int64) *inspect.Report {
		return &inspect.Report{
			Version: 1, Time: t0.Add(time.Duration(sec) * time.Second), Health: "healthy",
			// Fences jump with the clock: the rate must not follow them.
			Pools: []inspect.Pool{{Name: "p", Allocations: allocs, Fence: 1_800_000_000_000_000 + int64(sec)*1_000_000}},
		}
	}
	s.publish(rep(0, 100), nil, 0, t0)
	s.publish(rep(1, 110), nil, 0, t0)
	s.publish(rep(3, 150), nil, 0, t0)
	s.publish(nil, errors.New("redis: connection refused"), 0, t0)
	s.publish(rep(4, 3), nil, 0, t0) // pool recreated (or writes lost): the count went back, no point
	s.publish(rep(5, 8), nil, 0, t0) // counted from the reset on

	var frames []dashEvent
	for seq := uint64(1); seq <= 6; seq++ {
		f, _, _ := s.frame(seq)
		var ev dashEvent
		if err := json.Unmarshal(f.body, &ev); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, ev)
	}
	rates := frames[2].Dashboard.Rates
	if len(rates) != 1 || len(rates[0].Points) != 2 || rates[0].Points[0].PerSec != 10 || rates[0].Points[1].PerSec != 20 {
		t.Errorf("rates after three reports: %+v, want p: 10/s then 20/s", rates)
	}
	failed := frames[3]
	if failed.Seq != 4 || failed.Dashboard.Error == "" || len(failed.Pools) != 1 || failed.Pools[0].Allocations != 150 {
		t.Errorf("failed collection: seq %d error %q pools %+v; want seq 4, the error and the last good report", failed.Seq, failed.Dashboard.Error, failed.Pools)
	}
	if pts := frames[4].Dashboard.Rates[0].Points; len(pts) != 2 {
		t.Errorf("a count that went back added a point: %+v", pts)
	}
	if pts := frames[5].Dashboard.Rates[0].Points; len(pts) != 3 || pts[2].PerSec != 5 {
		t.Errorf("after the reset: %+v, want a third point of 5/s", pts)
	}
	if frames[4].Dashboard.IntervalMillis != 1000 {
		t.Errorf("interval_ms %d, want 1000", frames[4].Dashboard.IntervalMillis)
	}
}

// TestDashboardScriptLoad: each good report gets the script load since the
// last good one, a failure in between included, and its findings with it.
func TestDashboardScriptLoad(t *testing.T) {
	t.Parallel()
	s := newDashServer(dashboardConfig{interval: time.Second, source: fakeSource()}, true)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := func(sec int, calls, usec int64) *inspect.Report {
		at := t0.Add(time.Duration(sec) * time.Second)
		r := &inspect.Report{
			Version: 1, Time: at, Prefix: "x",
			Redis: &inspect.Redis{Nodes: []inspect.Node{{Addr: "n:6379", ScriptCalls: calls, ScriptMicros: usec, ScriptStatsAt: at}}},
		}
		inspect.Diagnose(r) // as Collect does
		return r
	}
	s.publish(rep(0, 100, 0), nil, 0, t0)
	s.publish(rep(1, 200, 100_000), nil, 0, t0) // 10% busy: no finding
	s.publish(nil, errors.New("redis: connection refused"), 0, t0)
	s.publish(rep(3, 400, 1_700_000), nil, 0, t0) // 1.6 s of 2 s: 80%

	var frames []dashEvent
	for seq := uint64(1); seq <= 4; seq++ {
		f, _, _ := s.frame(seq)
		var ev dashEvent
		if err := json.Unmarshal(f.body, &ev); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, ev)
	}
	if l := frames[0].Redis.Nodes[0].ScriptLoad; l != nil {
		t.Errorf("first report: script load %+v, want none", l)
	}
	if l := frames[1].Redis.Nodes[0].ScriptLoad; l == nil || l.Seconds != 1 || l.CallsPerSecond != 100 || l.BusyRatio != 0.1 {
		t.Errorf("second report: script load %+v, want 1 s, 100 calls/s, 0.1", l)
	}
	if len(frames[1].Findings) != 0 || frames[1].Health != inspect.HealthHealthy {
		t.Errorf("second report: health %s, findings %+v", frames[1].Health, frames[1].Findings)
	}
	last := frames[3]
	if l := last.Redis.Nodes[0].ScriptLoad; l == nil || l.Seconds != 2 || l.BusyRatio != 0.8 {
		t.Errorf("after a failure: script load %+v, want 2 s since the last good report, 0.8", l)
	}
	if len(last.Findings) != 1 || last.Findings[0].Code != inspect.CodeHighEvalPressure ||
		last.Findings[0].Severity != inspect.SeverityWarning || last.Health != inspect.HealthDegraded {
		t.Errorf("after a failure: health %s, findings %+v; want a high-eval-pressure warning", last.Health, last.Findings)
	}
}

// TestDashboardNoExternalResources: the embedded page loads nothing from
// elsewhere (no CDN), and has no inline script or style the CSP would block.
func TestDashboardNoExternalResources(t *testing.T) {
	t.Parallel()
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	n := 0
	err := fs.WalkDir(dashboardWeb, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := dashboardWeb.ReadFile(path)
		if err != nil {
			return err
		}
		// The SVG namespace is a name, never fetched.
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, m := range url.FindAllString(s, -1) {
			t.Errorf("%s references %q", path, m)
		}
		for _, bad := range []string{"@import", "<iframe", "import(", "eval(", "new Function", "innerHTML", " style=", "javascript:"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Errorf("only %d embedded files", n)
	}
	index, _ := dashboardWeb.ReadFile("web/index.html")
	if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).Match(index) || strings.Contains(string(index), "<style") {
		t.Errorf("index.html has an inline script or style")
	}
}

// TestDemoDashboard runs the demo with --dashboard and reads the demo's
// pool from the dashboard while it runs.
func TestDemoDashboard(t *testing.T) {
	t.Parallel()
	o := defaultDemoOptions()
	o.duration = 3 * time.Second
	o.interval = 200 * time.Millisecond
	o.dashboard = "127.0.0.1:0"
	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- runDemo(t.Context(), out, o) }()

	var u string
	deadline := time.Now().Add(20 * time.Second)
	for u == "" && time.Now().Before(deadline) {
		if m := regexp.MustCompile(`(?m)^dashboard: (http://\S+/)$`).FindStringSubmatch(out.String()); m != nil {
			u = m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if u == "" {
		t.Fatalf("no dashboard URL printed:\n%s", out.String())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var r inspect.Report
	for time.Now().Before(deadline) {
		res, err := c.Get(u + "api/snapshot")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(&r)
		_ = res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Pools) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(r.Pools) != 1 || r.Pools[0].Name != demoPoolName || r.Pools[0].Total != o.proxies {
		t.Errorf("dashboard report pools %+v, want %s with %d members", r.Pools, demoPoolName, o.proxies)
	}
	err := <-errc
	checkReport(t, err, out.String())
	// The dashboard stops with the demo.
	if res, err := c.Get(u + "api/healthz"); err == nil {
		_ = res.Body.Close()
		t.Errorf("the dashboard still answers after the demo ended")
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDashboardEnvRedis: without --redis the dashboard uses $REDIS_URL, as
// inspect and diagnose do.
func TestDashboardEnvRedis(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	url := backendURL(b)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	e := env{stdout: stdout, stderr: stderr, getenv: func(k string) string {
		return map[string]string{"REDIS_URL": url}[k]
	}}
	codec := make(chan int, 1)
	go func() {
		codec <- run(ctx, e, []string{"dashboard", "--prefix", "envtest", "--listen", "127.0.0.1:0", "--interval", "50ms"})
	}()
	re := regexp.MustCompile(`(?m)^dashboard: (http://\S+/)$`)
	var u string
	for deadline := time.Now().Add(20 * time.Second); u == "" && time.Now().Before(deadline); {
		select {
		case code := <-codec:
			t.Fatalf("dashboard exited %d before serving; stderr:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			u = m[1]
		}
	}
	if u == "" {
		t.Fatalf("no dashboard URL printed; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), url) {
		t.Errorf("the dashboard does not say it reads %s:\n%s", url, stdout.String())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(u + "api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	var r inspect.Report
	err = json.NewDecoder(res.Body).Decode(&r)
	_ = res.Body.Close()
	if err != nil || r.Prefix != "envtest" || r.Seq == 0 {
		t.Errorf("snapshot: %v, prefix %q seq %d; want prefix envtest", err, r.Prefix, r.Seq)
	}
	// Nothing lives under envtest: said at start, and as a finding.
	if !strings.Contains(stderr.String(), `warning: nothing found under prefix "envtest"`) ||
		len(r.Findings) != 1 || r.Findings[0].Code != inspect.CodeEmptyPrefix {
		t.Errorf("empty prefix: stderr %q, findings %+v", stderr.String(), r.Findings)
	}
	cancel()
	if code := <-codec; code != exitOK {
		t.Errorf("exit %d after the interrupt, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
}

// TestDashboardRingBytes: the history is bounded by its encoded size as
// well as by count, always keeping the latest few; an evicted seq is 404.
func TestDashboardRingBytes(t *testing.T) {
	t.Parallel()
	s := newDashServer(dashboardConfig{interval: time.Second, source: fakeSource()}, true)
	s.ringBytes = 64 << 10
	big := func(members int) *inspect.Report {
		p := inspect.Pool{Name: "big", Total: members}
		for i := range members {
			p.Members = append(p.Members, inspect.Member{Key: fmt.Sprintf("member-%06d", i), State: "free"})
		}
		return &inspect.Report{Version: 1, Time: time.Now(), Health: "healthy", Pools: []inspect.Pool{p}}
	}
	// About 10 KB each: the budget holds about six, far fewer than the count.
	for range 50 {
		s.publish(big(200), nil, 0, time.Now())
	}
	kept := func() (n, total int, first uint64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, f := range s.ring {
			total += len(f.body)
		}
		if total != s.ringTotal {
			t.Errorf("ringTotal %d, but the bodies add up to %d", s.ringTotal, total)
		}
		return len(s.ring), total, s.ring[0].seq
	}
	n, total, first := kept()
	if total > s.ringBytes || n < dashboardRingMin || n >= 50 {
		t.Errorf("kept %d frames of %d bytes in all; want at least %d within %d bytes", n, total, dashboardRingMin, s.ringBytes)
	}
	if first != 50-uint64(n)+1 {
		t.Errorf("first kept seq %d with %d kept of 50: not the latest", first, n)
	}
	get := func(seq uint64) int {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("http://127.0.0.1/api/snapshot?seq=%d", seq), nil)
		rec := newRecorder()
		s.ServeHTTP(rec, req)
		return rec.code
	}
	if c := get(first - 1); c != http.StatusNotFound {
		t.Errorf("evicted seq %d: status %d, want 404", first-1, c)
	}
	if c := get(first); c != http.StatusOK {
		t.Errorf("kept seq %d: status %d, want 200", first, c)
	}
	// Reports each larger than the whole budget: the latest few stay.
	for range 10 {
		s.publish(big(2000), nil, 0, time.Now())
	}
	if n, _, first := kept(); n != dashboardRingMin || first != 60-dashboardRingMin+1 {
		t.Errorf("with oversized reports: kept %d from seq %d, want the latest %d", n, first, dashboardRingMin)
	}
	if c := get(60); c != http.StatusOK {
		t.Errorf("latest seq: status %d", c)
	}
}

// TestDashboardAdaptiveInterval: a slow collection stretches the time to
// the next one to dashboardLoadFactor times its duration, and the payload
// says so.
func TestDashboardAdaptiveInterval(t *testing.T) {
	t.Parallel()
	const took = 80 * time.Millisecond
	var mu sync.Mutex
	var starts []time.Time
	inner := fakeSource()
	slow := func(ctx context.Context) (*inspect.Report, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(took)
		return inner(ctx)
	}
	dt := startDashTest(t, dashboardConfig{interval: 50 * time.Millisecond, source: slow})
	es := openEvents(t, dt, nil)
	var last dashEvent
	for last.Seq < 4 {
		last = es.next(t)
	}
	if m := last.Dashboard; m.IntervalMillis != 50 || m.CollectMillis < took.Milliseconds() ||
		m.EffectiveMillis < dashboardLoadFactor*m.CollectMillis || m.EffectiveMillis >= dashboardLoadFactor*(m.CollectMillis+1) {
		t.Errorf("seq %d: interval_ms %d, collect_ms %d, effective_interval_ms %d; want 50, at least %d, and %d times collect_ms",
			last.Seq, m.IntervalMillis, m.CollectMillis, m.EffectiveMillis, took.Milliseconds(), dashboardLoadFactor)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(starts); i++ {
		// Each gap is at least 5 × 80ms; the configured 50ms would allow 80.
		if gap := starts[i].Sub(starts[i-1]); gap < dashboardLoadFactor*took*9/10 {
			t.Errorf("collection %d started %v after the previous, want at least %v", i+1, gap, dashboardLoadFactor*took)
		}
	}

	// A fast source keeps the configured interval, unless this collection
	// of the in-memory source itself stalled over 10ms (a loaded machine).
	fast := startDashTest(t, dashboardConfig{interval: 50 * time.Millisecond, source: fakeSource()})
	m := openEvents(t, fast, nil).next(t).Dashboard
	lo, hi := max(50, dashboardLoadFactor*m.CollectMillis), max(50, dashboardLoadFactor*(m.CollectMillis+1))
	if m.EffectiveMillis < lo || m.EffectiveMillis > hi {
		t.Errorf("fast source: effective_interval_ms %d after a %dms collection, want 50 (or 5 × the collection)", m.EffectiveMillis, m.CollectMillis)
	}
}
