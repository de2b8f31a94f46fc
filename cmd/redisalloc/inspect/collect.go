package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/lock"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/script"
	"github.com/redisallocator/redisallocator/task"
)

// parallel bounds the namespaces read at once: enough to hide round trips,
// few enough not to crowd a busy server.
const parallel = 8

// checkPrefix validates prefix as every constructor of the module does.
func checkPrefix(prefix string) error {
	if err := redisallocator.ValidateName("prefix", prefix); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func collect(ctx context.Context, client rueidis.Client, prefix string, opts Options) (*Report, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalid)
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	switch {
	case opts.ScanLimit < 0:
		return nil, fmt.Errorf("%w: scan limit %d is negative", ErrInvalid, opts.ScanLimit)
	case opts.SampleLimit < 0:
		return nil, fmt.Errorf("%w: sample limit %d is negative", ErrInvalid, opts.SampleLimit)
	}
	if opts.SampleLimit == 0 {
		opts.SampleLimit = DefaultSampleLimit
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	r := NewReport(prefix, time.Now())
	var names Names
	if opts.Names != nil {
		names = *opts.Names
	} else {
		var err error
		if names, err = redisallocator.Discover(ctx, client, prefix, orDefault(opts.ScanLimit, DefaultScanLimit)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRedis, err)
		}
		r.Scan = &Scan{Scanned: names.Scanned, Truncated: names.Truncated, Limit: orDefault(opts.ScanLimit, DefaultScanLimit)}
	}
	c := collector{client: client, prefix: prefix, opts: opts, r: r}
	if err := c.run(ctx, names); err != nil {
		return nil, err
	}
	Diagnose(r)
	return r, nil
}

// NewReport returns an empty report of prefix at t (UTC) in the documented
// shape: versioned, every list empty rather than nil.
func NewReport(prefix string, t time.Time) *Report {
	return &Report{
		Version: SchemaVersion, Time: t.UTC(), Prefix: prefix,
		Pools: []Pool{}, Queues: []Queue{}, Locks: []Lock{}, LockPools: []LockPool{}, Workers: []Worker{}, Findings: []Finding{},
	}
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

type collector struct {
	client rueidis.Client
	prefix string
	opts   Options
	r      *Report

	mu sync.Mutex // guards r's slices and errs while the parts run
}

func (c *collector) run(ctx context.Context, names Names) error {
	r := c.r
	r.Pools = make([]Pool, len(names.Pools))
	r.Queues = make([]Queue, len(names.Queues))
	r.Locks = make([]Lock, len(names.Locks))
	r.LockPools = make([]LockPool, len(names.LockPools))
	workers := make([][]Worker, len(names.HealthGroups))

	var jobs []func(context.Context) error
	for i, n := range names.Pools {
		jobs = append(jobs, func(ctx context.Context) error {
			return c.part("pool:"+n, func() error { return c.pool(ctx, n, &r.Pools[i]) })
		})
	}
	for i, n := range names.Queues {
		jobs = append(jobs, func(ctx context.Context) error {
			return c.part("queue:"+n, func() error { return c.queue(ctx, n, &r.Queues[i]) })
		})
	}
	if len(names.Locks) > 0 {
		l, err := lock.New(c.client, c.prefix)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		for i, n := range names.Locks {
			jobs = append(jobs, func(ctx context.Context) error {
				return c.part("lock:"+n, func() error { return c.lock(ctx, l, n, &r.Locks[i]) })
			})
		}
	}
	for i, n := range names.LockPools {
		jobs = append(jobs, func(ctx context.Context) error {
			return c.part("lockpool:"+n, func() error { return c.lockPool(ctx, n, &r.LockPools[i]) })
		})
	}
	for i, g := range names.HealthGroups {
		jobs = append(jobs, func(ctx context.Context) error {
			return c.part("health:"+g, func() error {
				var err error
				workers[i], err = c.workers(ctx, g)
				return err
			})
		})
	}
	if !c.opts.SkipRedis {
		jobs = append(jobs, func(ctx context.Context) error {
			r.Redis = c.redisInfo(ctx)
			return nil
		})
	}
	if err := runAll(ctx, jobs); err != nil {
		return err
	}
	for _, ws := range workers {
		r.Workers = append(r.Workers, ws...)
	}
	// Parts that could not be read stay in the lists with their name only;
	// drop them so every listed part is a real observation.
	r.Pools = slices.DeleteFunc(r.Pools, func(p Pool) bool { return p.Name == "" })
	r.Queues = slices.DeleteFunc(r.Queues, func(q Queue) bool { return q.Name == "" })
	r.Locks = slices.DeleteFunc(r.Locks, func(l Lock) bool { return l.Name == "" })
	r.LockPools = slices.DeleteFunc(r.LockPools, func(l LockPool) bool { return l.Name == "" })
	return nil
}

// part runs one read. A Redis error reply (a key of the wrong type, a
// script refusing foreign data) concerns that part only and becomes a
// finding; anything else (connection, ctx) fails the collection.
func (c *collector) part(subject string, read func() error) error {
	err := read()
	if err == nil {
		return nil
	}
	if !isConnError(err) {
		c.mu.Lock()
		c.r.Findings = append(c.r.Findings, Finding{
			Severity: SeverityWarning, Code: CodeUnreadable, Subject: subject,
			Message: "could not be read: " + err.Error(),
		})
		c.mu.Unlock()
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrRedis, subject, err)
}

// isConnError reports errors of the connection or of ctx, as opposed to
// errors about what is stored (error replies, unexpected reply shapes).
func isConnError(err error) bool {
	var ne net.Error
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, rueidis.ErrClosing) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
}

