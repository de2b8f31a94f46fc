package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
)

// The dashboard: one collection loop per server reads a report every
// interval (stretched when collections are slow, to bound the load on
// Redis) and broadcasts it, numbered, to every viewer over server-sent
// events; the last reports stay in a ring, bounded by count and by bytes,
// so /api/snapshot?seq=N returns exactly what broadcast N carried. The
// page is embedded in the binary.

// Dashboard defaults and limits.
const (
	defaultDashboardAddr     = "127.0.0.1:8765"
	defaultDashboardInterval = time.Second
	// dashboardTokenEnv supplies the token when --token is not given, so it
	// need not show in the process list.
	dashboardTokenEnv = "REDISALLOC_DASHBOARD_TOKEN"
	minDashboardToken = 16
	dashboardRingSize = 300 // reports kept for /api/snapshot?seq=N
	// dashboardRingBytes bounds the encoded size of the reports kept: one
	// report of a 100k-member pool is about 6 MB, so 300 of them would be
	// gigabytes. The latest dashboardRingMin are kept whatever their size.
	dashboardRingBytes = 32 << 20
	dashboardRingMin   = 3
	// dashboardLoadFactor stretches the interval to this many times the
	// last collection's duration, so the dashboard takes at most 1/5 of
	// Redis's time however large the prefix grows.
	dashboardLoadFactor = 5
	dashboardRatePoints = 120 // points per rate series
	dashboardCookie     = "redisalloc_dashboard"
	dashboardHeartbeat  = 15 * time.Second
	// A viewer that cannot take one event within this long is dropped; its
	// EventSource reconnects.
	dashboardWriteTimeout = 30 * time.Second
	// A request for a snapshot before the first collection waits this long.
	dashboardFirstWait = 10 * time.Second
)

// dashboardCSP allows only the page's own files: no inline script or
// style, no framing, no forms.
const dashboardCSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

// Errors of the dashboard's configuration.
var (
	errDashboardAddr  = errors.New("dashboard: bad listen address")
	errDashboardToken = errors.New("dashboard: token required")
)

//go:embed web
var dashboardWeb embed.FS

// reportSource reads one report; the dashboard calls it once per interval.
type reportSource func(ctx context.Context) (*inspect.Report, error)

// dashboardConfig configures startDashboard.
type dashboardConfig struct {
	addr     string // host:port; port 0 picks a free one
	token    string // empty: none required (loopback only)
	interval time.Duration
	source   reportSource
	// ops reads tasks and runs the actions; nil serves no task view and
	// no action.
	ops *dashOps
	// allowActions enables the actions (POST /api/actions/...); off, the
	// dashboard only reads.
	allowActions bool
	// log receives one record per action tried; nil discards them.
	log *slog.Logger
	// extra are more routes (path -> handler), behind the same checks:
	// the command adds /metrics and /healthz.
	extra map[string]http.HandlerFunc
}

// checkDashboardListen validates a listen address and token: a
// non-loopback address needs a token, and a token must be long enough to
// resist guessing and safe in a header. It returns whether addr is
// loopback.
func checkDashboardListen(addr, token string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%w %q: %w", errDashboardAddr, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return false, fmt.Errorf("%w %q: port must be a number from 0 to 65535", errDashboardAddr, addr)
	}
	loopback = loopbackHost(host)
	if token != "" {
		if len(token) < minDashboardToken {
			return loopback, fmt.Errorf("%w: the token must be at least %d characters", errDashboardToken, minDashboardToken)
		}
		for _, c := range []byte(token) {
			if c <= ' ' || c > '~' {
				return loopback, fmt.Errorf("%w: the token must be printable ASCII without spaces", errDashboardToken)
			}
		}
	}
	if !loopback && token == "" {
		return false, fmt.Errorf("%w: %q is not a loopback address, so --token (or %s) must be set", errDashboardToken, addr, dashboardTokenEnv)
	}
	return loopback, nil
}

// loopbackHost reports whether host (no port) names this machine only:
// localhost or a loopback IP. An empty host means every interface.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dashboard is a running dashboard server.
type dashboard struct {
	URL  string // http://host:port/
	srv  *http.Server
	stop context.CancelFunc
	done chan struct{}
}

