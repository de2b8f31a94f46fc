package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// demoPoolName is the pool the demo fills; its prefix is new on every run.
const demoPoolName = "demo/proxies"

// defaultDemoDuration is how long the demo runs with no --duration, so
// that `go run ./cmd/redisalloc demo` ends by itself; --duration 0 runs it
// until Ctrl-C.
const defaultDemoDuration = 20 * time.Second

// Bounds of the demo's flags.
const (
	maxDemoWorkers = 1000
	maxDemoProxies = 1000
	minInterval    = 50 * time.Millisecond
)

// Timeouts of single Redis calls made outside the workers' context: frees
// during shutdown, the final check and the cleanup must finish even after
// Ctrl-C.
const (
	connectTimeout = 10 * time.Second
	opTimeout      = 5 * time.Second
)

// A worker gives up (and the demo fails) after this many errors in a row;
// single errors are retried, since a real server may hiccup.
const maxErrorsInARow = 5

// proxy is the value of a simulated proxy. JSON keeps it readable with
// redis-cli when the demo runs against a real server.
type proxy struct {
	Addr    string        `json:"addr"`
	Region  string        `json:"region"`
	Latency time.Duration `json:"latency"`
}

// demoOptions configure runDemo. The flags set the first group; the
// timings have fixed defaults that tests shorten.
type demoOptions struct {
	redisURL string        // empty: an embedded Redis
	workers  int           // well-behaved workers; one crashing worker comes on top
	proxies  int           // members of the pool
	duration time.Duration // 0: until ctx ends; the flag's default is defaultDemoDuration
	interval time.Duration // how often the summary refreshes
	live     bool          // redraw a live view (stdout is a terminal) instead of printing lines

	// dashboard, when set, is the address the web dashboard serves on
	// during the run (see dashboard_demo.go).
	dashboard string

	// otlp, when set, is the OTLP/HTTP endpoint traces and metrics go to
	// (see otlp.go); tel is its exporter, set by demoCommand.
	otlp string
	tel  *otlpTelemetry

	leaseTTL   time.Duration // the workers' leases; they free long before
	crashTTL   time.Duration // the crashing worker's leases, which GC reclaims
	crashEvery time.Duration // mean pause between two crashes
	bindTTL    time.Duration // soft bindings of the workers
	gcEvery    time.Duration // interval of the GC loop

	// The bad proxy is down for outageFor every outageEvery, from
	// outageAt after the start. Uses of it fail then, and the health checker,
	// probing every probeEvery, quarantines it for quarantine, doubling for
	// each failure in a row, until a probe passes again.
	outageAt, outageFor, outageEvery time.Duration
	probeEvery, quarantine           time.Duration

	// chaos, a test hook, runs alongside the workers; tests use it to break
	// the pool's promises and see the checks catch it.
	chaos func(ctx context.Context, p *pool.Pool[proxy], keys []string)
}

func defaultDemoOptions() demoOptions {
	return demoOptions{
		workers:    6,
		proxies:    12,
		duration:   defaultDemoDuration,
		interval:   time.Second,
		leaseTTL:   10 * time.Second,
		crashTTL:   500 * time.Millisecond,
		crashEvery: 300 * time.Millisecond,
		bindTTL:    time.Minute,
		gcEvery:    250 * time.Millisecond,

		outageAt:    time.Second,
		outageFor:   3 * time.Second,
		outageEvery: 8 * time.Second,
		probeEvery:  500 * time.Millisecond,
		quarantine:  time.Second,
	}
}

func (o demoOptions) validate() error {
	switch {
	case o.workers < 1 || o.workers > maxDemoWorkers:
		return fmt.Errorf("--workers must be between 1 and %d, got %d", maxDemoWorkers, o.workers)
	case o.proxies < 2 || o.proxies > maxDemoProxies:
		return fmt.Errorf("--proxies must be between 2 and %d (one of them is the bad one), got %d", maxDemoProxies, o.proxies)
	case o.duration < 0:
		return fmt.Errorf("--duration must not be negative, got %v", o.duration)
	case o.interval < minInterval:
		return fmt.Errorf("--interval must be at least %v, got %v", minInterval, o.interval)
	}
	for _, d := range []time.Duration{
		o.leaseTTL, o.crashTTL, o.crashEvery, o.bindTTL, o.gcEvery,
		o.outageFor, o.outageEvery, o.probeEvery, o.quarantine,
	} {
		if d < time.Millisecond {
			return fmt.Errorf("demo timings must be at least 1ms, got %v", d)
		}
	}
	if o.otlp != "" {
		if _, err := parseOTLPEndpoint(o.otlp); err != nil {
			return err
		}
	}
	if o.outageAt < 0 || o.outageFor >= o.outageEvery {
		return fmt.Errorf("bad outage schedule: at %v, for %v every %v", o.outageAt, o.outageFor, o.outageEvery)
	}
	return nil
}