// runAll runs jobs, parallel at a time, and returns the first error.
func runAll(ctx context.Context, jobs []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := j(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

func (c *collector) pool(ctx context.Context, name string, out *Pool) error {
	p, err := pool.NewInspector(c.client, c.prefix, name)
	if err != nil {
		return err
	}
	// The summary first: its cost does not depend on the pool's size, and
	// it tells whether a whole read is affordable.
	st, err := p.Stats(ctx)
	if err != nil {
		return err
	}
	if limit := orDefault(c.opts.FullReadLimit, DefaultFullReadLimit); limit >= 0 && countsTotal(st.Counts) > limit {
		*out = PoolFromStats(name, st)
		return nil
	}
	s, err := p.Snapshot(ctx)
	if err != nil {
		return err
	}
	*out = PoolFromSnapshot(name, s, c.opts.OmitMembers)
	return nil
}

// PoolFromStats converts a pool summary: counts and due timers, with
// Summary set and no members, bindings, sessions or invariant check.
func PoolFromStats(name string, st *pool.Stats) Pool {
	p := Pool{
		Name: name, Summary: true, Free: st.Counts.Free, Held: st.Counts.Held, Unhealthy: st.Counts.Unhealthy, Total: countsTotal(st.Counts),
		Fence: st.Fence, Allocations: st.Allocations, Waiters: st.Waiters, LapsedLeases: st.LapsedLeases, ExpiredMembers: st.ExpiredMembers,
		DueTimers: st.DueTimers, ServerTime: st.Time.UTC(), SessionLeases: st.SessionLeases, DeadSessions: st.DeadSessions,
		Members: []Member{}, Bindings: []Binding{}, Sessions: []Session{}, Violations: []string{},
	}
	if !st.OldestLapsed.IsZero() {
		p.LapsedMillis = max(st.Time.Sub(st.OldestLapsed).Milliseconds(), 0)
	}
	if !st.OldestDeadSession.IsZero() {
		p.DeadSessionMillis = max(st.Time.Sub(st.OldestDeadSession).Milliseconds(), 0)
	}
	return p
}

// PoolFromSnapshot converts a pool snapshot; without members it keeps the
// counts only.
func PoolFromSnapshot(name string, s *pool.Snapshot, omitMembers bool) Pool {
	p := Pool{
		Name: name, Free: s.Counts.Free, Held: s.Counts.Held, Unhealthy: s.Counts.Unhealthy, Total: countsTotal(s.Counts),
		Fence: s.Fence, Allocations: s.Allocations, Waiters: s.Waiters, LapsedLeases: s.LapsedLeases, ExpiredMembers: s.ExpiredMembers,
		DueTimers: s.DueTimers, ServerTime: s.Time.UTC(),
		Members: []Member{}, Bindings: []Binding{}, Sessions: []Session{}, Violations: []string{},
	}
	p.Violations = append(p.Violations, s.Violations...)
	for _, m := range s.Members {
		if m.Lease != nil && m.Lease.Deadline.IsZero() {
			p.PermanentLeases++
		}
		if m.Lease != nil && !m.Lease.Deadline.IsZero() && !m.Lease.Deadline.After(s.Time) {
			p.LapsedMillis = max(p.LapsedMillis, s.Time.Sub(m.Lease.Deadline).Milliseconds())
		}
		if m.Lease != nil && m.Lease.Session != "" {
			p.SessionLeases++
		}
	}
	for _, b := range s.Bindings {
		if b.Stale {
			p.StaleBindings++
		}
	}
	for id, dl := range s.Sessions {
		if !dl.After(s.Time) {
			p.DeadSessions++
			p.DeadSessionMillis = max(p.DeadSessionMillis, s.Time.Sub(dl).Milliseconds())
		}
		if !omitMembers {
			p.Sessions = append(p.Sessions, Session{ID: id, Deadline: dl.UTC()})
		}
	}
	slices.SortFunc(p.Sessions, func(a, b Session) int { return strings.Compare(a.ID, b.ID) })
	if omitMembers {
		return p
	}
	for _, m := range s.Members {
		mm := Member{Key: m.Key, State: string(m.State), Priority: m.Priority, HasValue: m.HasValue, Expiry: timePtr(m.Expiry)}
		if !m.UnhealthyUntil.IsZero() {
			mm.UnhealthyUntil = timePtr(m.UnhealthyUntil)
		}
		if l := m.Lease; l != nil {
			ll := &Lease{Fence: l.Fence, Session: l.Session, TTLMillis: -1, MemberExpired: l.Expired}
			if !l.Deadline.IsZero() {
				ll.Deadline = timePtr(l.Deadline)
				ll.TTLMillis = max(l.Deadline.Sub(s.Time).Milliseconds(), 0)
				ll.Expired = !l.Deadline.After(s.Time)
			}
			mm.Lease = ll
		}
		p.Members = append(p.Members, mm)
	}
	for _, b := range s.Bindings {
		p.Bindings = append(p.Bindings, Binding{Name: b.Name, Key: b.Key, Expiry: timePtr(b.Expiry), Stale: b.Stale})
	}
	return p
}

// timePtr returns nil for the zero time, else the time in UTC.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (c *collector) queue(ctx context.Context, name string, out *Queue) error {
	q, err := task.NewInspector(c.client, c.prefix, name)
	if err != nil {
		return err
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return err
	}
	if st.Corrupt != "" {
		// Counted 0 by Stats: the queue cannot be read as it is.
		return fmt.Errorf("%w: %s", redisallocator.ErrCorrupt, st.Corrupt)
	}
	res := Queue{
		Name: name, Ready: st.Ready, Delayed: st.Delayed, Running: st.Running, Dead: st.Dead,
		Workers: st.Workers, Records: st.Records, RecentFailures: []Failure{},
		Succeeded: st.Succeeded, Failed: st.Failed, Retried: st.Retried, RunTimeMillis: st.RunTime.Milliseconds(),
	}
	if st.Dead > 0 {
		// The dead-letter set is oldest first: read its tail.
		n := min(c.opts.SampleLimit, st.Dead, 1000)
		infos, err := q.DeadLetters(ctx, max(st.Dead-n, 0), n)
		if err != nil {
			return err
		}
		for i := len(infos) - 1; i >= 0; i-- {
			in := infos[i]
			res.RecentFailures = append(res.RecentFailures, Failure{
				ID: in.ID, Attempt: in.Attempt, ErrorKind: in.ErrorKind, ErrorMessage: in.ErrorMessage, Finished: in.Finished.UTC(),
			})
		}
	}
	*out = res
	return nil
}

func (c *collector) lock(ctx context.Context, l *lock.Locker, name string, out *Lock) error {
	res := Lock{Name: name, TTLMillis: -2}
	info, err := l.Info(ctx, name)
	switch {
	case err != nil:
		return err
	case info.Holds > 0:
		res.Held, res.Holds = true, info.Holds
		res.TTLMillis = -1
		if info.TTL != lock.Permanent {
			res.TTLMillis = info.TTL.Milliseconds()
		}
	}
	if res.Fence, err = l.Fence(ctx, name); err != nil {
		return err
	}
	*out = res
	return nil
}

func (c *collector) lockPool(ctx context.Context, name string, out *LockPool) error {
	p, err := lock.NewPool(c.client, c.prefix, name)
	if err != nil {
		return err
	}
	st, err := p.Infos(ctx)
	if err != nil {
		return err
	}
	res := LockPool{Name: name, Members: len(st)}
	for _, in := range st {
		if in.Holds > 0 {
			res.Locked++
			if in.TTL == lock.Permanent {
				res.PermanentLocks++
			}
		}
	}
	*out = res
	return nil
}

func (c *collector) workers(ctx context.Context, group string) ([]Worker, error) {
	reg, err := health.NewRegistry(c.client, c.prefix, health.WithGroup(group))
	if err != nil {
		return nil, err
	}
	ws, err := reg.Workers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Worker, 0, len(ws))
	for _, w := range ws {
		out = append(out, Worker{
			ID: w.ID, Group: group, Host: w.Host, PID: w.PID, Started: w.Started.UTC(), Deadline: w.Deadline.UTC(),
			Alive: w.Alive, Labels: w.Labels,
		})
	}
	return out, nil
}