// startDashboard listens on cfg.addr and serves the dashboard, collecting
// from cfg.source, until ctx ends or Stop is called.
func startDashboard(ctx context.Context, cfg dashboardConfig) (*dashboard, error) {
	if cfg.source == nil {
		return nil, errors.New("dashboard: no report source")
	}
	if cfg.interval <= 0 {
		cfg.interval = defaultDashboardInterval
	}
	loopback, err := checkDashboardListen(cfg.addr, cfg.token)
	if err != nil {
		return nil, err
	}
	s := newDashServer(cfg, loopback)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDashboardAddr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &dashboard{
		URL:  "http://" + ln.Addr().String() + "/",
		stop: cancel,
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           s,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    64 << 10,
			// Request contexts end with the server, which ends the event
			// streams that Shutdown would otherwise wait for.
			BaseContext: func(net.Listener) context.Context { return ctx },
		},
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx) })
	wg.Go(func() { _ = d.srv.Serve(ln) })
	wg.Go(func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = d.srv.Shutdown(sctx)
	})
	go func() {
		wg.Wait()
		close(d.done)
	}()
	return d, nil
}

// Stop stops the server and its collection loop and waits for them.
func (d *dashboard) Stop() {
	d.stop()
	<-d.done
}

// dashFrame is one broadcast: its number and the JSON it carried.
type dashFrame struct {
	seq  uint64
	body []byte
}

// dashPayload is what a broadcast carries: the report (its fields at the
// top level, as inspect --json prints them) plus the dashboard's own part.
type dashPayload struct {
	*inspect.Report
	Dashboard dashMeta `json:"dashboard"`
}

// dashMeta is the dashboard's part of a broadcast.
type dashMeta struct {
	// IntervalMillis is the configured interval.
	IntervalMillis int64 `json:"interval_ms"`
	// EffectiveMillis is the time from the start of this collection to the
	// start of the next: the interval, or dashboardLoadFactor times this
	// collection's duration when that is longer.
	EffectiveMillis int64 `json:"effective_interval_ms"`
	// CollectMillis is how long this collection took.
	CollectMillis int64 `json:"collect_ms"`
	// Error is set when this collection failed; the report is then the
	// last good one (or empty), shown as stale.
	Error string `json:"error,omitempty"`
	// Rates are allocations per second per pool, from the pools' counts of
	// leases granted (inspect.Pool.Allocations) between collections, oldest
	// point first.
	Rates []rateSeries `json:"rates"`
}

type rateSeries struct {
	Pool   string      `json:"pool"`
	Points []ratePoint `json:"points"`
}

type ratePoint struct {
	Time   time.Time `json:"t"`
	PerSec float64   `json:"v"`
}

// dashServer is the dashboard's HTTP handler and collection loop. It is
// safe for concurrent use.
type dashServer struct {
	source    reportSource
	interval  time.Duration
	token     string
	loopback  bool
	heartbeat time.Duration
	routes    map[string]http.HandlerFunc
	// ops, allowActions, log, csrf and cop serve the task views and the
	// actions (dashboard_actions.go).
	ops          *dashOps
	allowActions bool
	log          *slog.Logger
	csrf         string
	cop          *http.CrossOriginProtection
	// ringBytes bounds the total body size of the ring (tests lower it).
	ringBytes int

	mu        sync.Mutex // guards the fields below
	seq       uint64
	ring      []*dashFrame // oldest first
	ringTotal int          // sum of len(body) over ring
	subs      map[chan *dashFrame]struct{}
	rates     rateTracker
	queues    queueTracker
	last      *inspect.Report // last good report
	ready     chan struct{}   // closed by the first broadcast
}