// demoFlags binds the demo's flags to o; plain is set by --plain.
func demoFlags(o *demoOptions, plain *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.redisURL, "redis", o.redisURL,
		"Redis `URL`: redis://, rediss://, unix://, comma-separated cluster seeds\n(redis://h1:p1,h2:p2), or sentinels (redis-sentinel://s1,s2?master_set=NAME); empty: an embedded in-process Redis")
	fs.IntVar(&o.workers, "workers", o.workers, "concurrent well-behaved workers (a crashing one comes on top)")
	fs.IntVar(&o.proxies, "proxies", o.proxies, "simulated proxies in the pool")
	fs.DurationVar(&o.duration, "duration", o.duration, "stop after this long (0: run until interrupted with Ctrl-C)")
	fs.DurationVar(&o.interval, "interval", o.interval, "how often the summary refreshes")
	fs.BoolVar(plain, "plain", false, "print plain lines even when stdout is a terminal")
	fs.StringVar(&o.otlp, "otlp", o.otlp,
		"export traces and metrics over OTLP/HTTP to this `endpoint` (host:port or http(s)://host:port[/base]),\ne.g. a Jaeger all-in-one at 127.0.0.1:4318; service name "+otlpService)
	fs.StringVar(&o.dashboard, "dashboard", o.dashboard,
		"serve the live web dashboard on this `address` during the run, e.g. 127.0.0.1:8765\n(port 0: a free one; a non-loopback address needs $"+dashboardTokenEnv+")")
	setHelp(fs, `usage: redisalloc demo [flags]

Simulates a pool of proxies: workers malloc with soft binding, use and free;
a crashing worker never frees (GC reclaims its leases); a bad proxy has
outages, during which the health checker quarantines it and workers that hit it
report it, so it leaves rotation until it works again. Shows a live
summary and checks the pool's invariants and fencing numbers throughout.
Ends after --duration (default 20s; 0 runs until Ctrl-C) or on Ctrl-C;
exits 0 when nothing was violated and
every worker stopped cleanly, 1 otherwise, 2 for bad flags or an
unreachable Redis.

Against a real server the demo uses a fresh key prefix and deletes its keys
at exit.

flags:
`)
	return fs
}

func demoUsage(w io.Writer) {
	o, plain := defaultDemoOptions(), false
	fs := demoFlags(&o, &plain)
	fs.SetOutput(w)
	fs.Usage()
}

// demoCommand is the demo subcommand.
func demoCommand(ctx context.Context, e env, args []string) int {
	o, plain := defaultDemoOptions(), false
	if code, ok := parseFlags(demoFlags(&o, &plain), e, args); !ok {
		return code
	}
	o.live = e.tty && !plain
	if err := o.validate(); err != nil {
		fmt.Fprintf(e.stderr, "redisalloc demo: %v\n(see: redisalloc help demo)\n", err)
		return exitUsage
	}
	if o.otlp != "" {
		tel, err := startOTLP(ctx, o.otlp)
		if err != nil {
			fmt.Fprintf(e.stderr, "redisalloc demo: %v\n", err)
			return exitUsage
		}
		defer tel.stop(ctx, e.stderr) // flushes what the run left
		o.tel = tel
	}
	err := runDemo(ctx, e.stdout, o)
	if err != nil {
		fmt.Fprintf(e.stderr, "redisalloc demo: %v\n", err)
	}
	return exitCode(err)
}

