package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect/inspecttest"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// TestDashboardActionsInChromium drives the dashboard's actions in a real
// headless Chromium, on `redisalloc dashboard --allow-actions --token`
// over a seeded prefix: it frees a lease and quarantines a member through
// the page (each after the confirmation that names it), cancels one, opens
// a dead letter's record and requeues it, and checks each in Redis. It
// then checks refusals: a page of another origin (same site, so the
// browser sends the SameSite=Strict cookie) that even knows the CSRF
// token cannot free a lease, and neither can the dashboard's own page
// once its token cookie is gone. Backends as TestDashboardInChromium.
func TestDashboardActionsInChromium(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "redisalloc")
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
	type backend struct{ name, url string }
	var backends []backend
	if standalone != "" {
		backends = append(backends, backend{"standalone", standalone})
	}
	if cluster != "" {
		backends = append(backends, backend{"cluster", "redis://" + cluster})
	}
	if len(backends) == 0 {
		srv, err := redisallocatortest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		backends = append(backends, backend{"embedded", srv.URL()})
	}
	update := os.Getenv("UPDATE_SCREENSHOT") == "1"
	for i, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			shot := ""
			if update && i == 0 {
				shot = filepath.Join(root, "docs", "dashboard-actions.png")
			}
			actionsInChromium(t, ctx, bin, b.url, shot)
		})
	}
}