func newDashServer(cfg dashboardConfig, loopback bool) *dashServer {
	s := &dashServer{
		source:    cfg.source,
		interval:  cfg.interval,
		token:     cfg.token,
		loopback:  loopback,
		heartbeat: dashboardHeartbeat,
		ringBytes: dashboardRingBytes,
		subs:      map[chan *dashFrame]struct{}{},
		ready:     make(chan struct{}),
		rates:     rateTracker{prev: map[string]countAt{}, series: map[string][]ratePoint{}},
		queues:    queueTracker{series: map[string][]queuePoint{}},
		ops:       cfg.ops, allowActions: cfg.allowActions, log: cfg.log,
		csrf: newCSRFToken(), cop: http.NewCrossOriginProtection(),
	}
	if s.log == nil {
		s.log = discardLogger
	}
	s.routes = map[string]http.HandlerFunc{
		"/":             s.static("index.html", "text/html; charset=utf-8"),
		"/app.js":       s.static("app.js", "text/javascript; charset=utf-8"),
		"/style.css":    s.static("style.css", "text/css; charset=utf-8"),
		"/favicon.svg":  s.static("favicon.svg", "image/svg+xml"),
		"/api/snapshot": s.snapshot,
		"/api/events":   s.events,
		"/api/healthz":  s.healthz,
		"/api/session":  s.session,
		// Not in the broadcasts: a viewer asks for the queue it shows, so
		// many queues do not make every broadcast larger.
		"/api/queue-series": s.queueSeries,
	}
	if s.ops != nil {
		s.routes["/api/tasks"] = s.tasks
		s.routes["/api/task"] = s.task
		s.routes["/api/schedules"] = s.schedules
	}
	for path, h := range cfg.extra {
		s.routes[path] = h
	}
	return s
}

// run collects until ctx ends. Each collection starts the effective
// interval after the previous one started (see effectiveInterval).
func (s *dashServer) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		start := time.Now()
		next := s.collect(ctx)
		t.Reset(time.Until(start.Add(next)))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// effectiveInterval is the time from the start of a collection that took
// took to the start of the next: a full Collect of a large prefix is heavy
// on Redis, so it runs at most 1/dashboardLoadFactor of the time.
func (s *dashServer) effectiveInterval(took time.Duration) time.Duration {
	return max(s.interval, dashboardLoadFactor*took)
}

// collect reads one report, broadcasts it and returns the effective
// interval until the next.
func (s *dashServer) collect(ctx context.Context) time.Duration {
	cctx, cancel := context.WithTimeout(ctx, max(5*s.interval, 10*time.Second))
	start := time.Now()
	rep, err := s.source(cctx)
	took := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return s.interval // stopping: not a Redis failure
	}
	if err == nil && rep == nil {
		err = errors.New("no report")
	}
	s.publish(rep, err, took, time.Now())
	return s.effectiveInterval(took)
}

// publish numbers a report (or a failure) that took took to collect, adds
// the script load since the last good report (and its findings), keeps it
// in the ring and sends it to every viewer without waiting for any.
func (s *dashServer) publish(rep *inspect.Report, err error, took time.Duration, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	meta := dashMeta{
		IntervalMillis:  s.interval.Milliseconds(),
		EffectiveMillis: s.effectiveInterval(took).Milliseconds(),
		CollectMillis:   took.Milliseconds(),
	}
	if err != nil {
		meta.Error = err.Error()
		rep = s.last
		if rep == nil {
			// Nothing read yet: the documented shape, and a health that
			// says so.
			rep = inspect.NewReport("", now)
			rep.Health = "unknown"
		}
	} else {
		if s.last != nil && s.last != rep {
			// Script load needs two readings: the last good report is the
			// earlier one, however many failures came between (the
			// counters are cumulative). rep is not published yet, so
			// changing it here races with no viewer.
			inspect.ScriptLoadSince(s.last, rep)
			inspect.Diagnose(rep)
		}
		s.last = rep
		s.rates.add(rep)
		s.queues.add(rep)
	}
	meta.Rates = s.rates.snapshot()
	r := *rep // shallow: only Seq differs, the slices are never changed
	r.Seq = s.seq
	body, merr := json.Marshal(dashPayload{Report: &r, Dashboard: meta})
	if merr != nil {
		// Not expected for these types; still a numbered frame, so viewers
		// see it.
		body, _ = json.Marshal(map[string]any{
			"version": inspect.SchemaVersion, "seq": s.seq,
			"dashboard": dashMeta{
				IntervalMillis: meta.IntervalMillis, EffectiveMillis: meta.EffectiveMillis,
				CollectMillis: meta.CollectMillis, Error: "encoding the report: " + merr.Error(),
			},
		})
	}
	f := &dashFrame{seq: s.seq, body: body}
	s.ring = append(s.ring, f)
	s.ringTotal += len(body)
	// Oldest first, keeping the count and the bytes within bounds, but
	// never fewer than the latest few.
	drop := 0
	for n := len(s.ring) - drop; n > dashboardRingSize || (n > dashboardRingMin && s.ringTotal > s.ringBytes); n-- {
		s.ringTotal -= len(s.ring[drop].body)
		drop++
	}
	if drop > 0 {
		// A fresh array, so the dropped bodies are not pinned by the old one.
		s.ring = slices.Clone(s.ring[drop:])
	}
	if s.seq == 1 {
		close(s.ready)
	}
	for ch := range s.subs {
		// A viewer that has not taken the previous frame gets this one
		// instead: slow viewers skip to the latest, the loop never waits.
		select {
		case ch <- f:
		default:
			select {
			case <-ch:
			default:
			}
			ch <- f // the only sender holds s.mu, so there is room now
		}
	}
}

