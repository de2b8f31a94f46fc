package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// workerConfig is what the controller passes to a worker process (as JSON
// after the hidden -worker flag).
type workerConfig struct {
	ID             string        `json:"id"`
	Addr           string        `json:"addr"` // the proxy in front of Redis
	Ledger         string        `json:"ledger"`
	DrainFile      string        `json:"drain_file"` // exists once the controller drains
	Seed           uint64        `json:"seed"`
	Prefix         string        `json:"prefix"`
	Pool           string        `json:"pool"`
	Queue          string        `json:"queue"`
	Core           []string      `json:"core"`  // members that are never removed
	Churn          []string      `json:"churn"` // members AddKeys, Remove and AssignKeys move in and out
	LeaseTTL       time.Duration `json:"lease_ttl"`
	SessionTimeout time.Duration `json:"session_timeout"`
	Holders        int           `json:"holders"`
	TaskTimeout    time.Duration `json:"task_timeout"`
	Retention      time.Duration `json:"retention"`
	OpTimeout      time.Duration `json:"op_timeout"`
	ResourceDir    string        `json:"resource_dir"` // the fenced resource's files (see resourceWrite)
}

// Params is a task's payload; its result is expected(X).
type Params struct {
	X    int64 `json:"x"`
	Fail bool  `json:"fail"` // the handler always fails: the task ends in the dead-letter set
}

const (
	maxAttempts = 8
	bindNames   = 3
)

// workerMain runs one worker process; it returns the exit code.
func workerMain(arg string) int {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(arg), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "torture worker: bad config:", err)
		return 2
	}
	led, err := openLedger(cfg.Ledger, cfg.ID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture worker:", err)
		return 2
	}
	defer func() { _ = led.close() }()
	led.put(Record{K: kStart, X: int64(os.Getpid())})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	client, err := connect(ctx, cfg.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		fmt.Fprintln(os.Stderr, "torture worker: connect:", err)
		return 2
	}
	defer client.Close()
	w, err := newWorker(cfg, client, led)
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture worker:", err)
		return 2
	}
	go func() {
		// The controller asks for the drain with a file, not a signal: a
		// signal could reach a worker before it installed its handler.
		for ctx.Err() == nil {
			if _, err := os.Stat(cfg.DrainFile); err == nil {
				w.draining.Store(true)
				return
			}
			sleep(ctx, 200*time.Millisecond)
		}
	}()
	w.run(ctx)
	return 0
}

// connect retries until Redis answers through the proxy: a worker may start
// while the proxy is disabled or Redis restarts.
func connect(ctx context.Context, addr string) (rueidis.Client, error) {
	for {
		c, err := rueidis.NewClient(rueidis.ClientOption{
			InitAddress:       []string{addr},
			DisableCache:      true,
			Dialer:            net.Dialer{Timeout: time.Second},
			ConnWriteTimeout:  2 * time.Second,
			BlockingPoolSize:  64,
			ForceSingleClient: true,
		})
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type worker struct {
	cfg      workerConfig
	client   rueidis.Client
	led      *ledgerWriter
	pool     *pool.Pool[string]
	queue    *task.Queue[Params, int64]
	sess     sessions
	draining atomic.Bool
	waits    sync.WaitGroup
	holdings atomic.Int64 // numbers this worker's holdings for the fenced resource
}

func newWorker(cfg workerConfig, client rueidis.Client, led *ledgerWriter) (*worker, error) {
	p, err := pool.New[string](client, cfg.Prefix, cfg.Pool, pool.WithLeaseTTL(cfg.LeaseTTL))
	if err != nil {
		return nil, err
	}
	w := &worker{cfg: cfg, client: client, led: led, pool: p}
	w.sess = sessions{w: w}
	q, err := task.New[Params, int64](client, cfg.Prefix, cfg.Queue,
		task.WithRetention(cfg.Retention, 0),
		task.WithDefaultTimeout(cfg.TaskTimeout),
		task.WithMaxAttempts(maxAttempts),
		task.WithBackoff(func(int, error) time.Duration { return 100 * time.Millisecond }),
	)
	if err != nil {
		return nil, err
	}
	w.queue = q
	return w, nil
}

func (w *worker) op(name string, err error) {
	r := Record{K: kOp, Op: name, OK: err == nil}
	if err != nil {
		r.Err = errClass(err)
	}
	w.led.put(r)
}

// errClass names an error briefly for the counts.
func errClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, pool.ErrEmpty):
		return "empty"
	case errors.Is(err, pool.ErrNotHeld):
		return "not_held"
	case errors.Is(err, pool.ErrNotMember):
		return "not_member"
	case errors.Is(err, pool.ErrInvalid), errors.Is(err, task.ErrInvalid):
		return "invalid"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	for _, c := range []struct{ sub, class string }{
		{"connection refused", errRefused},
		{"reset by peer", "conn_reset"},
		{"EOF", "conn_eof"},
		{"closed", "conn_closed"},
		{"broken pipe", "conn_broken"},
		{"i/o timeout", "io_timeout"},
		{"LOADING", "loading"},
		{"NOSCRIPT", "noscript"},
	} {
		if strings.Contains(msg, c.sub) {
			return c.class
		}
	}
	return "other: " + msg[:min(len(msg), 60)]
}

