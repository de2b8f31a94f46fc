package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/health"
)

// TestDashboardInChromium loads the dashboard of a running demo in a real
// headless Chromium and checks that the page shows exactly the report the
// server broadcast: it reads data-seq and every number, member row and
// time left in one evaluation, then fetches /api/snapshot?seq=N and
// compares. It also checks that the page updates live, draws the rate
// chart, and logs no error (CSP violations included), and saves a
// full-page screenshot. It runs on the standalone Redis (REDIS_URL) and
// the cluster (REDIS_CLUSTER_ADDRS); with neither set outside CI, on the
// demo's embedded Redis. Under CI=true a missing one fails.
//
// UPDATE_SCREENSHOT=1 also writes docs/dashboard.png (from the first
// backend).
func TestDashboardInChromium(t *testing.T) {
	chromiumPath(t) // skip (or, under CI, fail) early without a browser
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "redisalloc")
	// cmd/redisalloc is its own module: build it there, with its go.mod.
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(root, "cmd", "redisalloc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go -C cmd/redisalloc build: %v\n%s", err, out)
	}
	standalone := strings.TrimSpace(os.Getenv("REDIS_URL"))
	cluster := strings.TrimSpace(os.Getenv("REDIS_CLUSTER_ADDRS"))
	if os.Getenv("CI") == "true" && (standalone == "" || cluster == "") {
		t.Fatal("CI=true needs REDIS_URL and REDIS_CLUSTER_ADDRS (see .ci/redis-up)")
	}
	backends := []struct{ name, url string }{}
	if standalone != "" {
		backends = append(backends, struct{ name, url string }{"standalone", standalone})
	}
	if cluster != "" {
		backends = append(backends, struct{ name, url string }{"cluster", "redis://" + cluster})
	}
	if len(backends) == 0 {
		backends = append(backends, struct{ name, url string }{"embedded", ""})
	}
	update := os.Getenv("UPDATE_SCREENSHOT") == "1"
	for i, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dashboardInChromium(t, ctx, bin, b.url, root, update && i == 0)
		})
	}
}