// latest returns the newest frame, nil before the first.
func (s *dashServer) latest() *dashFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) == 0 {
		return nil
	}
	return s.ring[len(s.ring)-1]
}

// frame returns broadcast seq, or the range kept when it is gone.
func (s *dashServer) frame(seq uint64) (f *dashFrame, first, last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) == 0 {
		return nil, 0, 0
	}
	first, last = s.ring[0].seq, s.ring[len(s.ring)-1].seq
	if seq < first || seq > last {
		return nil, first, last
	}
	return s.ring[seq-first], first, last // seqs in the ring are consecutive
}

func (s *dashServer) subscribe() (chan *dashFrame, *dashFrame) {
	ch := make(chan *dashFrame, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[ch] = struct{}{}
	var f *dashFrame
	if len(s.ring) > 0 {
		f = s.ring[len(s.ring)-1]
	}
	return ch, f
}

func (s *dashServer) unsubscribe(ch chan *dashFrame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, ch)
}

// countAt is a pool's count of leases granted at a report's time.
type countAt struct {
	n int64
	t time.Time
}

// rateTracker turns successive reports into allocation-rate series, from
// each pool's count of leases granted (never from fences: they jump with
// the server's clock). It is guarded by dashServer.mu.
type rateTracker struct {
	prev   map[string]countAt
	series map[string][]ratePoint
}

func (rt *rateTracker) add(rep *inspect.Report) {
	seen := map[string]bool{}
	for _, p := range rep.Pools {
		seen[p.Name] = true
		prev, ok := rt.prev[p.Name]
		rt.prev[p.Name] = countAt{p.Allocations, rep.Time}
		dt := rep.Time.Sub(prev.t).Seconds()
		// A count that went back is a reset (the pool's keys deleted and
		// created again, or writes Redis lost): no point, never a negative
		// rate; the next report counts from the new value.
		if !ok || dt <= 0 || p.Allocations < prev.n {
			if _, ok := rt.series[p.Name]; !ok {
				rt.series[p.Name] = []ratePoint{}
			}
			continue
		}
		pts := append(rt.series[p.Name], ratePoint{Time: rep.Time, PerSec: float64(p.Allocations-prev.n) / dt})
		if len(pts) > dashboardRatePoints {
			pts = slices.Delete(pts, 0, len(pts)-dashboardRatePoints)
		}
		rt.series[p.Name] = pts
	}
	// Pools gone from the report leave the chart.
	for name := range rt.prev {
		if !seen[name] {
			delete(rt.prev, name)
			delete(rt.series, name)
		}
	}
}

// snapshot copies the series, sorted by pool name.
func (rt *rateTracker) snapshot() []rateSeries {
	out := make([]rateSeries, 0, len(rt.series))
	for name, pts := range rt.series {
		out = append(out, rateSeries{Pool: name, Points: slices.Clone(pts)})
	}
	slices.SortFunc(out, func(a, b rateSeries) int { return strings.Compare(a.Pool, b.Pool) })
	return out
}

// queueSeries is one queue's counts over time.
type queueSeries struct {
	Queue  string       `json:"queue"`
	Points []queuePoint `json:"points"`
	// Paused is task.Inspector.Paused, when it could be read.
	Paused *bool `json:"paused,omitempty"`
}