// redisInfo reads INFO (memory, clients, commandstats) and SLOWLOG of
// every node. Errors leave the fields empty, as in the reference: these
// are hints, and some servers (managed ones, miniredis) refuse some of the
// commands.
func (c *collector) redisInfo(ctx context.Context) *Redis {
	out := &Redis{Nodes: []Node{}}
	nodes := c.client.Nodes()
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for _, addr := range addrs {
		n := nodes[addr]
		nd := Node{Addr: addr, SlowLog: []SlowEntry{}}
		if s, err := n.Do(ctx, n.B().Info().Section("memory").Build()).ToString(); err == nil {
			f := infoFields(s)
			nd.UsedMemory, _ = strconv.ParseInt(f["used_memory"], 10, 64)
			nd.MaxMemory, _ = strconv.ParseInt(f["maxmemory"], 10, 64)
			nd.MaxMemoryPolicy = f["maxmemory_policy"]
		}
		if s, err := n.Do(ctx, n.B().Info().Section("clients").Build()).ToString(); err == nil {
			nd.ConnectedClients, _ = strconv.Atoi(infoFields(s)["connected_clients"])
		}
		// Stamped halfway through the round trip, nearest to when the
		// server read its counters: ScriptLoadSince divides by the time
		// between two such stamps.
		start := time.Now()
		if s, err := n.Do(ctx, n.B().Info().Section("commandstats").Build()).ToString(); err == nil {
			nd.ScriptCalls, nd.ScriptMicros = scriptStats(s)
			nd.ScriptStatsAt = start.Add(time.Since(start) / 2).UTC()
		}
		// The slow log is the server's: read more than the sample and keep
		// the entries of this prefix only, so other prefixes' (or other
		// applications') commands never show as this prefix's.
		if arr, err := n.Do(ctx, n.B().SlowlogGet().Count(slowLogRead).Build()).ToArray(); err == nil {
			for _, e := range arr {
				if len(nd.SlowLog) == c.opts.SampleLimit {
					break
				}
				if se, ok := slowEntry(e, c.prefix); ok {
					nd.SlowLog = append(nd.SlowLog, se)
				}
			}
		}
		out.Nodes = append(out.Nodes, nd)
	}
	return out
}

