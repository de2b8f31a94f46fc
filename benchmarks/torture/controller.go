package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// config of a run (the command-line flags).
type config struct {
	Duration       time.Duration
	Workers        int
	Holders        int
	Core, Churn    int
	Seed           uint64
	KillEvery      time.Duration
	RestartEvery   time.Duration
	CrashRestarts  float64       // fraction of restarts done by SIGKILL
	AppendFsync    string        // "" picks the default: see appendFsync
	AOFCut         time.Duration // crash restarts first cut what Redis appended in the last AOFCut (0: none)
	Failover       bool          // restarts are failovers to a lagging replica instead
	ReplicaLag     time.Duration // the replica's replication link delay (Failover)
	FaultEvery     time.Duration
	SessionTimeout time.Duration
	Drain          time.Duration
	Dir            string
	Keep           bool
	RedisBin       string
	JSON           string
	Log            io.Writer
}

// appendFsync is the run's appendfsync policy: the flag's, or by default
// always when restarts may crash Redis (only then must a crash lose
// nothing acknowledged) and everysec otherwise.
func (c *config) appendFsync() string {
	switch {
	case c.AppendFsync != "":
		return c.AppendFsync
	case c.AOFCut > 0 || c.Failover:
		return fsyncEverysec // the loss is injected: the tail everysec may lose, the replica's lag
	case c.CrashRestarts > 0:
		return fsyncAlways
	default:
		return fsyncEverysec
	}
}

// lossy says whether the run makes Redis lose acknowledged writes on
// purpose (see CheckInput.Lossy).
func (c *config) lossy() bool { return c.AOFCut > 0 || c.Failover }

// crashChecked says whether a crash restart must keep everything: only
// with appendfsync always, where redis-server has written (and fsynced)
// every write before it replies. With everysec it may not have written
// them yet.
func crashChecked(fsync string) bool { return fsync == fsyncAlways }

// isCrash says whether restart n (from 1) is a crash, for a crash fraction
// f: the first restart crashes when f > 0, then crashes are spread evenly
// (any k consecutive restarts have floor or ceil of k*f crashes), so a short
// run with two restarts and f = 0.5 has one of each kind.
func isCrash(n int, f float64) bool {
	phase := 1 - f
	return math.Floor(float64(n)*f+phase) > math.Floor(float64(n-1)*f+phase)
}

const (
	prefix     = "torture"
	poolName   = "p"
	queueName  = "t"
	maxLease   = 4 * time.Second // workers pick lease TTLs in [1.5s, 4s)
	gcEvery    = 250 * time.Millisecond
	snapEvery  = 150 * time.Millisecond
	opTimeout  = 2 * time.Second
	settleTime = 300 * time.Millisecond
)

type workerProc struct {
	id     string
	slot   int
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	killed bool // by the controller: SIGKILL, or SIGTERM at the end
	log    string
}

type reclaimWatch struct {
	worker   string
	kill     time.Time
	fences   map[int64]bool
	sessions map[string]bool
	resolved bool
	at       time.Time
}

type controller struct {
	cfg   config
	dir   string
	redis *redisServer
	px    *proxy
	// With -failover: the replica, the delayed replication link it
	// follows the master through, and the controller's proxy to the master.
	replica  *redisServer
	lag      *proxy
	ctl      *proxy
	replicas int // replicas started, to name their directories
	client   rueidis.Client
	pool     *pool.Pool[string]
	queue    *task.Queue[Params, int64]
	insp     *task.Inspector
	core     []string
	churn    []string

	quiet   sync.RWMutex // the restart holds it: no controller writes meanwhile
	faultMu sync.Mutex   // one fault or restart at a time

	mu         sync.Mutex
	rng        *rand.Rand
	sum        Summary
	workers    map[int]*workerProc
	gen        int
	stopping   bool
	tails      map[string]*ledgerTail
	records    []Record
	watches    []*reclaimWatch
	downtimes  [][2]time.Time
	faults     [][2]int64 // injected faults, start and end in unix ns
	lastFence  int64      // highest counter seen since the last lossy restart
	maxFence   int64      // highest counter seen
	lossy      bool       // a lossy restart began, and no snapshot was sent since it completed
	lossyDone  time.Time  // when the last lossy restart completed
	snapViol   map[string]int
	reclaimLat []time.Duration
	failures   []string
}