// dashboardInChromium is TestDashboardInChromium on one Redis (url; empty
// for the demo's embedded one).
func dashboardInChromium(t *testing.T, ctx context.Context, bin, url, root string, update bool) {
	base := startDemoDashboard(t, bin, url)
	t.Logf("dashboard of the demo at %s", base)

	bctx := newBrowser(t, ctx)
	console := watchConsole(bctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(base)); err != nil {
		t.Fatalf("navigate to %s: %v", base, err)
	}
	// Wait until a report with the demo's pool and some leases is on the
	// page (the demo's workers hold members most of the time).
	wait := func(what, expr string, timeout time.Duration) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(bctx, timeout)
		defer wcancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v\nconsole: %q", what, err, console.problems())
		}
	}
	wait("the first report", `Number(document.getElementById("data").dataset.seq) > 0 && document.querySelector("#data section[data-pool]") !== null`, 30*time.Second)
	if url != "" {
		// A finding with a repair command, so the comparison below checks
		// how the page shows repairs too: a worker that stopped
		// heart-beating under the demo's prefix.
		seedDeadWorker(t, ctx, url, fetchSnapshot(t, base, readPage(t, bctx).Seq).Prefix)
		wait("the dead worker's finding", `document.querySelector('#data [data-findings] li[data-code="dead-workers"] [data-repair]') !== null`, 30*time.Second)
	}

	// The page is live: later broadcasts replace the shown one.
	first := readPage(t, bctx)
	wait("a later report", fmt.Sprintf(`Number(document.getElementById("data").dataset.seq) >= %d`, first.Seq+2), 30*time.Second)
	// The chart needs two reports per point; a few seconds give several.
	wait("the rate chart", `(() => { const c = document.querySelector("#data svg.chart");
		return c && Number(c.dataset.chartPoints) >= 3 && c.querySelector("polyline") !== null })()`, 30*time.Second)

	// Compare a few moments, to catch a page that mixes reports. Each read
	// is one synchronous evaluation, so it sees one rendered report.
	leases := 0
	for range 3 {
		page := readPage(t, bctx)
		snap := fetchSnapshot(t, base, page.Seq)
		if diff := comparePage(page, snap); diff != "" {
			t.Errorf("page at seq %d differs from /api/snapshot?seq=%d:\n%s", page.Seq, page.Seq, diff)
		}
		for _, e := range compareTimeLeft(page, snap) {
			t.Errorf("seq %d: %s", page.Seq, e)
		}
		if len(page.Pools) == 0 {
			t.Errorf("seq %d: no pool on the page", page.Seq)
		}
		for _, p := range page.Pools {
			leases += len(p.Leases)
		}
		time.Sleep(700 * time.Millisecond)
	}
	if leases == 0 {
		t.Errorf("no lease on the page in three reads: the time-left check checked nothing")
	}
	if p := console.problems(); len(p) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(p, "\n"))
	}
	if url != "" {
		summaryInChromium(t, bctx, bin, url, fetchSnapshot(t, base, first.Seq).Prefix)
	}

	if update {
		// The picture for the docs: a longer chart, and the demo's bad
		// proxy quarantined if it gets there soon (it is down 3s of every 8s).
		wait("a longer chart", `Number(document.querySelector("#data svg.chart").dataset.chartPoints) >= 25`, 60*time.Second)
		wctx, wcancel := context.WithTimeout(bctx, 15*time.Second)
		_, _ = chromedp.Run(wctx, chromedp.Poll[bool](`document.querySelector('#data tr[data-state="unhealthy"]') !== null`,
			chromedp.WithPollingInterval(50*time.Millisecond)))
		wcancel()
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(artifactsDir(t), "dashboard.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))
	if update {
		doc := filepath.Join(root, "docs", "dashboard.png")
		if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(doc, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", doc)
	}
}

// summaryInChromium opens a second dashboard of the demo's prefix that
// reads no pool whole (--full-read-limit 1), in a new tab, and checks that
// each pool shows as a summary: the counts of the report, no member rows,
// invariants "unchecked" and the note that says why.
func summaryInChromium(t *testing.T, bctx context.Context, bin, url, prefix string) {
	t.Helper()
	base := startServing(t, bin, "dashboard", "--redis", url, "--prefix", prefix, "--listen", "127.0.0.1:0", "--full-read-limit", "1")
	scrapeMetrics(t, base)
	tab, cancel := chromedp.NewContext(bctx)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
		t.Fatalf("navigate to %s: %v", base, err)
	}
	wctx, wcancel := context.WithTimeout(tab, 30*time.Second)
	defer wcancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](`Number(document.getElementById("data").dataset.seq) > 0 && document.querySelector("#data section[data-pool]") !== null`,
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("summary dashboard: waiting for a report: %v", err)
	}
	page := readPage(t, tab)
	snap := fetchSnapshot(t, base, page.Seq)
	if diff := comparePage(page, snap); diff != "" {
		t.Errorf("summary page at seq %d differs from its snapshot:\n%s", page.Seq, diff)
	}
	for i, p := range snap.Pools {
		if !p.Summary || len(p.Members) != 0 || page.Pools[i].Invariants != "unchecked" {
			t.Errorf("pool %s with --full-read-limit 1: summary %v, %d members, invariants %q", p.Name, p.Summary, len(p.Members), page.Pools[i].Invariants)
		}
	}
	note, err := chromedp.Run(tab, chromedp.Evaluate[string](`(document.querySelector('#data section[data-pool] [data-field="members-note"]') || {}).textContent || ""`))
	if err != nil {
		t.Fatalf("summary note: %v", err)
	}
	if !strings.Contains(note, "summary only") {
		t.Errorf("summary note %q", note)
	}
}