func (w *worker) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < w.cfg.Holders; i++ {
		rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(i)))
		wg.Go(func() { w.holderLoop(ctx, rng) })
	}
	wg.Go(func() { w.submitLoop(ctx, rand.New(rand.NewPCG(w.cfg.Seed, 1000))) })
	wg.Go(func() { w.listen(ctx) })
	wg.Wait()
	w.waits.Wait()
	w.sess.close()
}

// ---- pool operations ----

func (w *worker) holderLoop(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil && !w.draining.Load() {
		switch n := rng.IntN(100); {
		case n < 60:
			w.mallocAndHold(ctx, rng)
		case n < 66:
			c, cancel := w.opCtx(ctx)
			_, err := w.pool.Admin().GC(c, 100)
			cancel()
			w.op("gc", err)
		case n < 72:
			c, cancel := w.opCtx(ctx)
			err := w.pool.Admin().Quarantine(c, w.anyMember(rng), time.Duration(200+rng.IntN(800))*time.Millisecond)
			cancel()
			w.op("set_unhealthy", ignore(err, pool.ErrNotMember))
		case n < 75:
			c, cancel := w.opCtx(ctx)
			err := w.pool.Admin().Quarantine(c, w.anyMember(rng), 0)
			cancel()
			w.op("set_healthy", ignore(err, pool.ErrNotMember))
		case n < 82:
			keys := pick(rng, w.cfg.Churn, 1+rng.IntN(3))
			c, cancel := w.opCtx(ctx)
			_, err := w.pool.AddKeys(c, keys, pool.Priority(rng.IntN(3)))
			cancel()
			w.op("extend", err)
		case n < 88:
			keys := pick(rng, w.cfg.Churn, 1+rng.IntN(2))
			send := now()
			w.led.put(Record{K: kRemoving, Op: "shrink", Keys: keys, Send: send})
			c, cancel := w.opCtx(ctx)
			_, err := w.pool.Remove(c, keys...)
			cancel()
			w.led.put(Record{K: kRemove, Op: "shrink", Keys: keys, Send: send, OK: err == nil, Err: errClass(err)})
			w.op("shrink", err)
		case n < 92:
			// Assign keeps the core members and a random part of the churn
			// ones: the rest may be removed.
			keep := pick(rng, w.cfg.Churn, rng.IntN(len(w.cfg.Churn)+1))
			var removed []string
			for _, k := range w.cfg.Churn {
				if !contains(keep, k) {
					removed = append(removed, k)
				}
			}
			send := now()
			// Written before sending: a worker killed before the reply
			// leaves its request in the proxy, which may still deliver it.
			w.led.put(Record{K: kRemoving, Op: "assign", Keys: removed, Send: send})
			c, cancel := w.opCtx(ctx)
			_, _, err := w.pool.AssignKeys(c, append(slicesClone(w.cfg.Core), keep...))
			cancel()
			w.led.put(Record{K: kRemove, Op: "assign", Keys: removed, Send: send, OK: err == nil, Err: errClass(err)})
			w.op("assign", err)
		default:
			c, cancel := w.opCtx(ctx)
			_, err := w.pool.Admin().Stats(c)
			cancel()
			w.op("counts", err)
		}
		sleep(ctx, time.Duration(rng.IntN(100))*time.Millisecond)
	}
}

func (w *worker) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.cfg.OpTimeout)
}

func (w *worker) anyMember(rng *rand.Rand) string {
	if rng.IntN(len(w.cfg.Core)+len(w.cfg.Churn)) < len(w.cfg.Core) {
		return w.cfg.Core[rng.IntN(len(w.cfg.Core))]
	}
	return w.cfg.Churn[rng.IntN(len(w.cfg.Churn))]
}

func (w *worker) mallocAndHold(ctx context.Context, rng *rand.Rand) {
	ttl := time.Duration(1500+rng.IntN(2500)) * time.Millisecond
	opts := []pool.MallocOption{pool.LeaseTTL(ttl)}
	kind := "malloc"
	var sess *trackedSession
	switch n := rng.IntN(100); {
	case n < 40:
		if sess = w.sess.get(ctx); sess != nil {
			opts = append(opts, pool.InSession(sess))
			kind = "malloc_session"
		}
	case n < 60:
		opts = append(opts, pool.Bind("b"+strconv.Itoa(rng.IntN(bindNames)), 5*time.Second))
		kind = "malloc_bind"
	case n < 70:
		opts = append(opts, pool.Wait())
		kind = "malloc_wait"
	}
	c, cancel := w.opCtx(ctx)
	send := now()
	al, err := w.pool.Malloc(c, opts...)
	reply := now()
	cancel()
	w.op(kind, err)
	if err != nil {
		return
	}
	a := al.Lease
	r := Record{K: kAcq, M: a.Key, F: a.Fence(), TTL: ttl.Milliseconds(), Send: send, T: reply}
	if sess != nil {
		r.Sess = sessKey(sess.Session)
	}
	w.led.put(r)
	w.hold(ctx, rng, a, ttl)
}

