package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// Defaults of the metrics command.
const (
	defaultMetricsAddr = "127.0.0.1:9464" // the OpenTelemetry Prometheus exporter's usual port
	metricsTokenEnv    = "REDISALLOC_METRICS_TOKEN"
	metricsService     = "redisalloc"
	// metricsRediscover is how old the list of pools and queues may get
	// before a scrape looks for new ones (one bounded SCAN per node).
	metricsRediscover = 30 * time.Second
	// healthzTimeout bounds /healthz's PING.
	healthzTimeout = 2 * time.Second
)

// promExporter exports, in the Prometheus text format, the metrics the
// library reads from Redis (pool.Inspector.RegisterMetrics and
// task.Queue.RegisterMetrics) for every pool and queue found under a
// prefix, through the OpenTelemetry Prometheus exporter. Pools and queues
// are found again at most every metricsRediscover, on a scrape.
type promExporter struct {
	client    rueidis.Client
	prefix    string
	scanLimit int
	mp        *sdkmetric.MeterProvider
	handler   http.Handler

	mu   sync.Mutex // guards regs, last
	regs map[string]metric.Registration
	last time.Time
}

func newPromExporter(client rueidis.Client, prefix string, scanLimit int) (*promExporter, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", metricsService),
		attribute.String("redisallocator.prefix", prefix),
	))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	return &promExporter{
		client: client, prefix: prefix, scanLimit: scanLimit, mp: mp,
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		regs:    map[string]metric.Registration{},
	}, nil
}

// refresh finds the pools and queues under the prefix and registers the
// metrics of new ones; those gone are unregistered.
func (p *promExporter) refresh(ctx context.Context) error {
	names, err := redisallocator.Discover(ctx, p.client, p.prefix, p.scanLimit)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = time.Now()
	seen := map[string]bool{}
	var errs []error
	for _, name := range names.Pools {
		id := "pool:" + name
		seen[id] = true
		if p.regs[id] != nil {
			continue
		}
		in, err := pool.NewInspector(p.client, p.prefix, name, pool.WithMeterProvider(p.mp))
		if err == nil {
			p.regs[id], err = in.RegisterMetrics()
		}
		errs = append(errs, err)
	}
	for _, name := range names.Queues {
		id := "queue:" + name
		seen[id] = true
		if p.regs[id] != nil {
			continue
		}
		// RegisterMetrics reads counts only: the types are never used.
		q, err := task.New[struct{}, struct{}](p.client, p.prefix, name, task.WithMeterProvider(p.mp))
		if err == nil {
			p.regs[id], err = q.RegisterMetrics()
		}
		errs = append(errs, err)
	}
	for id, r := range p.regs {
		if !seen[id] {
			errs = append(errs, r.Unregister())
			delete(p.regs, id)
		}
	}
	return errors.Join(errs...)
}

// registered returns how many pools and queues are exported.
func (p *promExporter) registered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}

// ServeHTTP serves a scrape, looking for new pools and queues first when
// the last look is old.
func (p *promExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	stale := time.Since(p.last) > metricsRediscover
	p.mu.Unlock()
	if stale {
		// A failed discovery keeps the names known: the scrape still
		// reports them (and their reads fail on their own if Redis does).
		_ = p.refresh(r.Context())
	}
	p.handler.ServeHTTP(w, r)
}

// Close unregisters everything and shuts the meter provider down.
func (p *promExporter) Close(ctx context.Context) error {
	p.mu.Lock()
	var errs []error
	for id, r := range p.regs {
		errs = append(errs, r.Unregister())
		delete(p.regs, id)
	}
	p.mu.Unlock()
	return errors.Join(append(errs, p.mp.Shutdown(ctx))...)
}

// healthzHandler answers 200 when Redis answers a PING within
// healthzTimeout, else 503 with the error: for liveness and readiness
// probes.
func healthzHandler(client rueidis.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthzTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "redis: %v\n", err)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}
}