func (c *controller) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failLocked(format, args...)
}

func (c *controller) failLocked(format string, args ...any) {
	c.sum.Violations++
	if len(c.failures) < 100 {
		c.failures = append(c.failures, fmt.Sprintf(format, args...))
	}
}

// lockedWriter serialises the controller's log lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *controller) logf(format string, args ...any) {
	if c.cfg.Log != nil {
		_, _ = fmt.Fprintf(c.cfg.Log, "%s torture: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

func (c *controller) randN(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

// jitter returns d ± 50%.
func (c *controller) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(c.randN(int(d)+1))
}

// run performs a whole torture run and returns its summary.
func run(ctx context.Context, cfg config) (*Summary, error) {
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "torture-"); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"ledgers", "logs", "resource"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// The controller's log always goes to the run directory too, so a
	// failed run's files tell its story without -v.
	logFile, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }()
	if cfg.Log != nil {
		cfg.Log = &lockedWriter{w: io.MultiWriter(cfg.Log, logFile)}
	} else {
		cfg.Log = &lockedWriter{w: logFile}
	}
	c := &controller{
		cfg: cfg, dir: dir, rng: rand.New(rand.NewPCG(cfg.Seed, 42)),
		workers: map[int]*workerProc{}, tails: map[string]*ledgerTail{}, snapViol: map[string]int{},
	}
	for i := range cfg.Core {
		c.core = append(c.core, fmt.Sprintf("m%02d", i))
	}
	for i := range cfg.Churn {
		c.churn = append(c.churn, fmt.Sprintf("c%02d", i))
	}
	c.sum = Summary{
		Duration: cfg.Duration.String(), Seed: cfg.Seed, Workers: cfg.Workers, Members: cfg.Core + cfg.Churn,
		RedisVersion: redisVersion(cfg.RedisBin), AppendFsync: cfg.appendFsync(), CrashFraction: cfg.CrashRestarts,
		RestartKind: restartKinds(cfg.CrashRestarts), LeaseTTL: maxLease.String(), SessionTimeout: cfg.SessionTimeout.String(),
		Ops: map[string]OpCount{}, Faults: map[string]int{},
	}
	if cfg.AOFCut > 0 {
		c.sum.AOFCut = cfg.AOFCut.String()
	}
	if cfg.Failover {
		c.sum.RestartKind = fmt.Sprintf("failover: SIGKILL of the master, its replica (replication delayed %v) promoted with REPLICAOF NO ONE, a new replica started", cfg.ReplicaLag)
	}
	err = c.run(ctx)
	c.cleanup()
	if err != nil {
		return nil, fmt.Errorf("%w (files in %s)", err, dir)
	}
	if !cfg.Keep && c.sum.Pass {
		_ = os.RemoveAll(dir)
	} else {
		c.sum.Failures = append(c.sum.Failures, "run files kept in "+dir)
	}
	return &c.sum, nil
}