// scrapeMetrics reads the dashboard's /metrics as Prometheus would (the
// text format) and finds the demo's pools by state, the module's metric
// from pool.Inspector.RegisterMetrics; /healthz answers 200.
func scrapeMetrics(t *testing.T, base string) {
	t.Helper()
	get := func(path string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	code, body := get("metrics")
	re := regexp.MustCompile(`(?m)^redisallocator_pool_members\{.*redisallocator_pool_member_state="(free|held|unhealthy)".*\} \d+$`)
	if code != http.StatusOK || len(re.FindAllString(body, -1)) < 3 || !strings.Contains(body, "# TYPE redisallocator_pool_members gauge") {
		t.Errorf("/metrics: %d, want the members of each pool by state:\n%s", code, body)
	}
	if code, body := get("healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
}

// seedDeadWorker registers a worker under prefix in its own health group
// and kills its connection, as a killed process would; it returns once the
// worker counts as dead.
func seedDeadWorker(t *testing.T, ctx context.Context, url, prefix string) {
	t.Helper()
	client, err := redisallocator.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	s, err := health.NewSession(ctx, client, prefix, health.WithGroup("e2e-dead"), health.WithID("killed"),
		health.WithInterval(50*time.Millisecond), health.WithTimeout(200*time.Millisecond))
	if err != nil {
		client.Close()
		t.Fatalf("health session: %v", err)
	}
	client.Close() // no Close of the session: a killed process never leaves
	select {
	case <-s.Context().Done():
	case <-ctx.Done():
		t.Fatal("the seeded worker's session did not end")
	}
}

// startDemoDashboard starts `redisalloc demo --dashboard 127.0.0.1:0` (on
// url when set, else its embedded Redis) and returns the dashboard's URL.
// The demo is interrupted at the end of the test and must exit 0.
func startDemoDashboard(t *testing.T, bin, url string) string {
	t.Helper()
	args := []string{"demo", "--dashboard", "127.0.0.1:0", "--duration", "10m", "--plain"}
	if url != "" {
		args = append(args, "--redis", url)
	}
	return startServing(t, bin, args...)
}

// startServing runs bin with args, a command that prints "dashboard: URL"
// once it serves, and returns that URL. An interrupt at the end of the test
// must make it exit 0.
func startServing(t *testing.T, bin string, args ...string) string {
	t.Helper()
	u, _ := startServingLog(t, bin, args...)
	return u
}

// startServingLog is startServing that also returns the command's
// stderr, written as it runs.
func startServingLog(t *testing.T, bin string, args ...string) (string, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	var out lockedBuffer
	urls := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		re := regexp.MustCompile(`^dashboard: (http://\S+/)$`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(&out, line)
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-copied // Wait must follow the reads of the pipe
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s exited with %v\nstdout (tail):\n%s\nstderr:\n%s", args[0], err, tailLines(out.String(), 30), stderr.String())
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop within 60s of the interrupt", args[0])
			t.Logf("after the kill: %v", <-exited)
		}
	})
	select {
	case u := <-urls:
		return u, &stderr
	case err := <-exited:
		t.Fatalf("%s exited before printing the dashboard URL: %v\nstdout:\n%s\nstderr:\n%s", args[0], err, out.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no dashboard URL within 60s\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	return "", nil
}

// pageView is what the page shows, read by readPageJS.
type pageView struct {
	Seq uint64 `json:"seq"`
	// Elapsed is how long ago (ms, page clock) the shown report arrived.
	Elapsed float64     `json:"elapsed"`
	Health  string      `json:"health"`
	Pools   []poolView  `json:"pools"`
	Queues  []queueView `json:"queues"`
	Alive   int         `json:"alive"`
	Dead    int         `json:"dead"`
	Workers int         `json:"workers"`
	// Findings lists the findings shown, each as "code|repair text".
	Findings []string `json:"findings"`
}

type poolView struct {
	Name       string `json:"name"`
	Free       int    `json:"free"`
	Held       int    `json:"held"`
	Unhealthy  int    `json:"unhealthy"`
	Total      int    `json:"total"`
	Fence      int64  `json:"fence"`
	Members    int    `json:"members"`
	Invariants string `json:"invariants"`
	// Leases are "member fence" of the rows with a lease.
	Leases []string `json:"leases"`
	// Rows are the member rows: key, state, session, bound to.
	Rows []memberRow `json:"rows"`
	// Left is the time-left cell of each row with a lease, by member key.
	Left map[string]string `json:"left"`
}

// memberRow is one member row as shown (the session in full, from the
// cell's title when the text is shortened).
type memberRow struct {
	Key     string `json:"key"`
	State   string `json:"state"`
	Session string `json:"session"`
	Bound   string `json:"bound"`
}

type queueView struct {
	Name    string `json:"name"`
	Ready   int    `json:"ready"`
	Running int    `json:"running"`
	Delayed int    `json:"delayed"`
	Dead    int    `json:"dead"`
}

// readPageJS reads the rendered report in one synchronous evaluation, so
// the seq and the numbers come from one render.
const readPageJS = `(() => {
	const root = document.getElementById("data");
	const num = (scope, field) => {
		const e = scope.querySelector('[data-field="' + field + '"]');
		return e ? Number(e.textContent) : -1;
	};
	const text = (scope, field) => {
		const e = scope.querySelector('[data-field="' + field + '"]');
		return e ? e.textContent : "";
	};
	return {
		seq: Number(root.dataset.seq),
		elapsed: performance.now() - Number(root.dataset.receivedAt),
		health: (root.querySelector('[data-summary] [data-field="health"]') || {}).textContent || "",
		pools: [...root.querySelectorAll("section[data-pool]")].map((s) => ({
			name: s.dataset.pool,
			free: num(s, "free"), held: num(s, "held"), unhealthy: num(s, "unhealthy"),
			total: num(s, "total"), fence: num(s, "fence"),
			members: s.querySelectorAll("tr[data-member]").length,
			invariants: s.querySelector('[data-field="invariants"]').dataset.status,
			leases: [...s.querySelectorAll("tr[data-lease]")].map((r) =>
				r.dataset.member + " " + r.querySelector('[data-field="fence"]').textContent),
			rows: [...s.querySelectorAll("tr[data-member]")].map((r) => {
				const sess = r.querySelector('[data-field="session"]');
				return {
					key: r.dataset.member, state: text(r, "state"),
					session: sess.title || sess.textContent, bound: text(r, "bound"),
				};
			}),
			left: Object.fromEntries([...s.querySelectorAll("tr[data-lease]")].map((r) =>
				[r.dataset.member, r.querySelector("td:nth-child(6)").textContent])),
		})),
		queues: [...root.querySelectorAll("tr[data-queue]")].map((r) => ({
			name: r.dataset.queue,
			ready: num(r, "ready"), running: num(r, "running"), delayed: num(r, "delayed"), dead: num(r, "dead"),
		})),
		alive: num(root.querySelector("[data-workers]"), "workers-alive"),
		dead: num(root.querySelector("[data-workers]"), "workers-dead"),
		workers: root.querySelectorAll("tr[data-worker]").length,
		findings: [...root.querySelectorAll("[data-findings] li")].map((li) =>
			li.dataset.code + "|" + (li.querySelector("[data-repair]")?.textContent ?? "")),
	};
})()`

func readPage(t *testing.T, ctx context.Context) pageView {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readPageJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return v
}

// fetchSnapshot returns broadcast seq from the dashboard.
func fetchSnapshot(t *testing.T, base string, seq uint64) *inspect.Report {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("%sapi/snapshot?seq=%d", base, seq), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET ?seq=%d: status %d, %v: %s", seq, res.StatusCode, err, body)
	}
	var r inspect.Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET ?seq=%d: %v", seq, err)
	}
	if r.Seq != seq {
		t.Fatalf("GET ?seq=%d returned seq %d", seq, r.Seq)
	}
	return &r
}