// hold uses a lease for a while: guarded writes, refreshes, perhaps an
// unhealthy report; then frees it, or drops it to let it lapse.
func (w *worker) hold(ctx context.Context, rng *rand.Rand, l *pool.Lease, ttl time.Duration) {
	lctx := l.Context()
	holder := fmt.Sprintf("%s#%d", w.cfg.ID, w.holdings.Add(1))
	steps := 1 + rng.IntN(6)
	for i := 0; i < steps && ctx.Err() == nil; i++ {
		sleep(ctx, time.Duration(50+rng.IntN(350))*time.Millisecond)
		if lctx.Err() != nil {
			break // the library says the lease may be gone: stop using it
		}
		switch n := rng.IntN(100); {
		case n < 60:
			w.guardWrite(l, holder)
		case n < 92:
			c, cancel := w.opCtx(ctx)
			send := now()
			err := l.Refresh(c, 0)
			reply := now()
			cancel()
			w.led.put(Record{
				K: kRefresh, M: l.Key, F: l.Fence(), Send: send, T: reply, OK: err == nil,
				Lost: errors.Is(err, pool.ErrNotHeld), TTL: ttl.Milliseconds(),
			})
			w.op("refresh", err)
		default:
			c, cancel := w.opCtx(ctx)
			err := l.ReportUnhealthy(c, time.Duration(100+rng.IntN(500))*time.Millisecond)
			cancel()
			w.op("report_unhealthy", err)
		}
	}
	if rng.IntN(100) < 15 && ctx.Err() == nil {
		w.led.put(Record{K: kDrop, M: l.Key, F: l.Fence()})
		return
	}
	// Free even when stopping: a fresh ctx, since ctx may have ended.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.OpTimeout)
	defer cancel()
	w.led.put(Record{K: kFree, M: l.Key, F: l.Fence()})
	err := l.Release(fctx)
	w.led.put(Record{K: kFreed, M: l.Key, F: l.Fence(), OK: err == nil})
	w.op("free", err)
}

// guardWrite writes the lease's fence to the fenced resource (see
// resourceWrite), as the holder of the member would before acting on it.
func (w *worker) guardWrite(l *pool.Lease, holder string) {
	send := now()
	ok, cur, curHolder, err := resourceWrite(w.cfg.ResourceDir, l.Key, l.Fence(), holder)
	reply := now()
	w.op("guard", err)
	if err != nil {
		return
	}
	w.led.put(Record{K: kGuard, M: l.Key, F: l.Fence(), Send: send, T: reply, OK: ok, Cur: cur, H: holder, CurH: curHolder})
}

// ---- tasks ----

func (w *worker) handle(ctx context.Context, t *task.Task[Params]) (int64, error) {
	rng := rand.New(rand.NewPCG(uint64(now()), uint64(len(t.ID))))
	sleep(ctx, time.Duration(rng.IntN(200))*time.Millisecond)
	if rng.IntN(3) == 0 {
		_ = t.Update(ctx, 1, 2)
	}
	if t.Params.Fail {
		w.led.put(Record{K: kHandled, ID: t.ID, Att: t.Attempt})
		return 0, fmt.Errorf("poison task: %w", task.ErrSkipRetry)
	}
	if rng.IntN(100) < 15 && t.Attempt < t.MaxAttempts-1 {
		w.led.put(Record{K: kHandled, ID: t.ID, Att: t.Attempt})
		return 0, errors.New("transient failure")
	}
	r := expected(t.Params.X)
	w.led.put(Record{K: kHandled, ID: t.ID, Att: t.Attempt, OK: true, R: &r})
	return r, nil
}

func (w *worker) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.queue.Run(ctx, task.Handler[Params, int64](w.handle),
			task.Workers(3), task.Heartbeat(500*time.Millisecond),
			task.Grace(500*time.Millisecond), task.WorkerID(w.cfg.ID), task.OnError(func(error) {}))
		w.op("listen", err)
		sleep(ctx, 300*time.Millisecond)
	}
}