// runDemo runs the demo, writing its live summary and final report to out,
// until ctx ends or o.duration passes. It returns nil when no invariant was
// violated, every worker stopped cleanly and the pool's keys were removed;
// an error carrying exit status 2 for bad options or an unusable Redis;
// any other error (status 1) lists what went wrong.
func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if err := o.validate(); err != nil {
		return &exitError{exitUsage, err}
	}
	client, where, closeClient, err := openRedis(ctx, o.redisURL)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	defer closeClient()

	d, err := newDemo(client, out, o)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	d.where = where
	if err := d.fill(ctx); err != nil {
		d.cleanup(ctx)
		return &exitError{exitUsage, fmt.Errorf("filling the pool on %s: %w", where, err)}
	}
	stopDashboard, err := d.startDashboard(ctx)
	if err != nil {
		d.cleanup(ctx)
		return &exitError{exitUsage, err}
	}
	d.run(ctx)
	stopDashboard()
	return d.finish(ctx)
}

// openRedis returns a client for url, or for a new embedded server when url
// is empty, with a description for the header and a function that closes
// what was opened.
func openRedis(ctx context.Context, url string) (rueidis.Client, string, func(), error) {
	if url == "" {
		r, err := redisallocatortest.Start()
		if err != nil {
			return nil, "", nil, err
		}
		return r.Client(), "embedded Redis at " + r.URL(), r.Close, nil
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := redisallocator.Connect(cctx, url)
	if err != nil {
		return nil, "", nil, err
	}
	return c, redactURL(url), c.Close, nil
}

// redactURL hides the credentials of a Redis URL.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// demo is one run of the demo.
type demo struct {
	o      demoOptions
	client rueidis.Client
	pool   *pool.Pool[proxy]
	prefix string
	where  string // the Redis, for the header

	keys    []string // proxies in priority order, highest first
	values  map[string]proxy
	prio    map[string]int
	bad     string // the broken proxy's key
	workers []*workerStats
	track   *tracker
	view    *view

	start   time.Time
	stopped string // why the run ended, for the summary

	allocs    atomic.Int64
	abandoned atomic.Int64 // leases the crashing worker left behind
	reports   atomic.Int64 // times a worker reported the bad proxy unhealthy
	marks     atomic.Int64 // failed probes that quarantined it
	back      atomic.Int64 // times the bad proxy came back into rotation
	reported  atomic.Bool  // reported or marked since it was last handed out
	lost      atomic.Int64 // workers' leases that lapsed before their Free
	errs      atomic.Int64
	queue     queueStats

	mu         sync.Mutex // guards the fields below
	gc         pool.GCResult
	gcPasses   int
	snap       *pool.Snapshot // the latest one
	heldAtExit []string       // why members were still held at the end
	cleanupMsg string
	cleanupErr error
}

// workerStats are one worker's counters, written by its goroutine and read
// by the reporter.
type workerStats struct {
	name      string
	crasher   bool
	session   *health.Session // nil for the crasher
	allocs    atomic.Int64
	bindTries atomic.Int64 // allocations after the first, when a binding existed
	bindHits  atomic.Int64 // ... that returned the same proxy as last time
	err       error        // why it stopped, set before the WaitGroup is done
}

func newDemo(client rueidis.Client, out io.Writer, o demoOptions) (*demo, error) {
	var r [4]byte
	_, _ = rand.Read(r[:])
	prefix := "redisalloc-demo-" + hex.EncodeToString(r[:])
	p, err := pool.New[proxy](client, prefix, demoPoolName, pool.WithCodec(codec.JSON), pool.WithLeaseTTL(o.leaseTTL),
		pool.WithTracerProvider(o.tel.traces()), pool.WithMeterProvider(o.tel.metrics()))
	if err != nil {
		return nil, err
	}
	d := &demo{
		o: o, client: client, pool: p, prefix: prefix,
		values: map[string]proxy{}, prio: map[string]int{},
		view: &view{out: out, live: o.live},
	}
	d.track = newTracker(d.violation)
	regions := []string{"eu-west", "us-east", "ap-south", "eu-central", "us-west", "sa-east"}
	for i := range o.proxies {
		key := fmt.Sprintf("proxy-%02d", i+1)
		// Latency grows with the index, from 3ms to 43ms; priority follows
		// speed, so fast proxies are handed out first.
		d.keys = append(d.keys, key)
		d.values[key] = proxy{
			Addr:    fmt.Sprintf("10.%d.%d.%d:3128", i/65536, i/256%256, i%256+1),
			Region:  regions[i%len(regions)],
			Latency: 3*time.Millisecond + time.Duration(i)*40*time.Millisecond/time.Duration(o.proxies-1),
		}
		d.prio[key] = min(o.proxies-i, poolMaxPriority)
	}
	// The bad proxy is a fast one, so it is soon handed out again after
	// each outage.
	d.bad = d.keys[1]
	for i := range o.workers {
		d.workers = append(d.workers, &workerStats{name: fmt.Sprintf("worker-%d", i+1)})
	}
	d.workers = append(d.workers, &workerStats{name: "crasher", crasher: true})
	return d, nil
}

// fill adds the proxies, one Put each since each has its own priority.
func (d *demo) fill(ctx context.Context) error {
	for _, k := range d.keys {
		if _, err := d.pool.Add(ctx, map[string]proxy{k: d.values[k]}, pool.Priority(d.prio[k])); err != nil {
			return err
		}
	}
	return nil
}

// run starts the workers, the GC loop and the reporter, and returns when the
// workers have stopped (ctx ended or the duration passed) and the loops
// with them.
func (d *demo) run(ctx context.Context) {
	d.start = time.Now()
	d.view.header(d)
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if d.o.duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, d.o.duration)
	}
	defer cancel()
	// The loops outlive the workers a little, so they see the last frees.
	loopCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var loops, workers sync.WaitGroup
	if d.o.tel != nil {
		// With --otlp, also export the pool's members by state and its
		// waiters, read from Redis at each collection.
		if reg, err := d.pool.Admin().RegisterMetrics(); err == nil {
			defer func() { _ = reg.Unregister() }()
		} else {
			d.event("metrics: %v", err)
		}
	}
	loops.Go(func() { d.gcLoop(loopCtx) })
	loops.Go(func() { d.reportLoop(loopCtx) })
	for _, w := range d.workers {
		workers.Go(func() { w.err = d.worker(runCtx, w) })
	}
	workers.Go(func() { d.probeLoop(runCtx) })
	workers.Go(func() { d.queueLoop(runCtx) })
	if d.o.chaos != nil {
		workers.Go(func() { d.o.chaos(runCtx, d.pool, d.keys) })
	}
	workers.Wait()
	stopLoops()
	loops.Wait()
	d.stopped = "duration reached"
	if ctx.Err() != nil {
		d.stopped = "interrupted"
	}
}

