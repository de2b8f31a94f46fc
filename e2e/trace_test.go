package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// How long the tests wait for spans to show up in Jaeger: its batch
// processor flushes every 100ms, so this is only reached when they never
// come.
const jaegerWait = 30 * time.Second

// TestTracesInJaeger exports traces over OTLP/HTTP to a real Jaeger
// all-in-one and reads them back through Jaeger's query API: once from a
// workload in this process (a task whose handler mallocs from a pool) and
// once from `redisalloc demo --otlp`. One Jaeger serves both subtests.
func TestTracesInJaeger(t *testing.T) {
	dir := t.TempDir()
	j := startJaeger(t, jaegerBinary(t, dir))
	t.Run("Workload", func(t *testing.T) {
		t.Parallel()
		for _, target := range traceTargets(t) {
			t.Run(target.name, func(t *testing.T) {
				t.Parallel()
				testWorkloadTrace(t, j, target.url)
			})
		}
	})
	t.Run("Demo", func(t *testing.T) {
		t.Parallel()
		testDemoTraces(t, j, dir)
	})
}

// Types of the workload's queue.
type (
	renderJob struct {
		Scene string `json:"scene"`
	}
	renderResult struct {
		GPU   string `json:"gpu"`
		Fence int64  `json:"fence"`
	}
)