// queuePoint is a queue's counts in one report. NewDead is the growth of
// the dead-letter set since the previous report, per second: tasks that
// failed for good, less any requeued or deleted meanwhile, so a lower
// bound (never negative); null on a queue's first point.
//
// From the queue's counters (task.Stats) since the previous report:
// Processed is the tasks finished (succeeded or failed for good) per
// second, Failed the attempts that failed (for good or retried) per
// second, and LatencyMS the mean run time (claim to finish) of the
// attempts finished meanwhile; each null on a first point, when a counter
// went back (Redis lost writes), and LatencyMS also when none finished.
type queuePoint struct {
	Time      time.Time `json:"t"`
	Ready     int       `json:"ready"`
	Delayed   int       `json:"delayed"`
	Running   int       `json:"running"`
	Dead      int       `json:"dead"`
	NewDead   *float64  `json:"new_dead"`
	Processed *float64  `json:"processed"`
	Failed    *float64  `json:"failed"`
	LatencyMS *float64  `json:"latency_ms"`

	succeeded, failed, retried, runMS int64 // the counters, for the next point
}

// queueTracker keeps each queue's last dashboardRatePoints counts. It is
// guarded by dashServer.mu.
type queueTracker struct {
	series map[string][]queuePoint
}

func (qt *queueTracker) add(rep *inspect.Report) {
	seen := map[string]bool{}
	for _, q := range rep.Queues {
		seen[q.Name] = true
		pt := queuePoint{
			Time: rep.Time, Ready: q.Ready, Delayed: q.Delayed, Running: q.Running, Dead: q.Dead,
			succeeded: q.Succeeded, failed: q.Failed, retried: q.Retried, runMS: q.RunTimeMillis,
		}
		pts := qt.series[q.Name]
		if n := len(pts); n > 0 {
			if dt := rep.Time.Sub(pts[n-1].Time).Seconds(); dt > 0 {
				v := float64(max(q.Dead-pts[n-1].Dead, 0)) / dt
				pt.NewDead = &v
				pt.counterRates(pts[n-1], dt)
			}
		}
		pts = append(pts, pt)
		if len(pts) > dashboardRatePoints {
			pts = slices.Delete(pts, 0, len(pts)-dashboardRatePoints)
		}
		qt.series[q.Name] = pts
	}
	for name := range qt.series {
		if !seen[name] {
			delete(qt.series, name)
		}
	}
}

// counterRates sets p's rates from the counters' growth since prev, dt
// seconds before; none when a counter went back.
func (p *queuePoint) counterRates(prev queuePoint, dt float64) {
	ds, df, dr, dms := p.succeeded-prev.succeeded, p.failed-prev.failed, p.retried-prev.retried, p.runMS-prev.runMS
	if ds < 0 || df < 0 || dr < 0 || dms < 0 {
		return
	}
	processed, failed := float64(ds+df)/dt, float64(df+dr)/dt
	p.Processed, p.Failed = &processed, &failed
	if n := ds + df + dr; n > 0 {
		lat := float64(dms) / float64(n)
		p.LatencyMS = &lat
	}
}

// get copies one queue's series (no points for a queue not seen).
func (qt *queueTracker) get(name string) queueSeries {
	return queueSeries{Queue: name, Points: append([]queuePoint{}, qt.series[name]...)}
}