// worker runs one worker until ctx ends; an error means it gave up.
func (d *demo) worker(ctx context.Context, w *workerStats) error {
	if !w.crasher {
		// A worker process registers a health session and takes its leases
		// under it, so a dead worker's leases come back once the session
		// times out, and the dashboard lists it. The crasher simulates a
		// process that dies without one: its leases lapse on their TTL.
		sess, err := health.NewSession(ctx, d.client, d.prefix, health.WithGroup("demo"), health.WithID(w.name),
			health.WithLabels(map[string]string{"role": "demo-worker"}),
			health.WithTracerProvider(d.o.tel.traces()), health.WithMeterProvider(d.o.tel.metrics()))
		if err != nil {
			return fmt.Errorf("%s: health session: %w", w.name, err)
		}
		w.session = sess
		beating := make(chan struct{})
		go func() { defer close(beating); _ = sess.Run(ctx) }()
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
			defer cancel()
			_ = sess.Close(cctx) // ends Run too
			<-beating
		}()
	}
	inARow := 0
	last := "" // the proxy of the previous allocation, for the binding hit rate
	for ctx.Err() == nil {
		key, err := d.cycle(ctx, w, last)
		if key != "" {
			last = key
		}
		switch {
		case err == nil:
			inARow = 0
		case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			return nil // the stop, not a failure
		case ctx.Err() != nil:
			// A real error that happened to coincide with the stop.
			d.errs.Add(1)
			d.event("%s: %v", w.name, err)
			return nil
		default:
			d.errs.Add(1)
			d.event("%s: %v", w.name, err)
			if inARow++; inARow >= maxErrorsInARow {
				return fmt.Errorf("%s gave up after %d errors in a row: %w", w.name, inARow, err)
			}
			sleep(ctx, time.Duration(inARow)*100*time.Millisecond)
		}
	}
	return nil
}

