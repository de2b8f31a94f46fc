package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// startMetrics runs `redisalloc metrics` with args until the test ends and
// returns its base URL.
func startMetrics(t *testing.T, args ...string) (base string, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, env{stdout: stdout, stderr: stderr}, append([]string{"metrics", "--listen", "127.0.0.1:0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != exitOK {
			t.Errorf("metrics exited %d; stderr:\n%s", c, stderr.String())
		}
	})
	re := regexp.MustCompile(`(?m)^metrics: (http://\S+)/metrics$`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stderr
		}
	}
	t.Fatalf("no metrics URL printed; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return "", nil
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestMetricsScrape: `redisalloc metrics` serves, in the Prometheus text
// format, the module's state metrics of the pools and queues under the
// prefix (members by state after mallocs, waiters, queue depth, workers),
// and /healthz answers 200 while Redis does.
func TestMetricsScrape(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		p, err := pool.New[item](b.Client, b.Prefix, "gpus")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"g1", "g2", "g3"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := p.Malloc(ctx); err != nil {
				t.Fatal(err)
			}
		}
		q, err := task.New[int, int](b.Client, b.Prefix, "render")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Submit(ctx, "t1", 7); err != nil {
			t.Fatal(err)
		}
		base, _ := startMetrics(t, "--redis", backendURL(b), "--prefix", b.Prefix)

		code, body := get(t, base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d\n%s", code, body)
		}
		for _, re := range []string{
			`(?m)^redisallocator_pool_members\{.*redisallocator_pool_member_state="held".*redisallocator_pool_name="gpus".*\} 2$`,
			`(?m)^redisallocator_pool_members\{.*redisallocator_pool_member_state="free".*redisallocator_pool_name="gpus".*\} 1$`,
			`(?m)^redisallocator_pool_waiters\{.*redisallocator_pool_name="gpus".*\} 0$`,
			`(?m)^redisallocator_task_queue_depth\{.*redisallocator_queue_name="render".*redisallocator_task_state="ready".*\} 1$`,
			`(?m)^redisallocator_task_queue_workers\{.*redisallocator_queue_name="render".*\} 0$`,
			`(?m)^# TYPE redisallocator_pool_members gauge$`,
		} {
			if !regexp.MustCompile(re).MatchString(body) {
				t.Errorf("/metrics has no line matching %s:\n%s", re, body)
			}
		}
		if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("/healthz: %d %q", code, body)
		}
		// Other paths, and other host names on loopback, are refused.
		if code, _ := get(t, base+"/"); code != http.StatusNotFound {
			t.Errorf("/: %d", code)
		}
		if code, _ := get(t, base+"/metrics", "Host", "evil.example"); code != http.StatusForbidden {
			t.Errorf("foreign Host: %d", code)
		}
	})
}

// TestMetricsToken: with a token, requests without it get 401; a
// non-loopback address without one is a usage error.
func TestMetricsToken(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	const token = "0123456789abcdef-token"
	base, _ := startMetrics(t, "--redis", backendURL(b), "--prefix", b.Prefix, "--token", token)
	if code, _ := get(t, base+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get(t, base+"/healthz", "Authorization", "Bearer "+token); code != http.StatusOK {
		t.Errorf("with token: %d", code)
	}
	r := runCLI(t, cliEnv{}, "metrics", "--redis", backendURL(b), "--prefix", b.Prefix, "--listen", "0.0.0.0:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--token") {
		t.Errorf("non-loopback without token: exit %d, %s", r.code, r.stderr)
	}
}

// TestHealthzDown: /healthz answers 503 once Redis stops answering.
func TestHealthzDown(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	base, _ := startMetrics(t, "--redis", backendURL(b), "--prefix", b.Prefix)
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz before: %d", code)
	}
	b.Mini.Close()
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "redis: ") {
		t.Errorf("/healthz with Redis gone: %d %q", code, body)
	}
}

// TestPrometheusRecipe: the wiring docs/metrics.md shows for services
// (the OpenTelemetry Prometheus exporter as the reader of the meter
// provider given with WithMeterProvider) exports the module's call metrics
// under the names the doc gives, after some mallocs and a submission.
func TestPrometheusRecipe(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		reg := prometheus.NewRegistry()
		exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
		defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
		p, err := pool.New[item](b.Client, b.Prefix, "gpus", pool.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"g1", "g2"}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			a, err := p.Malloc(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatal(err)
			}
		}
		r, err := p.Admin().RegisterMetrics()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Unregister() }()
		q, err := task.New[int, int](b.Client, b.Prefix, "render", task.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Submit(ctx, "t1", 1); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		defer srv.Close()
		code, body := get(t, srv.URL)
		if code != http.StatusOK {
			t.Fatalf("%d\n%s", code, body)
		}
		for _, re := range []string{
			`(?m)^redisallocator_pool_malloc_duration_seconds_count\{.*redisallocator_outcome="ok".*redisallocator_pool_name="gpus".*\} 3$`,
			`(?m)^redisallocator_pool_free_duration_seconds_bucket\{`,
			`(?m)^redisallocator_pool_members\{.*redisallocator_pool_member_state="free".*redisallocator_pool_name="gpus".*\} 2$`,
			`(?m)^redisallocator_task_submitted_total\{.*redisallocator_queue_name="render".*\} 1$`,
			`(?m)^target_info\{`,
			`otel_scope_name="github.com/redisallocator/redisallocator"`,
		} {
			if !regexp.MustCompile(re).MatchString(body) {
				t.Errorf("no match for %s in:\n%s", re, body)
			}
		}
	})
}

// TestDashboardMetrics: the dashboard serves /metrics and /healthz too.
func TestDashboardMetrics(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	p, err := pool.New[item](b.Client, b.Prefix, "gpus")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddKeys(t.Context(), []string{"g1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, env{stdout: stdout, stderr: stderr},
			[]string{"dashboard", "--redis", backendURL(b), "--prefix", b.Prefix, "--listen", "127.0.0.1:0"})
	}()
	defer func() {
		cancel()
		<-code
	}()
	re := regexp.MustCompile(`(?m)^dashboard: (http://\S+)/$`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no URL; stderr:\n%s", stderr.String())
	}
	if c, body := get(t, base+"/metrics"); c != http.StatusOK ||
		!regexp.MustCompile(`(?m)^redisallocator_pool_members\{.*state="free".*pool_name="gpus".*\} 1$`).MatchString(body) {
		t.Errorf("/metrics: %d\n%s", c, body)
	}
	if c, body := get(t, base+"/healthz"); c != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", c, body)
	}
}