// ServeHTTP checks the Host (on loopback), the token, the path (exactly)
// and the method, in that order, then serves the route. Every response is
// uncacheable and carries a strict CSP.
func (s *dashServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	name, isAction := strings.CutPrefix(r.URL.Path, "/api/actions/")
	if s.loopback && !loopbackHost(hostOnly(r.Host)) {
		if isAction {
			s.log.Warn("dashboard action refused", "action", name, "remote", r.RemoteAddr, "status", http.StatusForbidden, "reason", "Host "+r.Host+" is not a loopback name")
		}
		// A page elsewhere could point its own name at 127.0.0.1 (DNS
		// rebinding) and read the dashboard; a loopback server answers to
		// loopback names only.
		http.Error(w, "forbidden: this dashboard answers to localhost names only", http.StatusForbidden)
		return
	}
	auth, ok := s.authorized(w, r)
	if !ok {
		if isAction {
			s.log.Warn("dashboard action refused", "action", name, "remote", r.RemoteAddr, "status", http.StatusUnauthorized, "reason", "no or wrong token")
		}
		h.Set("WWW-Authenticate", `Bearer realm="redisalloc dashboard"`)
		http.Error(w, "unauthorized: send Authorization: Bearer <token>, or open /?token=<token> once", http.StatusUnauthorized)
		return
	}
	if isAction {
		if r.Method != http.MethodPost {
			h.Set("Allow", "POST")
			s.log.Warn("dashboard action refused", "action", name, "remote", r.RemoteAddr, "status", http.StatusMethodNotAllowed, "reason", "method "+r.Method)
			http.Error(w, "method not allowed: actions are POST", http.StatusMethodNotAllowed)
			return
		}
		s.doAction(w, r, name, auth)
		return
	}
	route, ok := s.routes[r.URL.Path]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.token != "" && r.URL.Query().Has("token") {
		// The token came in the URL: the cookie is set now, so take it out
		// of the address bar (and history) at once.
		q := r.URL.Query()
		q.Del("token")
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	route(w, r)
}

// hostOnly strips the port from a Host header.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// authorized checks the token (when one is set) from the Authorization
// header, the cookie, or ?token=, which also sets the cookie so that
// EventSource, which cannot send headers, works. how says which one
// passed ("none" without a token), for the action log.
func (s *dashServer) authorized(w http.ResponseWriter, r *http.Request) (how string, ok bool) {
	if s.token == "" {
		return "none", true
	}
	want := sha256.Sum256([]byte(s.token))
	match := func(v string) bool {
		got := sha256.Sum256([]byte(v))
		return subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		v, ok := strings.CutPrefix(auth, "Bearer ")
		return "bearer", ok && match(v)
	}
	// The cookie holds a hash of the token, not the token.
	ch := sha256.Sum256([]byte("redisalloc-dashboard-cookie:" + s.token))
	cookieValue := hex.EncodeToString(ch[:])
	if c, err := r.Cookie(dashboardCookie); err == nil &&
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(cookieValue)) == 1 {
		return "cookie", true
	}
	if r.URL.Query().Has("token") && match(r.URL.Query().Get("token")) {
		http.SetCookie(w, &http.Cookie{
			Name: dashboardCookie, Value: cookieValue, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode,
		})
		return "query", true
	}
	return "", false
}

func (s *dashServer) static(name, contentType string) http.HandlerFunc {
	body, err := dashboardWeb.ReadFile("web/" + name)
	if err != nil {
		panic("bug: embedded file missing: " + name)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
}

// snapshot serves the latest broadcast, or broadcast ?seq=N while it is in
// the ring.
func (s *dashServer) snapshot(w http.ResponseWriter, r *http.Request) {
	var f *dashFrame
	if v := r.URL.Query().Get("seq"); v != "" {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil || seq == 0 {
			http.Error(w, "bad seq: want a positive integer", http.StatusBadRequest)
			return
		}
		var first, last uint64
		if f, first, last = s.frame(seq); f == nil {
			http.Error(w, fmt.Sprintf("seq %d is not kept (kept: %d to %d)", seq, first, last), http.StatusNotFound)
			return
		}
	} else {
		t := time.NewTimer(dashboardFirstWait)
		defer t.Stop()
		select {
		case <-s.ready:
		case <-r.Context().Done():
			return
		case <-t.C:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "no data yet", http.StatusServiceUnavailable)
			return
		}
		f = s.latest()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
	_, _ = w.Write(f.body)
}

// queueSeries is GET /api/queue-series?queue=Q: queue Q's counts over
// time, oldest point first, and whether it is paused (read now, with
// Redis operations only). The paused flag is not in the reports: its
// lookup may move the data hash's rehashing on, and a collection leaves
// every key's DUMP as it was.
func (s *dashServer) queueSeries(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("queue")
	s.mu.Lock()
	qs := s.queues.get(name)
	s.mu.Unlock()
	if s.ops != nil && len(qs.Points) > 0 {
		if q, err := s.ops.queue(name); err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
			if p, err := q.Paused(ctx); err == nil {
				qs.Paused = &p
			}
			cancel()
		}
	}
	replyJSON(w, http.StatusOK, qs)
}