var errDown = errors.New("connection reset by proxy")

// down reports whether key is in an outage at t (only the bad proxy ever
// is).
func (d *demo) down(key string, t time.Time) bool {
	e := t.Sub(d.start) - d.o.outageAt
	return key == d.bad && e >= 0 && e%d.o.outageEvery < d.o.outageFor
}

// probeLoop runs a health checker over the pool: its probe "dials" each
// proxy (only the bad one ever fails, during its outages); a failing proxy
// is quarantined and comes back when a later probe passes.
func (d *demo) probeLoop(ctx context.Context) {
	probe := func(_ context.Context, key string, _ proxy) error {
		if d.down(key, time.Now()) {
			return errDown
		}
		return nil
	}
	events := func(e health.Event) {
		switch e.Kind {
		case health.MemberQuarantined:
			d.marks.Add(1)
			d.reported.Store(true)
			d.event("checker: %s failed its probe (%v); quarantined for %v", e.Key, e.Err, e.Cooldown)
		case health.MemberRecovered:
			d.event("checker: %s passed its probe; back in rotation", e.Key)
		}
	}
	ck, err := health.NewChecker(d.client, d.prefix, d.pool, probe,
		health.WithProbeInterval(d.o.probeEvery), health.WithProbeTimeout(time.Second),
		health.WithCooldown(d.o.quarantine, 4*d.o.quarantine), health.WithEvents(events),
		health.WithTracerProvider(d.o.tel.traces()), health.WithMeterProvider(d.o.tel.metrics()),
		health.WithErrorFunc(func(err error) {
			d.errs.Add(1)
			d.event("checker: %v", err)
		}))
	if err != nil {
		d.errs.Add(1)
		d.event("checker: %v", err)
		return
	}
	_ = ck.Run(ctx)
}

// cycle is one malloc, use and free (or, for the crasher, one malloc, use
// and crash). It returns the proxy it got, if any.
func (d *demo) cycle(ctx context.Context, w *workerStats, last string) (string, error) {
	ctx, span := d.o.tel.startCycle(ctx, w.name) // one trace per cycle with --otlp
	defer span.End()
	ttl := d.o.leaseTTL
	opts := []pool.MallocOption{pool.LeaseTTL(ttl), pool.Bind(w.name, d.o.bindTTL)}
	if w.session != nil {
		opts = append(opts, pool.InSession(w.session))
	}
	if w.crasher {
		// A crashed process comes back under a new identity: no binding.
		ttl = d.o.crashTTL
		opts = []pool.MallocOption{pool.LeaseTTL(ttl)}
	}
	start := time.Now()
	a, err := d.malloc(ctx, opts)
	if err != nil {
		return "", fmt.Errorf("malloc: %w", err)
	}
	// The lease is surely held until this local bound: it was measured
	// before the request went out.
	until := start.Add(ttl)
	d.allocated(w, a, until, last)

	used := d.use(ctx, a)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if errors.Is(used, errDown) {
		switch err := a.ReportUnhealthy(fctx, d.o.quarantine); {
		case err == nil:
			d.reports.Add(1)
			d.reported.Store(true)
			d.event("%s: %s failed (%v); reported unhealthy for %v", w.name, a.Key, used, d.o.quarantine)
		case !errors.Is(err, pool.ErrNotHeld):
			return a.Key, fmt.Errorf("report %s: %w", a.Key, err)
		}
	}
	if w.crasher {
		// Crash: the lease is never freed; it lapses and GC (or a later
		// malloc) reclaims the member.
		d.abandoned.Add(1)
		sleep(ctx, d.o.crashEvery/2+mrand.N(d.o.crashEvery))
		return a.Key, nil
	}

	// Forget the holding before freeing: once Free is sent, another worker
	// may get the member and record it.
	d.track.release(a.Key, a.Fence())
	switch err := a.Release(fctx); {
	case err == nil:
	case errors.Is(err, pool.ErrNotHeld) && !time.Now().Before(until):
		d.lost.Add(1)
		d.event("%s: lease of %s (fence %d) lapsed before Free", w.name, a.Key, a.Fence())
	case errors.Is(err, pool.ErrNotHeld):
		d.track.report([]string{fmt.Sprintf("%s: Free of %s (fence %d) refused with ErrNotHeld %v before the lease could lapse",
			w.name, a.Key, a.Fence(), time.Until(until).Round(time.Millisecond))})
	default:
		return a.Key, fmt.Errorf("free %s: %w", a.Key, err)
	}
	return a.Key, ctx.Err()
}