func (c *controller) cleanup() {
	c.mu.Lock()
	c.stopping = true
	procs := make([]*workerProc, 0, len(c.workers))
	for _, w := range c.workers {
		procs = append(procs, w)
	}
	c.mu.Unlock()
	for _, w := range procs {
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	if c.client != nil {
		c.client.Close()
	}
	if c.px != nil {
		c.px.disable()
	}
	if c.redis != nil {
		_ = c.redis.stop()
	}
	if c.replica != nil {
		c.replica.crash()
	}
	for _, x := range []*proxy{c.ctl, c.lag} {
		if x != nil {
			x.disable()
		}
	}
}

func (c *controller) run(ctx context.Context) error {
	var err error
	var extra []string
	if c.cfg.AOFCut > 0 {
		extra = append(extra, "--aof-timestamp-enabled", "yes") // dates the AOF's commands for the cut
	}
	if c.redis, err = startRedis(c.cfg.RedisBin, filepath.Join(c.dir, "redis"), c.cfg.appendFsync(), extra...); err != nil {
		return err
	}
	if c.px, err = newProxy(c.redis.addr()); err != nil {
		return err
	}
	ctlAddr := c.redis.addr()
	if c.cfg.Failover {
		// The controller follows the master through a proxy without faults.
		if c.ctl, err = newProxy(c.redis.addr()); err != nil {
			return err
		}
		ctlAddr = c.ctl.addr()
		if err := c.startReplica(ctx); err != nil {
			return err
		}
	}
	c.client, err = rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{ctlAddr}, DisableCache: true, ForceSingleClient: true,
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if c.pool, err = pool.New[string](c.client, prefix, poolName); err != nil {
		return err
	}
	if c.queue, err = task.New[Params, int64](c.client, prefix, queueName); err != nil {
		return err
	}
	if c.insp, err = task.NewInspector(c.client, prefix, queueName); err != nil {
		return err
	}
	if _, err = c.pool.AddKeys(ctx, append(slices.Clone(c.core), c.churn...)); err != nil {
		return fmt.Errorf("extend: %w", err)
	}
	c.logf("redis %s (dir %s), proxy %s, %d workers", c.redis.addr(), c.dir, c.px.addr(), c.cfg.Workers)

	for slot := range c.cfg.Workers {
		if err := c.spawn(slot); err != nil {
			return err
		}
	}

	// Observers run until the very end; disturbers only for the duration.
	obsCtx, stopObs := context.WithCancel(context.WithoutCancel(ctx))
	var obs sync.WaitGroup
	obs.Go(func() { c.snapshotLoop(obsCtx) })
	obs.Go(func() { c.gcLoop(obsCtx) })
	obs.Go(func() { c.tailLoop(obsCtx) })
	defer func() { stopObs(); obs.Wait() }()

	runCtx, cancel := context.WithTimeout(ctx, c.cfg.Duration)
	defer cancel()
	var dist sync.WaitGroup
	dist.Go(func() { c.killLoop(runCtx) })
	dist.Go(func() { c.faultLoop(runCtx) })
	dist.Go(func() { c.restartLoop(runCtx, ctx) })
	dist.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.logf("disturbances over; draining")

	drainStart := time.Now()
	c.drain(ctx)
	c.stopWorkers()
	c.sum.DrainSeconds = time.Since(drainStart).Seconds()
	c.waitReclaims(ctx)
	c.checkLeaks(ctx)
	stopObs()
	obs.Wait()
	c.finish(ctx)
	return nil
}

// ---- workers ----

func (c *controller) spawn(slot int) error {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil
	}
	c.gen++
	id := fmt.Sprintf("w%d-%d", slot, c.gen)
	seed := c.rng.Uint64()
	c.mu.Unlock()
	ledger := filepath.Join(c.dir, "ledgers", id+".jsonl")
	wc := workerConfig{
		ID: id, Addr: c.px.addr(), Ledger: ledger, DrainFile: c.drainFile(), Seed: seed, Prefix: prefix, Pool: poolName, Queue: queueName,
		Core: c.core, Churn: c.churn, LeaseTTL: 3 * time.Second, SessionTimeout: c.cfg.SessionTimeout,
		Holders: c.cfg.Holders, TaskTimeout: c.cfg.Duration + c.cfg.Drain + 5*time.Minute,
		Retention: c.cfg.Duration + c.cfg.Drain + time.Hour, OpTimeout: opTimeout,
		ResourceDir: filepath.Join(c.dir, "resource"),
	}
	arg, err := json.Marshal(wc)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(c.dir, "logs", id+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-worker", string(arg))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	w := &workerProc{id: id, slot: slot, cmd: cmd, done: make(chan struct{}), log: logPath}
	c.mu.Lock()
	c.workers[slot] = w
	c.tails[id] = &ledgerTail{path: ledger}
	c.mu.Unlock()
	go func() {
		w.err = cmd.Wait()
		_ = logf.Close()
		c.mu.Lock()
		unexpected := !w.killed && !c.stopping
		c.mu.Unlock()
		if unexpected {
			c.mu.Lock()
			c.sum.WorkerCrashes++
			c.mu.Unlock()
			c.fail("worker %s exited on its own (%v): %s", id, w.err, tail(logPath))
		}
		close(w.done)
	}()
	return nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

func (c *controller) killLoop(ctx context.Context) {
	for {
		sleep(ctx, c.jitter(c.cfg.KillEvery))
		if ctx.Err() != nil {
			return
		}
		slot := c.randN(c.cfg.Workers)
		c.mu.Lock()
		w := c.workers[slot]
		if w != nil {
			w.killed = true
		}
		c.mu.Unlock()
		if w == nil {
			continue
		}
		kill := time.Now()
		_ = w.cmd.Process.Signal(syscall.SIGKILL)
		<-w.done
		c.watchReclaim(w.id, kill)
		c.mu.Lock()
		c.sum.Kills++
		delete(c.workers, slot)
		c.mu.Unlock()
		c.logf("killed %s", w.id)
		sleep(ctx, time.Duration(100+c.randN(400))*time.Millisecond)
		if err := c.spawn(slot); err != nil {
			c.fail("replacement worker: %v", err)
			continue
		}
		c.mu.Lock()
		c.sum.Replacements++
		c.mu.Unlock()
	}
}

// watchReclaim starts watching for the leases of a killed worker to leave
// the pool: every lease it acquired and did not free (by fence), and every
// lease under one of its sessions (also those whose malloc reply it never
// read).
func (c *controller) watchReclaim(worker string, kill time.Time) {
	c.readLedgers()
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &reclaimWatch{worker: worker, kill: kill, fences: map[int64]bool{}, sessions: map[string]bool{}}
	for _, r := range c.records {
		if r.W != worker {
			continue
		}
		switch r.K {
		case kAcq:
			w.fences[r.F] = true
		case kFreed:
			if r.OK {
				delete(w.fences, r.F)
			}
		case kSess:
			w.sessions[r.Sess] = true
		}
	}
	c.watches = append(c.watches, w)
}

// reclaimBound is how long reclaiming may take: the longest lease or
// session timeout, plus a request delayed in the proxy (it may refresh a
// lease after the kill), plus GC and snapshot periods, plus slack for a
// loaded machine. Redis downtime overlapping the wait is added per case.
func (c *controller) reclaimBound() time.Duration {
	return max(maxLease, c.cfg.SessionTimeout) + maxInjectedDelay + gcEvery + snapEvery + 2500*time.Millisecond
}

func (c *controller) downtimeIn(from, to time.Time) time.Duration {
	var d time.Duration
	for _, w := range c.downtimes {
		s, e := max64t(w[0], from), min64t(w[1], to)
		if e.After(s) {
			d += e.Sub(s)
		}
	}
	return d
}

func max64t(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func min64t(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *controller) signalAll(sig os.Signal) []*workerProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*workerProc
	for _, w := range c.workers {
		_ = w.cmd.Process.Signal(sig)
		out = append(out, w)
	}
	return out
}

// drain lets the workers finish: no new tasks and no new leases, while
// handlers and waits go on, until every submitted task is finished or the
// drain time is over.
func (c *controller) drain(ctx context.Context) {
	if err := os.WriteFile(c.drainFile(), nil, 0o644); err != nil {
		c.fail("drain: %v", err)
	}
	deadline := time.Now().Add(c.cfg.Drain)
	final := map[string]bool{}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c.readLedgers()
		c.mu.Lock()
		var open []string
		for _, r := range c.records {
			if r.K == kSubmitted && !final[r.ID] {
				open = append(open, r.ID)
			}
		}
		c.mu.Unlock()
		for id, info := range c.readInfos(ctx, open) {
			if !info.found && c.cfg.lossy() {
				final[id] = true // its record was lost with Redis's writes: nothing will finish it
			}
			if info.found && (info.Status == task.StatusSucceeded || info.Status == task.StatusFailed || info.Status == task.StatusCanceled) {
				final[id] = true
			}
		}
		left := 0
		for _, id := range open {
			if !final[id] {
				left++
			}
		}
		if left == 0 {
			return
		}
		c.logf("drain: %d tasks unfinished", left)
		sleep(ctx, time.Second)
	}
}

func (c *controller) drainFile() string { return filepath.Join(c.dir, "drain") }

func (c *controller) stopWorkers() {
	c.mu.Lock()
	for _, w := range c.workers {
		w.killed = true
	}
	c.mu.Unlock()
	for _, w := range c.signalAll(syscall.SIGTERM) {
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			c.fail("worker %s did not stop within 20s of SIGTERM", w.id)
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}
	c.mu.Lock()
	c.stopping = true
	c.workers = map[int]*workerProc{}
	c.mu.Unlock()
}

// ---- observers ----

func (c *controller) tailLoop(ctx context.Context) {
	for ctx.Err() == nil {
		c.readLedgers()
		sleep(ctx, time.Second)
	}
}

func (c *controller) readLedgers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range sortedKeys(c.tails) {
		recs, err := c.tails[id].read()
		if err != nil {
			c.failLocked("read ledger of %s: %v", id, err)
			continue
		}
		c.records = append(c.records, recs...)
	}
}