// comparePage returns what differs between the page and the report, or "".
func comparePage(p pageView, r *inspect.Report) string {
	want := pageView{Seq: r.Seq, Health: r.Health, Findings: []string{}, Workers: len(r.Workers)}
	for _, f := range r.Findings {
		repair := ""
		if f.Repair != "" {
			repair = "  repair: " + f.Repair
		}
		want.Findings = append(want.Findings, f.Code+"|"+repair)
	}
	if p.Findings == nil {
		p.Findings = []string{}
	}
	for _, w := range r.Workers {
		if w.Alive {
			want.Alive++
		} else {
			want.Dead++
		}
	}
	for _, pl := range r.Pools {
		v := poolView{
			Name: pl.Name, Free: pl.Free, Held: pl.Held, Unhealthy: pl.Unhealthy, Total: pl.Total,
			Fence: pl.Fence, Members: len(pl.Members), Invariants: "ok", Leases: []string{},
			Rows: []memberRow{},
		}
		bound := map[string][]string{}
		for _, b := range pl.Bindings {
			n := b.Name
			if b.Stale {
				n += " (stale)"
			}
			bound[b.Key] = append(bound[b.Key], n)
		}
		switch {
		case pl.Summary:
			v.Invariants = "unchecked"
		case len(pl.Violations) > 0:
			v.Invariants = "violated"
		}
		for _, m := range pl.Members {
			row := memberRow{Key: m.Key, State: m.State, Bound: strings.Join(bound[m.Key], ", ")}
			if m.Lease != nil {
				v.Leases = append(v.Leases, fmt.Sprintf("%s %d", m.Key, m.Lease.Fence))
				row.Session = m.Lease.Session
				if row.Session == "" {
					row.Session = "none"
				}
			}
			v.Rows = append(v.Rows, row)
		}
		want.Pools = append(want.Pools, v)
	}
	for _, q := range r.Queues {
		want.Queues = append(want.Queues, queueView{Name: q.Name, Ready: q.Ready, Running: q.Running, Delayed: q.Delayed, Dead: q.Dead})
	}
	if p.Pools == nil {
		p.Pools = []poolView{}
	}
	if want.Pools == nil {
		want.Pools = []poolView{}
	}
	if p.Queues == nil {
		p.Queues = []queueView{}
	}
	if want.Queues == nil {
		want.Queues = []queueView{}
	}
	p.Pools = slices.Clone(p.Pools) // the caller's view stays whole
	for i := range p.Pools {
		if p.Pools[i].Leases == nil {
			p.Pools[i].Leases = []string{}
		}
		if p.Pools[i].Rows == nil {
			p.Pools[i].Rows = []memberRow{}
		}
		p.Pools[i].Left = nil // compared by compareTimeLeft
	}
	p.Elapsed = 0
	got, _ := json.MarshalIndent(p, "", "  ")
	exp, _ := json.MarshalIndent(want, "", "  ")
	if bytes.Equal(got, exp) {
		return ""
	}
	return "page:\n" + string(got) + "\nsnapshot:\n" + string(exp)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// compareTimeLeft checks each lease's time-left cell against the TTL the
// server measured in the same report. The page counts down from ttl_ms by
// the time since the report arrived, updating every 250 ms, so the shown
// value lies between ttl_ms − elapsed and ttl_ms; the slack covers the
// display's rounding and scheduling.
func compareTimeLeft(p pageView, r *inspect.Report) []string {
	const slack = 1500 * time.Millisecond
	var errs []string
	for _, pl := range r.Pools {
		var shown map[string]string
		for _, pv := range p.Pools {
			if pv.Name == pl.Name {
				shown = pv.Left
			}
		}
		for _, m := range pl.Members {
			if m.Lease == nil {
				continue
			}
			cell, ok := shown[m.Key]
			if !ok {
				errs = append(errs, fmt.Sprintf("pool %s member %s: no time-left cell", pl.Name, m.Key))
				continue
			}
			if m.Lease.TTLMillis < 0 {
				if cell != "permanent" {
					errs = append(errs, fmt.Sprintf("pool %s member %s: time left %q, want permanent", pl.Name, m.Key, cell))
				}
				continue
			}
			left, grain, err := parseTimeLeft(cell)
			if err != nil {
				errs = append(errs, fmt.Sprintf("pool %s member %s: %v", pl.Name, m.Key, err))
				continue
			}
			ttl := time.Duration(m.Lease.TTLMillis) * time.Millisecond
			elapsed := time.Duration(p.Elapsed * float64(time.Millisecond))
			lo, hi := ttl-elapsed-slack-grain, ttl+slack+grain
			if left < lo || left > hi {
				errs = append(errs, fmt.Sprintf("pool %s member %s: time left %q (%v), want within [%v, %v] (ttl_ms %d, received %v ago)",
					pl.Name, m.Key, cell, left, lo, hi, m.Lease.TTLMillis, elapsed.Round(time.Millisecond)))
			}
		}
	}
	return errs
}

// parseTimeLeft reads what app.js's fmtMs writes ("expired", "4.2s",
// "37s", "3m07s", "2h05m") and the precision it was rounded to.
func parseTimeLeft(s string) (d, grain time.Duration, err error) {
	var a, b int
	switch {
	case s == "expired":
		return -time.Millisecond, 0, nil
	case strings.Contains(s, "h"):
		if _, err := fmt.Sscanf(s, "%dh%dm", &a, &b); err != nil {
			return 0, 0, fmt.Errorf("time left %q: %w", s, err)
		}
		return time.Duration(a)*time.Hour + time.Duration(b)*time.Minute, time.Minute, nil
	case strings.Contains(s, "m"):
		if _, err := fmt.Sscanf(s, "%dm%ds", &a, &b); err != nil {
			return 0, 0, fmt.Errorf("time left %q: %w", s, err)
		}
		return time.Duration(a)*time.Minute + time.Duration(b)*time.Second, time.Second, nil
	case strings.Contains(s, "."):
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, 0, fmt.Errorf("time left %q: %w", s, err)
		}
		return d, 100 * time.Millisecond, nil
	default:
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, 0, fmt.Errorf("time left %q: %w", s, err)
		}
		return d, time.Second, nil
	}
}