// malloc allocates with opts, waiting (pool.Wait) while the pool is empty.
// A Malloc whose ctx ends during its round trip may have been granted on
// the server and still return an error: the lease is then known to nobody
// and keeps its member until it lapses. So the first try, which does not
// wait, is shielded from the stop; only a wait on an empty pool is cut
// short.
func (d *demo) malloc(ctx context.Context, opts []pool.MallocOption) (*pool.Allocation[proxy], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	a, err := d.pool.Malloc(tctx, opts...)
	cancel()
	if !errors.Is(err, pool.ErrEmpty) {
		return a, err
	}
	return d.pool.Malloc(ctx, append(opts, pool.Wait())...)
}

// allocated records an allocation: counters, the fencing check and the
// bad proxy's return.
func (d *demo) allocated(w *workerStats, a *pool.Allocation[proxy], until time.Time, last string) {
	d.allocs.Add(1)
	w.allocs.Add(1)
	if !w.crasher && last != "" {
		w.bindTries.Add(1)
		if a.Key == last {
			w.bindHits.Add(1)
		}
	}
	if a.Key == d.bad && d.reported.Swap(false) {
		d.back.Add(1)
		d.event("%s is back in rotation (handed to %s)", a.Key, w.name)
	}
	d.track.acquire(a.Key, hold{worker: w.name, fence: a.Fence(), until: until, crashed: w.crasher})
}

// use simulates traffic through the proxy: its latency plus jitter. It
// fails when the proxy is down. Work stops early when ctx ends or the lease
// is lost.
func (d *demo) use(ctx context.Context, a *pool.Allocation[proxy]) error {
	if !a.HasValue {
		return fmt.Errorf("%s has no value", a.Key)
	}
	lat := max(a.Value.Latency, time.Millisecond)
	t := time.NewTimer(lat + mrand.N(lat))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-a.Context().Done():
		return context.Cause(a.Context())
	case <-t.C:
	}
	if d.down(a.Key, time.Now()) {
		return errDown
	}
	return nil
}

// gcLoop runs GC passes until ctx ends, adding up what they did. A
// pool.Maintainer does the same but does not report results, which the demo
// shows.
func (d *demo) gcLoop(ctx context.Context) {
	t := time.NewTicker(d.o.gcEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.gcPass(ctx)
	}
}

// gcPass runs GC until no due timer is left (at most a few rounds).
func (d *demo) gcPass(ctx context.Context) {
	for range 10 {
		r, err := d.pool.Admin().GC(ctx, 1000)
		if err != nil {
			if ctx.Err() == nil {
				d.errs.Add(1)
				d.event("gc: %v", err)
			}
			return
		}
		d.mu.Lock()
		d.gcPasses++
		d.gc.LeasesReclaimed += r.LeasesReclaimed
		d.gc.MembersExpired += r.MembersExpired
		d.gc.MembersRecovered += r.MembersRecovered
		d.gc.BindingsExpired += r.BindingsExpired
		d.mu.Unlock()
		if r.Pending == 0 {
			return
		}
	}
}

// reportLoop takes a snapshot, checks it and shows the summary every
// interval until ctx ends.
func (d *demo) reportLoop(ctx context.Context) {
	t := time.NewTicker(d.o.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.check(ctx)
		d.view.tick(d)
	}
}

// check reads a snapshot and checks it against the pool's invariants and
// the holdings the workers recorded.
func (d *demo) check(ctx context.Context) {
	s, err := d.pool.Admin().Snapshot(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.errs.Add(1)
			d.event("snapshot: %v", err)
		}
		return
	}
	d.track.checkSnapshot(s, time.Now())
	d.mu.Lock()
	d.snap = s
	d.mu.Unlock()
}