// healthz says whether the last collection worked, for probes.
func (s *dashServer) healthz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	n := len(s.ring)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if n == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "starting\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// events streams broadcasts as server-sent events: the latest at once,
// then each new one (a slow viewer skips to the newest), with heartbeat
// comments, until the viewer goes or the server stops.
func (s *dashServer) events(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	ch, f := s.subscribe()
	defer s.unsubscribe(ch)
	var sent uint64
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(dashboardWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	frame := func(f *dashFrame) bool {
		if f == nil || f.seq <= sent {
			return true
		}
		sent = f.seq
		msg := make([]byte, 0, len(f.body)+32)
		msg = fmt.Appendf(msg, "id: %d\ndata: ", f.seq)
		msg = append(msg, f.body...) // compact JSON: one line
		msg = append(msg, "\n\n"...)
		return send(msg)
	}
	w.WriteHeader(http.StatusOK)
	if !send([]byte("retry: 2000\n\n")) || !frame(f) {
		return
	}
	hb := time.NewTicker(s.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case f := <-ch:
			if !frame(f) {
				return
			}
		case <-hb.C:
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		}
	}
}

// dashboardOptions are the dashboard command's flags.
type dashboardOptions struct {
	// target's Redis URL and prefix are resolved as for inspect ($REDIS_URL
	// when --redis is absent); its timeout bounds the connection and the
	// first collection.
	target   cliTarget
	listen   string
	token    string
	interval time.Duration
	// fullReadLimit is inspect.Options.FullReadLimit.
	fullReadLimit int
	allowActions  bool
}

func dashboardFlags(o *dashboardOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.StringVar(&o.target.redisURL, "redis", o.target.redisURL,
		"Redis `URL`: redis://, rediss://, unix://, comma-separated cluster seeds\n(redis://h1:p1,h2:p2), or sentinels (redis-sentinel://s1,s2?master_set=NAME); default: $REDIS_URL")
	fs.StringVar(&o.target.prefix, "prefix", o.target.prefix, "key `prefix` of the pools, queues and workers to show (required)")
	fs.StringVar(&o.listen, "listen", o.listen,
		"`address` to serve on; port 0 picks a free one. A non-loopback address needs a token")
	fs.StringVar(&o.token, "token", o.token,
		"require this `token` on every request (at least 16 characters); default $"+dashboardTokenEnv)
	fs.BoolVar(&o.allowActions, "allow-actions", o.allowActions,
		"enable the actions (free a lease, quarantine a member; requeue, cancel, delete or run a task now;\n"+
			"pause or resume a queue), each confirmed in the page and logged to stderr; without it the\n"+
			"dashboard only reads")
	fs.DurationVar(&o.interval, "interval", o.interval, "how often to read Redis and update the viewers")
	fs.IntVar(&o.fullReadLimit, "full-read-limit", o.fullReadLimit,
		"show the members of pools of at most this many; larger pools show their counts only,\n"+
			"read at a cost that does not grow with them; -1 reads every pool whole")
	setHelp(fs, `usage: redisalloc dashboard [--redis URL] --prefix P [flags]

Serves a live web page of everything under a prefix: pools (free, held,
unhealthy, members, leases with session and fence, bindings), the
allocation rate, task queues (counts over time, their tasks by state and
each task's record), workers and the findings of diagnose, with each node's
script load between collections. It only reads unless --allow-actions is
given; then an operator can free a lease, quarantine a member, requeue,
cancel, delete or run a task now and pause or resume a queue from the
page, each confirmed there and logged to stderr.
One collection every --interval is shared by all viewers, who get it over
server-sent events; when a collection takes long, the next waits 5 times
as long, so Redis spends at most a fifth of its time on the dashboard. The
page is built into the binary and loads nothing from elsewhere.

It listens on 127.0.0.1 unless told otherwise; any other address needs a
token, which every request must then carry (Authorization: Bearer, or
open /?token=... once to get a cookie). Actions also need a same-origin
request and the page's CSRF token. Prints "dashboard: URL" once
listening; runs until interrupted. Exit status 2 for bad flags or an
unreachable Redis.

It also serves /metrics for Prometheus and /healthz (200 while Redis
answers), as redisalloc metrics does, behind the same token.

flags:
`)
	return fs
}