// actionsInChromium is TestDashboardActionsInChromium on one Redis. With
// shot set, it saves there a picture of a confirmation over the pool.
func actionsInChromium(t *testing.T, ctx context.Context, bin, url, shot string) {
	connect := func() rueidis.Client {
		c, err := redisallocator.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		return c
	}
	client := connect()
	t.Cleanup(client.Close)
	prefix := "e2e-act-" + randHex(4)
	inspecttest.Seed(t, client, func() rueidis.Client { return connect() }, prefix, codec.JSON)
	admin, err := pool.NewAdmin(client, prefix, inspecttest.Pool)
	if err != nil {
		t.Fatal(err)
	}
	// leases maps the held members of the pool to their fences; states
	// every member to its state.
	read := func() (leases map[string]int64, states map[string]pool.State) {
		t.Helper()
		s, err := admin.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leases, states = map[string]int64{}, map[string]pool.State{}
		for _, m := range s.Members {
			states[m.Key] = m.State
			if m.Lease != nil && !m.Lease.Expired {
				leases[m.Key] = m.Lease.Fence
			}
		}
		return leases, states
	}
	held, states := read()
	var toFree, toKeep, toQuarantine string
	for k := range held {
		if toFree == "" {
			toFree = k
		} else if toKeep == "" {
			toKeep = k
		}
	}
	for k, st := range states {
		if st == pool.StateFree && toQuarantine == "" {
			toQuarantine = k
		}
	}
	if toFree == "" || toKeep == "" || toQuarantine == "" {
		t.Fatalf("seeded pool: leases %v, states %v: want two live leases and a free member", held, states)
	}

	token := "e2e-" + randHex(12)
	base, logs := startServingLog(t, bin, "dashboard", "--redis", url, "--prefix", prefix, "--listen", "127.0.0.1:0",
		"--allow-actions", "--token", token, "--interval", "2s")
	bctx := newBrowser(t, ctx)
	console := watchConsole(bctx)
	wait := func(what, expr string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(bctx, 30*time.Second)
		defer wcancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			shown, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.hash + "\n" + document.getElementById("data").innerText.slice(0, 3000)`))
			t.Fatalf("waiting for %s: %v\nconsole: %q\ndashboard log:\n%s\npage:\n%s", what, err, console.problems(), logs.String(), shown)
		}
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(bctx, 30*time.Second)
		defer wcancel()
		if err := chromedp.Do(wctx, actions...); err != nil {
			t.Fatalf("%s: %v\nconsole: %q", what, err, console.problems())
		}
	}
	js := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](expr)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// click clicks the element sel with the mouse. The page replaces its
	// rows on every report, which can detach the node between its lookup
	// and the click: then it tries again on the new one.
	click := func(sel string) {
		t.Helper()
		var err error
		for range 10 {
			wctx, wcancel := context.WithTimeout(bctx, 10*time.Second)
			err = chromedp.Do(wctx, chromedp.Click(chromedp.CSS(sel)))
			wcancel()
			if err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("click %s: %v\nconsole: %q", sel, err, console.problems())
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// confirm clicks a button, checks the dialog names want, and clicks ok
	// (or cancel), then waits for the result when ok.
	results := 0
	confirm := func(button string, want []string, ok bool) string {
		t.Helper()
		click(button)
		wait("the confirmation", `document.getElementById("confirm").open`)
		got := text(`#confirm [data-field="confirm-target"]`)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("the confirmation %q does not name %q", got, w)
			}
		}
		if !ok {
			if shot != "" {
				png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				if err := os.WriteFile(shot, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("updated %s", shot)
			}
			run("cancel", chromedp.Click(chromedp.ID("confirm-cancel")))
			wait("the dialog to close", `!document.getElementById("confirm").open`)
			return ""
		}
		results++
		run("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
		wait("the result", `(() => { const t = document.getElementById("toast"); return !t.hidden && t.dataset.result !== "pending" })()`)
		return text("#toast")
	}

	run("open the page with the token", chromedp.Navigate(base+"?token="+token))
	wait("actions on and a report", `document.getElementById("mode").dataset.actions === "true" && Number(document.getElementById("data").dataset.seq) > 0`)
	wait("the sidebar", fmt.Sprintf(`document.querySelector('#nav-list a[data-nav="pool"][data-name=%q]') !== null`, inspecttest.Pool))

	// The pool's view from the sidebar, with the filter narrowing it.
	run("filter", chromedp.SendKeys(chromedp.ID("nav-filter"), "prox"))
	wait("the filtered sidebar", `document.querySelectorAll('#nav-list a[data-nav="pool"]').length === 1`)
	click(fmt.Sprintf(`#nav-list a[data-name=%q]`, inspecttest.Pool))
	wait("the pool view", fmt.Sprintf(`location.hash === "#pool/%s" && document.getElementById("data").dataset.view === "pool" && document.querySelector('section[data-pool=%q] button[data-action="pool/free"]') !== null`, inspecttest.Pool, inspecttest.Pool))

	// Cancel: nothing happens.
	keepBtn := fmt.Sprintf(`tr[data-member=%q] button[data-action="pool/free"]`, toKeep)
	confirm(keepBtn, []string{toKeep, inspecttest.Pool}, false)
	if l, _ := read(); l[toKeep] != held[toKeep] {
		t.Fatalf("canceled, yet %s's lease is %d, want %d", toKeep, l[toKeep], held[toKeep])
	}

	// Free a lease: the dialog names the member, the pool and the fence.
	res := confirm(fmt.Sprintf(`tr[data-member=%q] button[data-action="pool/free"]`, toFree),
		[]string{toFree, inspecttest.Pool, fmt.Sprint(held[toFree])}, true)
	if !strings.Contains(res, "freed the lease of "+toFree) {
		t.Errorf("free: result %q", res)
	}
	if l, _ := read(); l[toFree] == held[toFree] {
		t.Errorf("freed through the page, yet %s still has lease %d", toFree, held[toFree])
	}

	// Quarantine a free member for 10 minutes (the dialog's default).
	res = confirm(fmt.Sprintf(`tr[data-member=%q] button[data-action="pool/quarantine"]`, toQuarantine), []string{toQuarantine}, true)
	if _, st := read(); st[toQuarantine] != pool.StateUnhealthy || !strings.Contains(res, "quarantined "+toQuarantine) {
		t.Errorf("quarantine: %s is %s, result %q", toQuarantine, st[toQuarantine], res)
	}

	// The queue: its charts (8 points: 4 series over two reports at least,
	// read from /api/queue-series), its dead letters, a record, requeue.
	js("open the queue", fmt.Sprintf(`location.hash = "#queue/%s"`, inspecttest.DeadQueue))
	wait("the dead letter", fmt.Sprintf(`document.querySelector('[data-tasks=%q] tr[data-task=%q]') !== null && Number((document.querySelector('[data-queue-chart="depth"] svg.chart') || { dataset: {} }).dataset.chartPoints) >= 8`,
		inspecttest.DeadQueue, inspecttest.FailedTaskID))
	click(fmt.Sprintf(`tr[data-task=%q] a`, inspecttest.FailedTaskID))
	wait("the task's record", fmt.Sprintf(`(document.querySelector('[data-task-detail=%q] [data-field="status"]') || {}).textContent === "failed"`, inspecttest.FailedTaskID))
	if e := text(`[data-task-detail] [data-field="error"]`); !strings.Contains(e, "smtp refused") {
		t.Errorf("the task's record shows error %q", e)
	}
	res = confirm(fmt.Sprintf(`tr[data-task=%q] button[data-action="queue/requeue"]`, inspecttest.FailedTaskID),
		[]string{inspecttest.FailedTaskID, inspecttest.DeadQueue}, true)
	q, err := task.NewInspector(client, prefix, inspecttest.DeadQueue)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := q.Stats(ctx); err != nil || st.Dead != 0 || !strings.Contains(res, "requeued 1") {
		t.Errorf("requeue: stats %+v, %v, result %q", st, err, res)
	}
	wait("the emptied list", fmt.Sprintf(`document.querySelector('[data-tasks=%q] [data-field="no-tasks"]') !== null`, inspecttest.DeadQueue))

	// The requeued task in the pending list, by the state picker; cancel
	// it; then pause and resume the queue from its header.
	js("pick pending", `(() => { const s = document.getElementById("task-state"); s.value = "pending"; s.dispatchEvent(new Event("change", { bubbles: true })); })()`)
	wait("the pending task", fmt.Sprintf(`document.querySelector('[data-tasks=%q][data-state="pending"] tr[data-task=%q] button[data-action="task/cancel"]') !== null`,
		inspecttest.DeadQueue, inspecttest.FailedTaskID))
	res = confirm(fmt.Sprintf(`tr[data-task=%q] button[data-action="task/cancel"]`, inspecttest.FailedTaskID), []string{inspecttest.FailedTaskID, inspecttest.DeadQueue}, true)
	if in, err := q.Info(ctx, inspecttest.FailedTaskID); err != nil || in.Status != task.StatusCanceled || !strings.Contains(res, "canceled task") {
		t.Errorf("cancel: %+v, %v, result %q", in, err, res)
	}
	res = confirm(fmt.Sprintf(`[data-queue-view=%q] button[data-action="queue/pause"]`, inspecttest.DeadQueue), []string{inspecttest.DeadQueue}, true)
	if p, err := q.Paused(ctx); err != nil || !p || !strings.Contains(res, "paused queue") {
		t.Errorf("pause: paused %v, %v, result %q", p, err, res)
	}
	wait("the resume button", fmt.Sprintf(`document.querySelector('[data-queue-view=%q] button[data-action="queue/resume"]') !== null`, inspecttest.DeadQueue))
	res = confirm(fmt.Sprintf(`[data-queue-view=%q] button[data-action="queue/resume"]`, inspecttest.DeadQueue), []string{inspecttest.DeadQueue}, true)
	if p, err := q.Paused(ctx); err != nil || p || !strings.Contains(res, "resumed queue") {
		t.Errorf("resume: paused %v, %v, result %q", p, err, res)
	}

	// Until now the page logged nothing; the refusals below make the
	// browser log the failed requests, as expected.
	if p := console.problems(); len(p) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(p, "\n"))
	}

	// Another origin: a page on another port (same site: the browser sends
	// the dashboard's SameSite=Strict cookie) posts with the CSRF token.
	csrf := sessionCSRF(t, base, token)
	body := fmt.Sprintf(`{"pool":%q,"member":%q,"fence":%d}`, inspecttest.Pool, toKeep, held[toKeep])
	foreign := serveForeignPage(t, base+"api/actions/pool/free", csrf, body)
	run("open the foreign page", chromedp.Navigate(foreign))
	wait("the foreign page's posts", `window.done === true`)
	outcomes, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`window.outcomes`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("foreign page: %q", outcomes)
	if l, _ := read(); l[toKeep] != held[toKeep] {
		t.Fatalf("a page of another origin freed %s (lease %d, want %d); its outcomes %q", toKeep, l[toKeep], held[toKeep], outcomes)
	}
	if !strings.Contains(logs.String(), "cross-origin request refused") {
		t.Errorf("the dashboard did not log the refused cross-origin post:\n%s", logs.String())
	}

	// The dashboard's own page without its token cookie.
	run("back to the dashboard", chromedp.Navigate(base+"?token="+token))
	wait("the page again", `document.getElementById("mode").dataset.actions === "true" && Number(document.getElementById("data").dataset.seq) > 0`)
	js("the pool view", fmt.Sprintf(`location.hash = "#pool/%s"`, inspecttest.Pool))
	wait("the button", fmt.Sprintf(`document.querySelector(%q) !== null`, keepBtn))
	if _, err := chromedp.Call(bctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatalf("clearing the cookies: %v", err)
	}
	res = confirm(keepBtn, []string{toKeep}, true)
	if !strings.Contains(res, "HTTP 401") {
		t.Errorf("without the token: result %q, want a 401 refusal", res)
	}
	if l, _ := read(); l[toKeep] != held[toKeep] {
		t.Fatalf("without the token, %s's lease is %d, want %d", toKeep, l[toKeep], held[toKeep])
	}
	for _, want := range []string{"dashboard action done", "action=pool/free", "auth=cookie", "status=401"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the dashboard log has no %q:\n%s", want, logs.String())
		}
	}
	if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(artifactsDir(t), "dashboard-actions-"+strings.ReplaceAll(t.Name(), "/", "-")+".png"), png, 0o644)
	}
}