// violation shows a broken invariant the tracker recorded.
func (d *demo) violation(msg string) {
	d.event("VIOLATION: %s", msg)
}

// event adds a line to the event log shown with the summary.
func (d *demo) event(format string, args ...any) {
	d.view.event(time.Since(d.start), fmt.Sprintf(format, args...))
}

// finish does a last GC pass and check with the workers stopped, removes
// the pool's keys, prints the final summary and says how the run went.
func (d *demo) finish(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	d.gcPass(fctx)
	d.check(fctx)
	d.explainHeld()
	d.view.final(d)
	d.cleanup(ctx)
	d.view.summary(d)

	var problems []error
	if n := d.track.violationCount(); n > 0 {
		problems = append(problems, fmt.Errorf("%d invariant violations", n))
	}
	for _, w := range d.workers {
		if w.err != nil {
			problems = append(problems, w.err)
		}
	}
	if d.cleanupErr != nil {
		problems = append(problems, d.cleanupErr)
	}
	if n := d.queue.failed.Load(); n > 0 {
		problems = append(problems, fmt.Errorf("%d queue tasks failed", n))
	}
	return errors.Join(problems...)
}

// explainHeld says, for the summary, why members are still held once every
// worker stopped: crashed leases not yet due, or mallocs the stop cut short
// (the reply was lost, so nobody knows the lease; it lapses on its own).
// A member held by a worker that stopped would be a leak in the demo.
func (d *demo) explainHeld() {
	d.mu.Lock()
	s := d.snap
	d.mu.Unlock()
	if s == nil {
		return
	}
	holds := d.track.holdsCopy()
	for _, m := range s.Members {
		if m.Lease == nil {
			continue
		}
		due := m.Lease.Deadline.Sub(s.Time).Round(time.Millisecond)
		h, ok := holds[m.Key]
		switch {
		case ok && h.fence == m.Lease.Fence && h.crashed:
			d.heldAtExit = append(d.heldAtExit, fmt.Sprintf("%s: crashed lease, fence %d, lapses in %v", m.Key, h.fence, due))
		case ok && h.fence == m.Lease.Fence:
			d.track.report([]string{fmt.Sprintf("%s still holds %s (fence %d) after it stopped", h.worker, m.Key, h.fence)})
		default:
			d.heldAtExit = append(d.heldAtExit, fmt.Sprintf("%s: fence %d, lapses in %v, a malloc cut short by the stop", m.Key, m.Lease.Fence, due))
		}
	}
}

// cleanup clears the pool and deletes every key under the run's prefix, so a
// real server is left as it was. It checks that no key is left.
func (d *demo) cleanup(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if _, err := d.pool.Admin().Clear(cctx); err != nil {
		d.cleanupErr = fmt.Errorf("cleanup: clear: %w", err)
		return
	}
	keys, err := d.scanKeys(cctx)
	if err != nil {
		d.cleanupErr = fmt.Errorf("cleanup: %w", err)
		return
	}
	for _, k := range keys {
		// One DEL per key: a multi-key DEL must not cross cluster slots, and
		// nothing promises these keys share one.
		if err := d.client.Do(cctx, d.client.B().Del().Key(k).Build()).Error(); err != nil {
			d.cleanupErr = fmt.Errorf("cleanup: del %s: %w", k, err)
			return
		}
	}
	left, err := d.scanKeys(cctx)
	switch {
	case err != nil:
		d.cleanupErr = fmt.Errorf("cleanup: %w", err)
	case len(left) > 0:
		d.cleanupErr = fmt.Errorf("cleanup: %d keys left under %s:, e.g. %s", len(left), d.prefix, left[0])
	default:
		d.cleanupMsg = fmt.Sprintf("deleted %d of the run's keys (%s:*), none left", len(keys), d.prefix)
	}
}

// scanKeys lists the keys under the run's prefix on every node.
func (d *demo) scanKeys(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var keys []string
	for addr, node := range d.client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(d.prefix+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", addr, err)
			}
			for _, k := range e.Elements {
				if !seen[k] { // replicas list their primary's keys again
					seen[k] = true
					keys = append(keys, k)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return keys, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