// infoFields parses INFO text ("key:value" lines).
func infoFields(s string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// slowLogRead is how many slow-log entries are read per node before
// keeping those of the prefix: more than the default slowlog-max-len (128).
const slowLogRead = 1024

// maxSlowArgs caps the command words kept per slow-log entry: arguments
// may be values, and long scripts' ARGV would bloat the report.
const maxSlowArgs = 8

// slowEntry parses one SLOWLOG GET entry: id, unix time, microseconds,
// arguments, then (Redis 4+) client address and name. ok is false for
// entries that do not touch prefix.
func slowEntry(m rueidis.RedisMessage, prefix string) (SlowEntry, bool) {
	f, err := m.ToArray()
	if err != nil || len(f) < 4 {
		return SlowEntry{}, false
	}
	id, e1 := f[0].AsInt64()
	ts, e2 := f[1].AsInt64()
	us, e3 := f[2].AsInt64()
	args, e4 := f[3].AsStrSlice()
	if errors.Join(e1, e2, e3, e4) != nil || !touchesPrefix(args, prefix) {
		return SlowEntry{}, false
	}
	if len(args) > maxSlowArgs {
		// Checked above on every argument: a key past the cap still counts.
		args = append(args[:maxSlowArgs:maxSlowArgs], fmt.Sprintf("... (%d more)", len(args)-maxSlowArgs))
	}
	se := SlowEntry{ID: id, Time: time.Unix(ts, 0).UTC(), DurationMicros: us, Command: args}
	if len(args) > 1 && strings.HasPrefix(strings.ToUpper(args[0]), "EVALSHA") {
		se.Script = scriptBySHA()[strings.ToLower(args[1])]
	}
	return se, true
}

// touchesPrefix reports whether a command touches keys under prefix: one
// of its arguments (the command name aside) starts with "<prefix>:". The
// module's EVALSHA calls carry their keys as arguments, so they count.
func touchesPrefix(args []string, prefix string) bool {
	for i, a := range args {
		// Every key of the module is "<prefix>:{...}": the brace keeps
		// prefix "app" from claiming the keys of prefix "app:eu".
		if i > 0 && strings.HasPrefix(a, prefix+":{") {
			return true
		}
	}
	return false
}

// scriptBySHA maps the SHA-1 of every script of the module (what EVALSHA
// sends) to its name, so slow-log entries say which operation was slow.
var scriptBySHA = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, s := range script.All() {
		m[s.SHA1] = s.Name
	}
	return m
})

// countsTotal is the number of members in c.
func countsTotal(c pool.Counts) int { return c.Free + c.Held + c.Unhealthy }