// testWorkloadTrace submits one task whose handler mallocs a GPU from a pool
// and frees it, then checks that Jaeger holds it as one trace: the caller's
// root span, task.submit, the worker's task.claim and task.run, the
// handler's malloc and free scripts, the script that records the result
// (EVALSHA task_finish) and the caller's task.wait.
func testWorkloadTrace(t *testing.T, j *jaegerServer, url string) {
	ctx := t.Context()
	client := redisClientFor(t, url)
	prefix := "e2e-trace-" + randHex(4)
	t.Cleanup(func() { deleteKeys(t, client, prefix) })

	service := "redisallocator-e2e-" + randHex(4)
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(j.otlpAddr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) })

	const poolName = "gpus"
	gpus, err := pool.New[string](client, prefix, poolName, pool.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.Add(ctx, map[string]string{"gpu-1": "A100", "gpu-2": "H100"}); err != nil {
		t.Fatal(err)
	}
	handler := func(ctx context.Context, _ *task.Task[renderJob]) (renderResult, error) {
		a, err := gpus.Malloc(ctx)
		if err != nil {
			return renderResult{}, err
		}
		if err := a.Release(ctx); err != nil {
			return renderResult{}, err
		}
		return renderResult{GPU: a.Key, Fence: a.Fence()}, nil
	}
	worker, err := task.New[renderJob, renderResult](client, prefix, "render", task.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	caller, err := task.New[renderJob, renderResult](client, prefix, "render", task.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	listenCtx, stopListen := context.WithCancel(ctx)
	listened := make(chan error, 1)
	go func() {
		listened <- worker.Run(listenCtx, task.Handler[renderJob, renderResult](handler), task.Workers(1))
	}()
	stopWorker := sync.OnceValue(func() error {
		stopListen()
		select {
		case err := <-listened:
			return err
		case <-time.After(time.Minute):
			return errors.New("worker did not stop within a minute")
		}
	})
	t.Cleanup(func() { _ = stopWorker() })

	// The caller's own span makes the root, so the wait joins the trace too.
	rctx, root := tp.Tracer("e2e").Start(ctx, "e2e.render")
	traceID := root.SpanContext().TraceID().String()
	h, err := caller.Submit(rctx, "job-1", renderJob{Scene: "teapot"}, task.Timeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(rctx)
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	if res.GPU == "" || res.Fence <= 0 {
		t.Fatalf("result %+v, want a GPU and a fence", res)
	}
	// The worker ends task.run just after the caller has the result: stop
	// it (that waits for running handlers) before flushing.
	if err := stopWorker(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("flush to Jaeger: %v", err)
	}

	want := []string{
		"e2e.render", "task.submit", "task.claim", "task.run", "EVALSHA task_finish", "task.wait",
		"EVALSHA pool_malloc_fast", "EVALSHA pool_free_fast",
	}
	var tr jaegerTrace
	err = poll(ctx, jaegerWait, func(ctx context.Context) (bool, error) {
		var ok bool
		var err error
		tr, ok, err = j.trace(ctx, traceID)
		if err != nil || !ok {
			return false, err
		}
		for _, n := range want {
			if len(tr.byName(n)) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("trace %s in Jaeger: %v; it has: %s", traceID, err, tr.names())
	}

	// The search the UI runs finds it under our service.
	found, err := j.findTraces(ctx, service, 20)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(found, func(x jaegerTrace) bool { return x.TraceID == traceID }) {
		t.Errorf("GET /api/traces?service=%s: trace %s not among the %d found", service, traceID, len(found))
	}

	one := func(name string) jaegerSpan {
		s := tr.byName(name)
		if len(s) != 1 {
			t.Fatalf("%d spans named %q in the trace, want 1; it has: %s", len(s), name, tr.names())
		}
		if got := tr.service(s[0]); got != service {
			t.Errorf("span %s: service %q, want %q", name, got, service)
		}
		return s[0]
	}
	rootSpan, submit, claim, run := one("e2e.render"), one("task.submit"), one("task.claim"), one("task.run")
	finish, wait := one("EVALSHA task_finish"), one("task.wait")
	malloc, free := one("EVALSHA pool_malloc_fast"), one("EVALSHA pool_free_fast")

	// The shape: the task's spans hang off the submitter's span, the
	// handler's scripts and the result off task.run.
	parents := []struct {
		child, parent jaegerSpan
	}{
		{submit, rootSpan},
		{wait, rootSpan},
		{claim, submit},
		{run, submit},
		{finish, run},
		{malloc, run},
		{free, run},
	}
	for _, p := range parents {
		if p.child.parent() != p.parent.SpanID {
			t.Errorf("%s: parent span %s, want %s (%s)", p.child.OperationName, p.child.parent(), p.parent.SpanID, p.parent.OperationName)
		}
	}
	wantTags(t, submit, map[string]string{"span.kind": "producer", "task.name": "render", "task.id": "job-1"})
	wantTags(t, claim, map[string]string{"span.kind": "consumer", "task.name": "render", "task.attempt": "1"})
	wantTags(t, run, map[string]string{"span.kind": "consumer", "task.name": "render", "task.id": "job-1"})
	wantTags(t, finish, map[string]string{"db.stored_procedure.name": "task_finish"})
	// The malloc and free spans carry the pool's name and the script
	// attributes of the otel package.
	for _, s := range []jaegerSpan{malloc, free} {
		script := strings.TrimPrefix(s.OperationName, "EVALSHA ")
		wantTags(t, s, map[string]string{
			"span.kind":                "client",
			"redisallocator.pool.name": poolName,
			"db.system.name":           "redis",
			"db.operation.name":        "EVALSHA",
			"db.stored_procedure.name": script,
			"otel.scope.name":          "github.com/redisallocator/redisallocator",
		})
		if v, ok := s.tag("error.type"); ok {
			t.Errorf("%s: error.type %q on a successful run", s.OperationName, v)
		}
	}
	t.Logf("trace %s: %d spans: %s", traceID, len(tr.Spans), tr.names())
}

// testDemoTraces runs the built `redisalloc demo --otlp` for a few seconds
// against this Jaeger and finds its traces: malloc spans of the demo's pool
// under service redisalloc-demo, and a queue task traced from submit to
// result. Its metrics reach the collector too (the debug exporter logs
// them).
func testDemoTraces(t *testing.T, j *jaegerServer, dir string) {
	ctx := t.Context()
	bin := filepath.Join(dir, "redisalloc")
	if out, d, err := goBuild(t, filepath.Join("..", "cmd", "redisalloc"), bin, "."); err != nil {
		t.Fatalf("go build redisalloc: %v\n%s", err, out)
	} else {
		t.Logf("built redisalloc in %v", d.Round(time.Millisecond))
	}
	// The URL form of the endpoint; the workload uses host:port.
	args := []string{"demo", "--otlp", "http://" + j.otlpAddr, "--duration", "7s", "--plain", "--interval", "1s"}
	if u := os.Getenv("REDIS_URL"); u != "" {
		args = append(args, "--redis", u)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redisalloc %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	const service = "redisalloc-demo"
	var traces []jaegerTrace
	var mallocs []jaegerSpan
	var tasks jaegerTrace
	err = poll(ctx, jaegerWait, func(ctx context.Context) (bool, error) {
		var err error
		if traces, err = j.findTraces(ctx, service, 1000); err != nil {
			return false, err
		}
		mallocs, tasks = nil, jaegerTrace{}
		for _, tr := range traces {
			for _, s := range tr.Spans {
				if strings.HasPrefix(s.OperationName, "EVALSHA pool_malloc") {
					mallocs = append(mallocs, s)
				}
			}
			if len(tr.byName("task.run")) > 0 && len(tr.byName("task.submit")) > 0 && len(tr.byName("EVALSHA task_finish")) > 0 {
				tasks = tr
			}
		}
		return len(mallocs) > 0 && tasks.TraceID != "", nil
	})
	if err != nil {
		t.Fatalf("demo traces in Jaeger: %v: %d traces, %d malloc spans, a full task trace: %v\ndemo output:\n%s",
			err, len(traces), len(mallocs), tasks.TraceID != "", out)
	}
	for _, s := range mallocs[:min(len(mallocs), 20)] {
		wantTags(t, s, map[string]string{
			"redisallocator.pool.name": "demo/proxies",
			"db.system.name":           "redis",
			"db.stored_procedure.name": strings.TrimPrefix(s.OperationName, "EVALSHA "),
		})
	}
	t.Logf("demo: %d traces, %d malloc spans; a task trace: %s", len(traces), len(mallocs), tasks.names())

	// The metrics pipeline's debug exporter logs every resource it gets.
	err = poll(ctx, jaegerWait, func(context.Context) (bool, error) {
		b, err := os.ReadFile(j.logPath)
		if err != nil || !strings.Contains(string(b), "service.name: Str("+service+")") {
			return false, err
		}
		// The state read from Redis (RegisterMetrics) is exported too; the
		// run outlasts one 5 s collection interval.
		// Data points, not just instrument names: an instrument without a
		// callback has none.
		for _, name := range []string{"redisallocator.pool.member.state: Str(free)", "redisallocator.task.state: Str(ready)", "redisallocator.pool.malloc.duration"} {
			if !strings.Contains(string(b), name) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("the metrics of %s (members by state, queue depth, malloc latency) did not all reach the collector: %v", service, err)
	}
}

// wantTags checks that span s has every tag in want.
func wantTags(t *testing.T, s jaegerSpan, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := s.tag(k)
		switch {
		case !ok:
			t.Errorf("%s: no tag %s (tags: %v)", s.OperationName, k, s.Tags)
		case got != v:
			t.Errorf("%s: tag %s = %q, want %q", s.OperationName, k, got, v)
		}
	}
}

// traceTarget is a Redis the workload trace test runs on.
type traceTarget struct{ name, url string }

// traceTargets: the standalone server (REDIS_URL) and the cluster
// (REDIS_CLUSTER_ADDRS, as comma-separated seeds); with CI=true both are
// mandatory; outside CI, an embedded Redis when neither is set.
func traceTargets(t *testing.T) []traceTarget {
	t.Helper()
	var out []traceTarget
	if u := os.Getenv("REDIS_URL"); u != "" {
		out = append(out, traceTarget{"standalone", u})
	}
	if a := os.Getenv("REDIS_CLUSTER_ADDRS"); a != "" {
		out = append(out, traceTarget{"cluster", "redis://" + a})
	}
	if os.Getenv("CI") == "true" && len(out) != 2 {
		t.Fatal("CI=true: REDIS_URL and REDIS_CLUSTER_ADDRS are both required")
	}
	if len(out) == 0 {
		out = append(out, traceTarget{"embedded", ""})
	}
	return out
}

// redisClientFor connects to url, or to an embedded Redis when url is "".
func redisClientFor(t *testing.T, u string) rueidis.Client {
	t.Helper()
	if u == "" {
		r, err := redisallocatortest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r.Client()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := redisallocator.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// deleteKeys deletes every key under prefix, so a shared server is left
// as it was.
func deleteKeys(t *testing.T, c rueidis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for addr, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Errorf("scan %s: %v", addr, err)
				return
			}
			for _, k := range e.Elements {
				// One DEL per key: the keys need not share a cluster slot.
				if err := node.Do(ctx, node.B().Del().Key(k).Build()).Error(); err != nil {
					t.Errorf("del %s: %v", k, err)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