// sessionCSRF reads the CSRF token from the dashboard's /api/session.
func sessionCSRF(t *testing.T, base, token string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"api/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var s struct {
		CSRF string `json:"csrf"`
	}
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil || s.CSRF == "" {
		t.Fatalf("/api/session: %v, %+v", err, s)
	}
	return s.CSRF
}

// serveForeignPage serves, on another loopback port (another origin, the
// same site), a page that posts body to target twice with the CSRF token
// and the browser's cookies: as a CORS request (application/json, which
// needs a preflight) and as a no-cors one (text/plain, which does not).
// It sets window.outcomes and then window.done.
func serveForeignPage(t *testing.T, target, csrf, body string) string {
	t.Helper()
	page := `<!doctype html><meta charset="utf-8"><title>foreign</title><script>
window.outcomes = [];
const target = ` + jsString(target) + `, csrf = ` + jsString(csrf) + `, body = ` + jsString(body) + `;
const note = (what) => (r) => window.outcomes.push(what + ": " + (r && r.status !== undefined ? "status " + r.status + " " + r.type : String(r)));
fetch(target, { method: "POST", mode: "cors", credentials: "include", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body })
  .then(note("cors"), note("cors"))
  .then(() => fetch(target, { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body }))
  .then(note("no-cors"), note("no-cors"))
  .finally(() => { window.done = true; });
</script>`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