func (c *controller) gcLoop(ctx context.Context) {
	for ctx.Err() == nil {
		c.quiet.RLock()
		gctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, _ = c.pool.Admin().GC(gctx, 1000)
		cancel()
		c.quiet.RUnlock()
		sleep(ctx, gcEvery)
	}
}

func (c *controller) snapshotLoop(ctx context.Context) {
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, opTimeout)
		sent := time.Now()
		s, err := c.pool.Admin().Snapshot(sctx)
		cancel()
		at := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				c.mu.Lock()
				c.sum.SnapshotErrors++
				c.mu.Unlock()
			}
			sleep(ctx, snapEvery)
			continue
		}
		c.observe(s, sent, at)
		sleep(ctx, snapEvery)
	}
}

// observe checks one snapshot: its invariants, the fencing counter, and
// the reclaim of killed workers' leases.
func (c *controller) observe(s *pool.Snapshot, sent, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum.Snapshots++
	for _, v := range s.Violations {
		c.sum.SnapshotViol++
		if c.snapViol[v] == 0 {
			c.failLocked("snapshot invariant: %s", v)
		} else {
			c.sum.Violations++
		}
		c.snapViol[v]++
	}
	switch {
	case s.Fence < c.lastFence && c.lossy:
		// The stored counter is what Redis kept; the fences it hands out
		// next must still be higher (the ledger checks that).
		c.sum.Lost.CounterBack++
		c.lastFence = s.Fence
	case s.Fence < c.lastFence:
		c.failLocked("the fencing counter went back from %d to %d", c.lastFence, s.Fence)
	}
	if c.lossy && sent.After(c.lossyDone) {
		c.lossy = false // read after the lossy restart completed
	}
	c.lastFence = max(c.lastFence, s.Fence)
	c.maxFence = max(c.maxFence, s.Fence)
	for _, w := range c.watches {
		if w.resolved {
			continue
		}
		held := false
		for _, m := range s.Members {
			if m.Lease != nil && (w.fences[m.Lease.Fence] || w.sessions[m.Lease.Session]) {
				held = true
				break
			}
		}
		if held {
			continue
		}
		w.resolved, w.at = true, at
		lat := at.Sub(w.kill)
		c.reclaimLat = append(c.reclaimLat, lat)
		if bound := c.reclaimBound() + c.downtimeIn(w.kill, at); lat > bound {
			c.sum.Reclaim.TooSlow++
			c.failLocked("leases of killed worker %s reclaimed after %v, bound %v", w.worker, lat.Round(time.Millisecond), bound)
		}
	}
}