// metricsMux serves /metrics and /healthz, checking the Host (on
// loopback, against DNS rebinding) and the bearer token when one is set.
func metricsMux(exp http.Handler, healthz http.Handler, token string, loopback bool) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopback && !loopbackHost(hostOnly(r.Host)) {
			http.Error(w, "forbidden: this server answers to localhost names only", http.StatusForbidden)
			return
		}
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="redisalloc metrics"`)
				http.Error(w, "unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/metrics":
			exp.ServeHTTP(w, r)
		case "/healthz":
			healthz.ServeHTTP(w, r)
		default:
			http.Error(w, "not found: /metrics and /healthz are served", http.StatusNotFound)
		}
	})
}

// metricsOptions are the metrics command's flags.
type metricsOptions struct {
	target    cliTarget
	listen    string
	token     string
	scanLimit int
}

func metricsFlags(o *metricsOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	fs.StringVar(&o.target.redisURL, "redis", o.target.redisURL,
		"Redis `URL`: redis://, rediss://, unix://, comma-separated cluster seeds\n(redis://h1:p1,h2:p2), or sentinels (redis-sentinel://s1,s2?master_set=NAME); default: $REDIS_URL")
	fs.StringVar(&o.target.prefix, "prefix", o.target.prefix, "key `prefix` of the pools and queues to export (required)")
	fs.StringVar(&o.listen, "listen", o.listen,
		"`address` to serve on; port 0 picks a free one. A non-loopback address needs a token")
	fs.StringVar(&o.token, "token", o.token,
		"require Authorization: Bearer `token` on every request (at least 16 characters); default $"+metricsTokenEnv)
	fs.IntVar(&o.scanLimit, "scan-limit", o.scanLimit, "keep at most this many keys of the prefix per node when discovering names")
	setHelp(fs, `usage: redisalloc metrics [--redis URL] --prefix P [flags]

Serves Prometheus metrics of everything under a prefix, through the
OpenTelemetry Prometheus exporter: for each pool and task queue found,
the state the library reads from Redis at each scrape (members by state,
waiting mallocs, queue depth by state, live workers; docs/metrics.md). New
pools and queues are picked up within 30 s. /healthz answers 200 while
Redis answers a PING, else 503.

Metrics of calls (malloc durations, task runs) live in the processes that
make them: export those from the application (docs/metrics.md shows how).

It listens on 127.0.0.1 unless told otherwise; any other address needs a
token, which every request must carry as Authorization: Bearer (Prometheus:
authorization.credentials in the scrape config). Prints "metrics: URL" once
listening; runs until interrupted. Exit status 2 for bad flags or an
unreachable Redis.

flags:
`)
	return fs
}

func defaultMetricsOptions() metricsOptions {
	return metricsOptions{
		target: cliTarget{timeout: connectTimeout},
		listen: defaultMetricsAddr, scanLimit: inspect.DefaultScanLimit,
	}
}

func metricsUsage(w io.Writer) {
	o := defaultMetricsOptions()
	fs := metricsFlags(&o)
	fs.SetOutput(w)
	fs.Usage()
}

// metricsCommand is the metrics subcommand.
func metricsCommand(ctx context.Context, e env, args []string) int {
	o := defaultMetricsOptions()
	if code, ok := parseFlags(metricsFlags(&o), e, args); !ok {
		return code
	}
	if o.token == "" {
		getenv := e.getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		o.token = getenv(metricsTokenEnv)
	}
	fail := func(err error) int {
		fmt.Fprintf(termSafe{e.stderr}, "redisalloc metrics: %v\n(see: redisalloc help metrics)\n", err)
		return exitUsage
	}
	if err := o.target.check(e); err != nil {
		return fail(err)
	}
	if o.scanLimit < 1 {
		return fail(fmt.Errorf("--scan-limit must be at least 1, got %d", o.scanLimit))
	}
	loopback, err := checkDashboardListen(o.listen, o.token)
	if err != nil {
		return fail(errors.New(strings.Replace(err.Error(), "dashboard: ", "", 1)))
	}
	client, err := o.target.connect(ctx)
	if err != nil {
		return fail(err)
	}
	defer client.Close()
	exp, err := newPromExporter(client, o.target.prefix, o.scanLimit)
	if err != nil {
		return fail(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = exp.Close(sctx)
	}()
	// One discovery now: an unusable Redis is a usage error, and a prefix
	// with nothing under it is worth a word.
	dctx, cancel := context.WithTimeout(ctx, o.target.timeout)
	err = exp.refresh(dctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	if exp.registered() == 0 {
		fmt.Fprintf(termSafe{e.stderr}, "redisalloc metrics: warning: no pool or queue found under prefix %q (yet): is it the prefix the application uses?\n", o.target.prefix)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{
		Handler:           metricsMux(exp, healthzHandler(client), o.token, loopback),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	fmt.Fprintf(e.stdout, "metrics: http://%s/metrics\n", ln.Addr())
	fmt.Fprintf(termSafe{e.stdout}, "exporting prefix %q on %s (%d pools and queues); /healthz for probes; Ctrl-C stops\n",
		o.target.prefix, redactURL(o.target.redisURL), exp.registered())
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	<-done
	return exitOK
}
