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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/redisallocator/redisallocator/internal/inspect"
)

// TestDashboardInChromium loads the dashboard of a running demo in a real
// headless Chromium and checks that the page shows exactly the report the
// server broadcast: it reads data-seq and every number in one evaluation,
// then fetches /api/snapshot?seq=N and compares. It also checks that the
// page updates live, draws the rate chart, and logs no error (CSP
// violations included), and saves a full-page screenshot.
//
// UPDATE_SCREENSHOT=1 also writes docs/dashboard.png.
func TestDashboardInChromium(t *testing.T) {
	chromiumPath(t) // skip (or, under CI, fail) early without a browser
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "redisalloc")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/redisalloc")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/redisalloc: %v\n%s", err, out)
	}
	base := startDemoDashboard(t, bin)
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

	// The page is live: later broadcasts replace the shown one.
	first := readPage(t, bctx)
	wait("a later report", fmt.Sprintf(`Number(document.getElementById("data").dataset.seq) >= %d`, first.Seq+2), 30*time.Second)
	// The chart needs two reports per point; a few seconds give several.
	wait("the rate chart", `(() => { const c = document.querySelector("#data svg.chart");
		return c && Number(c.dataset.chartPoints) >= 3 && c.querySelector("polyline") !== null })()`, 30*time.Second)

	// Compare a few moments, to catch a page that mixes reports. Each read
	// is one synchronous evaluation, so it sees one rendered report.
	for range 3 {
		page := readPage(t, bctx)
		snap := fetchSnapshot(t, base, page.Seq)
		if diff := comparePage(page, snap); diff != "" {
			t.Errorf("page at seq %d differs from /api/snapshot?seq=%d:\n%s", page.Seq, page.Seq, diff)
		}
		if len(page.Pools) == 0 {
			t.Errorf("seq %d: no pool on the page", page.Seq)
		}
		time.Sleep(700 * time.Millisecond)
	}
	if p := console.problems(); len(p) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(p, "\n"))
	}

	update := os.Getenv("UPDATE_SCREENSHOT") == "1"
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

// startDemoDashboard starts `redisalloc demo --dashboard 127.0.0.1:0` (on
// REDIS_URL when set, else its embedded Redis) and returns the dashboard's
// URL. The demo is interrupted at the end of the test and must exit 0.
func startDemoDashboard(t *testing.T, bin string) string {
	t.Helper()
	args := []string{"demo", "--dashboard", "127.0.0.1:0", "--duration", "10m", "--plain"}
	if u := os.Getenv("REDIS_URL"); u != "" {
		args = append(args, "--redis", u)
	}
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
				t.Errorf("demo exited with %v\nstdout (tail):\n%s\nstderr:\n%s", err, tailLines(out.String(), 30), stderr.String())
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("demo did not stop within 60s of the interrupt")
			t.Logf("after the kill: %v", <-exited)
		}
	})
	select {
	case u := <-urls:
		return u
	case err := <-exited:
		t.Fatalf("demo exited before printing the dashboard URL: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no dashboard URL within 60s\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	return ""
}

// pageView is what the page shows, read by readPageJS.
type pageView struct {
	Seq     uint64      `json:"seq"`
	Health  string      `json:"health"`
	Pools   []poolView  `json:"pools"`
	Queues  []queueView `json:"queues"`
	Alive   int         `json:"alive"`
	Dead    int         `json:"dead"`
	Workers int         `json:"workers"`
	// Findings counts the findings listed.
	Findings int `json:"findings"`
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
	return {
		seq: Number(root.dataset.seq),
		health: (root.querySelector('[data-summary] [data-field="health"]') || {}).textContent || "",
		pools: [...root.querySelectorAll("section[data-pool]")].map((s) => ({
			name: s.dataset.pool,
			free: num(s, "free"), held: num(s, "held"), unhealthy: num(s, "unhealthy"),
			total: num(s, "total"), fence: num(s, "fence"),
			members: s.querySelectorAll("tr[data-member]").length,
			invariants: s.querySelector('[data-field="invariants"]').dataset.status,
			leases: [...s.querySelectorAll("tr[data-lease]")].map((r) =>
				r.dataset.member + " " + r.querySelector('[data-field="fence"]').textContent),
		})),
		queues: [...root.querySelectorAll("tr[data-queue]")].map((r) => ({
			name: r.dataset.queue,
			ready: num(r, "ready"), running: num(r, "running"), delayed: num(r, "delayed"), dead: num(r, "dead"),
		})),
		alive: num(root.querySelector("[data-workers]"), "workers-alive"),
		dead: num(root.querySelector("[data-workers]"), "workers-dead"),
		workers: root.querySelectorAll("tr[data-worker]").length,
		findings: root.querySelectorAll("[data-findings] li").length,
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
	want := pageView{Seq: r.Seq, Health: r.Health, Findings: len(r.Findings), Workers: len(r.Workers)}
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
		}
		if len(pl.Violations) > 0 {
			v.Invariants = "violated"
		}
		for _, m := range pl.Members {
			if m.Lease != nil {
				v.Leases = append(v.Leases, fmt.Sprintf("%s %d", m.Key, m.Lease.Fence))
			}
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
	for i := range p.Pools {
		if p.Pools[i].Leases == nil {
			p.Pools[i].Leases = []string{}
		}
	}
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