func defaultDashboardOptions() dashboardOptions {
	return dashboardOptions{
		target: cliTarget{timeout: connectTimeout},
		listen: defaultDashboardAddr, interval: defaultDashboardInterval,
		fullReadLimit: inspect.DefaultFullReadLimit,
	}
}

func dashboardUsage(w io.Writer) {
	o := defaultDashboardOptions()
	fs := dashboardFlags(&o)
	fs.SetOutput(w)
	fs.Usage()
}

// dashboardCommand is the dashboard subcommand.
func dashboardCommand(ctx context.Context, e env, args []string) int {
	o := defaultDashboardOptions()
	if code, ok := parseFlags(dashboardFlags(&o), e, args); !ok {
		return code
	}
	if o.token == "" {
		o.token = os.Getenv(dashboardTokenEnv)
	}
	usageErr := func(err error) int {
		fmt.Fprintf(e.stderr, "redisalloc dashboard: %v\n(see: redisalloc help dashboard)\n", err)
		return exitUsage
	}
	// The same rules as inspect and diagnose: --redis, else $REDIS_URL.
	if err := o.target.check(e); err != nil {
		return usageErr(err)
	}
	if o.interval < minInterval {
		return usageErr(fmt.Errorf("--interval must be at least %v, got %v", minInterval, o.interval))
	}
	if o.fullReadLimit < -1 || o.fullReadLimit == 0 {
		return usageErr(fmt.Errorf("--full-read-limit must be -1 (no limit) or at least 1, got %d", o.fullReadLimit))
	}
	if _, err := checkDashboardListen(o.listen, o.token); err != nil {
		return usageErr(err)
	}
	client, err := o.target.connect(ctx)
	if err != nil {
		return usageErr(err)
	}
	defer client.Close()
	prefix, where := o.target.prefix, redactURL(o.target.redisURL)
	// One collection now, so a bad prefix or an unusable Redis is a usage
	// error rather than an error shown on a page.
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	opts := inspect.Options{FullReadLimit: o.fullReadLimit}
	first, err := inspect.Collect(cctx, client, prefix, opts)
	cancel()
	if err != nil {
		return usageErr(err)
	}
	for _, f := range first.Findings {
		if f.Code == inspect.CodeEmptyPrefix {
			// Served anyway: the application may not have started yet.
			fmt.Fprintf(termSafe{e.stderr}, "redisalloc dashboard: warning: %s\n", f.Message)
		}
	}
	// Prometheus metrics of the prefix and a Redis probe, as the metrics
	// command serves them.
	exp, err := newPromExporter(client, prefix, inspect.DefaultScanLimit)
	if err != nil {
		return usageErr(err)
	}
	defer func() { _ = exp.Close(context.WithoutCancel(ctx)) }()
	d, err := startDashboard(ctx, dashboardConfig{
		addr: o.listen, token: o.token, interval: o.interval,
		ops: &dashOps{client: client, prefix: prefix}, allowActions: o.allowActions,
		log: slog.New(slog.NewTextHandler(e.stderr, nil)),
		source: func(ctx context.Context) (*inspect.Report, error) {
			return inspect.Collect(ctx, client, prefix, opts)
		},
		extra: map[string]http.HandlerFunc{"/metrics": exp.ServeHTTP, "/healthz": healthzHandler(client)},
	})
	if err != nil {
		return usageErr(err)
	}
	fmt.Fprintf(e.stdout, "dashboard: %s\n", d.URL)
	fmt.Fprintf(e.stdout, "showing prefix %q on %s every %v (longer if a collection is slow); Ctrl-C stops\n", prefix, where, o.interval)
	if o.allowActions {
		fmt.Fprintln(e.stdout, "actions are enabled: each is confirmed in the page and logged to stderr")
	}
	if o.token != "" {
		fmt.Fprintln(e.stdout, "a token is required: open the URL with ?token=<token> once, or send Authorization: Bearer <token>")
	}
	<-ctx.Done()
	d.Stop()
	return exitOK
}