func (w *worker) submitLoop(ctx context.Context, rng *rand.Rand) {
	sem := make(chan struct{}, 16) // outstanding waits
	for seq := 1; ctx.Err() == nil && !w.draining.Load(); seq++ {
		id := w.cfg.ID + "-t" + strconv.Itoa(seq)
		p := Params{X: rng.Int64N(1 << 40), Fail: rng.IntN(25) == 0}
		w.led.put(Record{K: kIntent, ID: id, X: p.X, Fail: p.Fail})
		var h *task.Handle[int64]
		for try := 0; try < 10 && ctx.Err() == nil; try++ {
			c, cancel := w.opCtx(ctx)
			var err error
			h, err = w.queue.Submit(c, id, p)
			cancel()
			w.op("submit", err)
			if err == nil {
				w.led.put(Record{K: kSubmitted, ID: id})
				break
			}
			h = nil
			sleep(ctx, 200*time.Millisecond)
		}
		if h != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			w.waits.Go(func() {
				defer func() { <-sem }()
				w.wait(ctx, id, h)
			})
		}
		sleep(ctx, time.Duration(50+rng.IntN(250))*time.Millisecond)
	}
}

// wait waits for a task's outcome, asking again after errors, until the
// worker stops.
func (w *worker) wait(ctx context.Context, id string, h *task.Handle[int64]) {
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		dl, _ := c.Deadline()
		r, err := h.Wait(c)
		// rueidis may report our own deadline a moment before c.Err()
		// does: an error within 100 ms of it is ours, not an outcome.
		expired := c.Err() != nil || time.Until(dl) < 100*time.Millisecond
		cancel()
		var he *task.HandlerError
		switch {
		case err == nil:
			w.led.put(Record{K: kResult, ID: id, R: &r})
			w.op("wait", nil)
			return
		case errors.As(err, &he):
			w.led.put(Record{K: kResult, ID: id, Err: he.Kind})
			w.op("wait", nil)
			return
		case expired || ctx.Err() != nil:
			// our own wait bound: ask again
		case errors.Is(err, task.ErrTimeout), errors.Is(err, task.ErrCanceled):
			w.led.put(Record{K: kResult, ID: id, Err: errClassTask(err)})
			w.op("wait", err)
			return
		default:
			w.op("wait", err)
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

func errClassTask(err error) string {
	if errors.Is(err, task.ErrTimeout) {
		return "timeout"
	}
	return "canceled"
}

// ---- sessions ----

// sessions hands out the worker's current health session and replaces it
// once it is lost (each with a new id: a lost session never comes back).
type sessions struct {
	w   *worker
	mu  sync.Mutex
	cur *trackedSession
	n   int
	all []*health.Session
	run sync.WaitGroup // the sessions' heartbeat loops; Close ends each
}

func (s *sessions) get(ctx context.Context) *trackedSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.Context().Err() == nil {
		return s.cur
	}
	s.n++
	id := s.w.cfg.ID + ".s" + strconv.Itoa(s.n)
	c, cancel := s.w.opCtx(ctx)
	defer cancel()
	hs, err := health.NewSession(c, s.w.client, s.w.cfg.Prefix, health.WithID(id),
		health.WithTimeout(s.w.cfg.SessionTimeout), health.WithInterval(s.w.cfg.SessionTimeout/4))
	s.w.op("session", err)
	if err != nil {
		s.cur = nil
		return nil
	}
	s.w.led.put(Record{K: kSess, Sess: sessKey(hs), TTL: s.w.cfg.SessionTimeout.Milliseconds()})
	s.all = append(s.all, hs)
	s.run.Go(func() { _ = hs.Run(context.Background()) })
	s.cur = &trackedSession{Session: hs, led: s.w.led}
	return s.cur
}

func (s *sessions) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, hs := range s.all {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = hs.Close(ctx)
		cancel()
	}
	s.run.Wait()
}

// sessKey is the name pools record a session's leases under (ID and
// incarnation), which the ledger uses too, so the checker can match
// snapshots' lease sessions.
func sessKey(s *health.Session) string { return s.ID() + ":" + s.Incarnation() }

// trackedSession is a health.Session whose pool heartbeats are written to
// the ledger with their send and reply times: they are what keeps the
// session's leases alive, so the checker needs them.
type trackedSession struct {
	*health.Session
	led *ledgerWriter
}

// Track wraps the pool's beat to time it.
func (t *trackedSession) Track(key string, beat func(ctx context.Context) error) {
	id := sessKey(t.Session)
	t.Session.Track(key, func(ctx context.Context) error {
		send := now()
		err := beat(ctx)
		t.led.put(Record{K: kBeat, Sess: id, Send: send, T: now(), OK: err == nil})
		return err
	})
}

// ---- helpers ----

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func ignore(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return err
}

func pick(rng *rand.Rand, from []string, n int) []string {
	p := rng.Perm(len(from))
	out := make([]string, 0, n)
	for _, i := range p[:min(n, len(from))] {
		out = append(out, from[i])
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