func (c *controller) waitReclaims(ctx context.Context) {
	deadline := time.Now().Add(c.reclaimBound() + 10*time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c.mu.Lock()
		left := 0
		for _, w := range c.watches {
			if !w.resolved {
				left++
			}
		}
		c.mu.Unlock()
		if left == 0 {
			return
		}
		sleep(ctx, snapEvery)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watches {
		if !w.resolved {
			c.sum.Reclaim.TooSlow++
			c.failLocked("leases of killed worker %s never reclaimed (killed at %s)", w.worker, w.kill.Format("15:04:05.000"))
		}
	}
}

// checkLeaks waits until every lease the stopped workers dropped must have
// lapsed, then requires a pool with nothing held.
func (c *controller) checkLeaks(ctx context.Context) {
	sleep(ctx, max(maxLease, c.cfg.SessionTimeout)+maxInjectedDelay+500*time.Millisecond)
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.pool.Admin().GC(gctx, 10000); err != nil {
		c.fail("final GC: %v", err)
		return
	}
	s, err := c.pool.Admin().Snapshot(gctx)
	if err != nil {
		c.fail("final snapshot: %v", err)
		return
	}
	c.observe(s, time.Now(), time.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum.LeakedLeases = s.Counts.Held
	if s.Counts.Held > 0 {
		c.failLocked("%d leases still held after every worker stopped and every lease lapsed", s.Counts.Held)
	}
}

// ---- faults and restarts ----

func (c *controller) faultLoop(ctx context.Context) {
	for {
		sleep(ctx, c.jitter(c.cfg.FaultEvery))
		if ctx.Err() != nil {
			return
		}
		c.faultMu.Lock()
		f := faultKinds[c.randN(len(faultKinds))]
		c.mu.Lock()
		rng := rand.New(rand.NewPCG(c.rng.Uint64(), 7))
		c.mu.Unlock()
		start := time.Now()
		end, err := f.apply(c.px, rng)
		if err != nil {
			c.faultMu.Unlock()
			c.fail("fault %s: %v", f.kind, err)
			continue
		}
		c.mu.Lock()
		c.sum.Faults[f.kind]++
		c.sum.FaultsTotal++
		c.mu.Unlock()
		d := time.Duration(300+c.randN(2700)) * time.Millisecond
		c.logf("fault %s for %v", f.kind, d)
		sleep(ctx, d)
		end()
		c.mu.Lock()
		c.faults = append(c.faults, [2]int64{start.UnixNano(), time.Now().UnixNano()})
		c.mu.Unlock()
		c.faultMu.Unlock()
	}
}

// restartLoop restarts Redis now and then until runCtx ends. A restart
// that has begun runs under ctx, the whole run's, not runCtx: cut short by
// the end of the disturbances it would report its own reads as failures.
func (c *controller) restartLoop(runCtx, ctx context.Context) {
	for {
		sleep(runCtx, c.jitter(c.cfg.RestartEvery))
		if runCtx.Err() != nil {
			return
		}
		c.faultMu.Lock()
		c.quiet.Lock()
		err := c.restart(ctx)
		c.quiet.Unlock()
		c.faultMu.Unlock()
		if err != nil {
			c.fail("redis restart: %v", err)
			return
		}
	}
}

type taskInfo struct {
	task.Info
	found bool
}

// restartKinds describes the run's restarts for the summary.
func restartKinds(f float64) string {
	switch {
	case f <= 0:
		return restartGraceful + "; " + restartThen
	case f >= 1:
		return restartCrash + "; " + restartThen
	default:
		return fmt.Sprintf("%.0f%% %s, the rest %s; %s", 100*f, restartCrash, restartGraceful, restartThen)
	}
}

// restart restarts Redis, gracefully or by a crash, with the workers cut
// off, and checks that the pool and every task record read the same before
// and after (for a crash only with appendfsync always).
func (c *controller) restart(ctx context.Context) error {
	c.mu.Lock()
	n := c.sum.Restarts + 1
	c.mu.Unlock()
	if c.cfg.Failover {
		return c.failover(ctx, n)
	}
	crash := isCrash(n, c.cfg.CrashRestarts)
	cut := crash && c.cfg.AOFCut > 0
	checked := !crash || crashChecked(c.cfg.appendFsync()) && !cut
	start := time.Now()
	c.px.disable()
	defer func() {
		_ = c.px.enable()
		c.mu.Lock()
		c.downtimes = append(c.downtimes, [2]time.Time{start, time.Now()})
		c.mu.Unlock()
	}()
	sleep(ctx, settleTime) // requests already inside Redis finish
	c.readLedgers()
	ids := c.intentIDs()
	before, err := c.state(ctx, ids)
	if err != nil {
		return fmt.Errorf("before: %w", err)
	}
	var between func() error
	var cutDone aofCut
	if cut {
		// Everything Redis appended from this second on is lost, as a
		// machine crash loses what appendfsync everysec had not synced.
		from := start.Add(-c.cfg.AOFCut).Unix()
		between = func() error {
			var err error
			cutDone, err = cutAOF(c.redis.dir, from)
			return err
		}
	}
	if cut {
		c.mu.Lock()
		c.lossy = true // snapshots may see the stored counter lower from now on
		c.mu.Unlock()
	}
	if err := c.redis.restart(crash, between); err != nil {
		return err
	}
	var after *persisted
	for try := 0; ; try++ {
		after, err = c.state(ctx, ids)
		if err == nil || try == 50 || ctx.Err() != nil {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("after: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum.Restarts = n
	kind := "graceful"
	if crash {
		kind = "crash"
		c.sum.RestartsCrash++
	} else {
		c.sum.RestartsGrace++
	}
	diffs := before.diff(after)
	if cut {
		c.lossyDone = time.Now()
		c.sum.Lost.Restarts++
		c.sum.Lost.AOFBytes += cutDone.Bytes
		c.sum.Lost.AOFCommands += cutDone.Commands
		c.logf("redis restart %d: cut %d bytes (%d commands or transactions) from %s", n, cutDone.Bytes, cutDone.Commands, cutDone.File)
	}
	if !checked {
		// everysec: a crash may lose what Redis had not written yet, by
		// its contract. Counted for information, not failed.
		c.sum.Restart.CrashUnchecked++
		c.sum.Restart.UncheckedDiffs += len(diffs)
		c.logf("redis %s restart %d in %v; not compared (appendfsync %s), %d differences", kind, n,
			time.Since(start).Round(time.Millisecond), c.cfg.appendFsync(), len(diffs))
		return nil
	}
	c.sum.Restart.Checked++
	c.sum.Restart.Members += len(before.members)
	c.sum.Restart.Tasks += len(before.tasks)
	for _, d := range diffs {
		c.sum.Restart.Mismatches++
		c.failLocked("%s restart %d lost or changed data: %s", kind, n, d)
	}
	c.logf("redis %s restart %d in %v; %d members, %d task records compared, %d mismatches", kind, n,
		time.Since(start).Round(time.Millisecond), len(before.members), len(before.tasks), len(diffs))
	return nil
}

func (c *controller) intentIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, r := range c.records {
		if r.K == kIntent {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// persisted is what a restart must keep exactly (a crash too, with
// appendfsync always).
type persisted struct {
	fence   int64
	members map[string]string
	other   string
	stats   task.Stats
	tasks   map[string]taskInfo
}

func (c *controller) state(ctx context.Context, ids []string) (*persisted, error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := c.pool.Admin().Snapshot(sctx)
	if err != nil {
		return nil, err
	}
	st, err := c.insp.Stats(sctx)
	if err != nil {
		return nil, err
	}
	// Workers counts workers with a fresh heartbeat now: it changes with
	// time alone, not with what Redis stores.
	st.Workers = 0
	p := &persisted{fence: s.Fence, members: map[string]string{}, stats: st}
	for _, m := range s.Members {
		l := ""
		if m.Lease != nil {
			l = fmt.Sprintf("%+v", *m.Lease)
		}
		p.members[m.Key] = fmt.Sprintf("%s prio=%d exp=%d value=%v lease=%s until=%d", m.State, m.Priority, m.Expiry.UnixMilli(), m.HasValue, l, m.UnhealthyUntil.UnixMilli())
	}
	var b strings.Builder
	for _, bi := range s.Bindings {
		fmt.Fprintf(&b, "bind %s=%s exp=%d; ", bi.Name, bi.Key, bi.Expiry.UnixMilli())
	}
	for _, k := range sortedKeys(s.Sessions) {
		fmt.Fprintf(&b, "session %s=%d; ", k, s.Sessions[k].UnixMilli())
	}
	fmt.Fprintf(&b, "waiters=%d", s.Waiters)
	p.other = b.String()
	p.tasks = c.readInfos(ctx, ids)
	if len(p.tasks) != len(ids) {
		return nil, fmt.Errorf("read %d of %d task records", len(p.tasks), len(ids))
	}
	return p, nil
}

func (p *persisted) diff(q *persisted) []string {
	var out []string
	if p.fence != q.fence {
		out = append(out, fmt.Sprintf("fence counter %d, then %d", p.fence, q.fence))
	}
	for k, v := range p.members {
		if q.members[k] != v {
			out = append(out, fmt.Sprintf("member %s was %q, then %q", k, v, q.members[k]))
		}
	}
	for k := range q.members {
		if _, ok := p.members[k]; !ok {
			out = append(out, "member "+k+" appeared")
		}
	}
	if p.other != q.other {
		out = append(out, fmt.Sprintf("bindings/sessions were %q, then %q", p.other, q.other))
	}
	if p.stats != q.stats {
		out = append(out, fmt.Sprintf("queue stats were %+v, then %+v", p.stats, q.stats))
	}
	for id, a := range p.tasks {
		if b := q.tasks[id]; !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("task %s was %+v, then %+v", id, a, b))
		}
	}
	return out
}

// readInfos reads the records of tasks concurrently; ids whose read failed
// are missing from the result.
func (c *controller) readInfos(ctx context.Context, ids []string) map[string]taskInfo {
	out := make(map[string]taskInfo, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			info, err := c.insp.Info(rctx, id)
			ti := taskInfo{Info: info, found: err == nil}
			if err != nil && !errors.Is(err, task.ErrNotFound) {
				return
			}
			mu.Lock()
			out[id] = ti
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// ---- the end ----

func (c *controller) finish(ctx context.Context) {
	c.readLedgers()
	c.mu.Lock()
	torn := 0
	for _, t := range c.tails {
		t.finish()
		torn += t.torn
	}
	records, faults := c.records, c.faults
	c.mu.Unlock()

	tasks := c.taskStates(ctx, records)
	res := Check(CheckInput{
		Records: records, Tasks: tasks, RemovalWindow: opTimeout + maxInjectedDelay + 500*time.Millisecond, Faults: faults,
		Lossy: c.cfg.lossy(),
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.sum
	s.TornLines = torn
	s.LedgerRecords = len(records)
	s.Ledger = res
	for _, r := range records {
		if r.K != kOp {
			continue
		}
		oc := s.Ops[r.Op]
		if r.OK {
			oc.OK++
		} else {
			oc.Err++
			if oc.Errors == nil {
				oc.Errors = map[string]int{}
			}
			oc.Errors[r.Err]++
		}
		s.Ops[r.Op] = oc
		s.OpsTotal++
	}
	s.Reclaim = reclaimStats(c.reclaimLat, c.reclaimBound(), s.Reclaim.TooSlow)
	if res.MaxFence > c.maxFence {
		c.failLocked("a worker holds fence %d but the counter is only %d", res.MaxFence, c.maxFence)
	}
	s.Violations += res.DuplicateFences + res.FenceOrder + res.FenceRegressions + res.SupersededAccepted + res.WrongResults
	if c.cfg.lossy() {
		s.Lost.Overlaps, s.Lost.RefusedWhileValid = res.Overlaps, res.GuardViolations
		s.Lost.LostTasks, s.Lost.Conflicting = res.TasksLost, res.ConflictResults
	} else {
		s.Violations += res.Overlaps + res.GuardViolations + res.ConflictResults
		s.LostTasks = res.TasksLost
	}
	s.Failures = append(c.failures, res.Violations...)
	lostNothing := c.cfg.lossy() && (s.Lost.Restarts == 0 || s.Lost.AOFCommands == 0 && s.Lost.ReplicationBytes == 0)
	if lostNothing {
		s.Failures = append(s.Failures, fmt.Sprintf("a lossy run that lost nothing proves nothing: %d lossy restarts, %d AOF commands cut, replicas %d bytes behind",
			s.Lost.Restarts, s.Lost.AOFCommands, s.Lost.ReplicationBytes))
	}
	if s.Kills == 0 || s.Restarts == 0 || s.FaultsTotal == 0 {
		s.Failures = append(s.Failures, fmt.Sprintf("too few disturbances: %d kills, %d restarts, %d faults", s.Kills, s.Restarts, s.FaultsTotal))
	}
	s.Pass = s.Violations == 0 && s.LostTasks == 0 && s.Kills > 0 && s.Restarts > 0 && s.FaultsTotal > 0 && !lostNothing
}

// taskStates reads the final record of every task an intent names.
func (c *controller) taskStates(ctx context.Context, records []Record) map[string]TaskState {
	var ids []string
	for _, r := range records {
		if r.K == kIntent {
			ids = append(ids, r.ID)
		}
	}
	dead := map[string]bool{}
	for off := 0; ; {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		page, err := c.insp.DeadLetters(dctx, off, 1000)
		cancel()
		if err != nil {
			c.fail("dead letters: %v", err)
			break
		}
		for _, in := range page {
			dead[in.ID] = true
		}
		if len(page) < 1000 {
			break
		}
		off += len(page)
	}
	infos := c.readInfos(ctx, ids)
	out := make(map[string]TaskState, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, id := range ids {
		info, ok := infos[id]
		if !ok {
			c.fail("task %s: record unreadable", id)
			continue
		}
		st := TaskState{Found: info.found, Status: string(info.Status), Dead: dead[id]}
		if st.Status != string(task.StatusSucceeded) {
			mu.Lock()
			out[id] = st
			mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h, err := c.queue.Handle(id)
			if err == nil {
				rctx, cancel := context.WithTimeout(ctx, opTimeout)
				var r int64
				r, err = h.Wait(rctx)
				cancel()
				st.Result, st.HasResult = r, err == nil
			}
			mu.Lock()
			out[id] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
