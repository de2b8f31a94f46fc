package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
)

// cliTarget is what every diagnostics and repair command points at: a
// Redis and a key prefix.
type cliTarget struct {
	redisURL string
	prefix   string
	timeout  time.Duration
}

// defaultCLITimeout bounds one diagnostics or repair command.
const defaultCLITimeout = time.Minute

func (t *cliTarget) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.redisURL, "redis", "",
		"Redis `URL`: redis://, rediss://, unix://, comma-separated cluster seeds\n(redis://h1:p1,h2:p2), or sentinels (redis-sentinel://s1,s2?master_set=NAME); default: $REDIS_URL")
	fs.StringVar(&t.prefix, "prefix", "", "key `prefix` the pools, queues and locks were opened with (required)")
	fs.DurationVar(&t.timeout, "timeout", defaultCLITimeout, "give up after this long")
}

// usageErr is an error that is the caller's mistake (exit status 2).
func usageErr(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// check validates the target and resolves the URL from the environment.
func (t *cliTarget) check(e env) error {
	if t.redisURL == "" {
		getenv := e.getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		t.redisURL = strings.TrimSpace(getenv("REDIS_URL"))
	}
	if t.redisURL == "" {
		// An embedded Redis would be empty: nothing to inspect or repair.
		return usageErr("no Redis given: pass --redis URL or set REDIS_URL")
	}
	if t.prefix == "" {
		return usageErr("--prefix is required")
	}
	if err := redisallocator.ValidateName("prefix", t.prefix); err != nil {
		return usageErr("--prefix: %w", err)
	}
	if t.timeout <= 0 {
		return usageErr("--timeout must be positive, got %v", t.timeout)
	}
	return nil
}

// connect opens the target's Redis without client-side caching (these
// commands read once). Failures carry exit status 2.
func (t *cliTarget) connect(ctx context.Context) (rueidis.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, min(t.timeout, connectTimeout))
	defer cancel()
	c, err := redisallocator.Connect(cctx, t.redisURL,
		redisallocator.WithClientOption(func(o *rueidis.ClientOption) { o.DisableCache = true }))
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return c, nil
}

// redisFailure gives a failure to read or write Redis exit status 2, as
// for a Redis that cannot be reached.
func redisFailure(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &exitError{exitUsage, err}
}

// parseArgs parses flags anywhere among at most maxPos positional
// arguments ("inspect pool NAME --json" as well as "inspect --json pool
// NAME"), which flag.FlagSet alone does not allow. Like parseFlags, ok is
// false when the command must not run, with the exit status in code.
func parseArgs(fs *flag.FlagSet, e env, args []string, maxPos int) (pos []string, code int, ok bool) {
	fs.SetOutput(io.Discard)
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return nil, exitOK, false
		}
		if err == nil && fs.NArg() > 0 {
			if len(pos) == maxPos {
				err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
			} else {
				pos = append(pos, fs.Arg(0))
				args = fs.Args()[1:]
				continue
			}
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "redisalloc %s: %v\n", fs.Name(), err)
			fs.SetOutput(e.stderr)
			fs.Usage()
			return nil, exitUsage, false
		}
		return pos, exitOK, true
	}
}

// report prints err (if any) as the command's failure and returns the
// exit status.
func report(e env, name string, err error) int {
	if err != nil {
		// Messages quote keys and names from outside.
		fmt.Fprintf(termSafe{e.stderr}, "redisalloc %s: %v\n", name, err)
	}
	return exitCode(err)
}

// inspectOptions are the flags of inspect and diagnose.
type inspectOptions struct {
	cliTarget
	json        bool
	scanLimit   int
	sampleLimit int
	members     bool
	// fullReadLimit is inspect.Options.FullReadLimit.
	fullReadLimit int
}

func (o *inspectOptions) flags(fs *flag.FlagSet) {
	o.cliTarget.flags(fs)
	fs.BoolVar(&o.json, "json", false, "print the report as JSON (the versioned shape of docs/cli.md)")
	fs.IntVar(&o.scanLimit, "scan-limit", inspect.DefaultScanLimit, "keep at most this many keys of the prefix per node when discovering names")
	fs.IntVar(&o.sampleLimit, "sample-limit", inspect.DefaultSampleLimit, "slow-log entries per node and recent failures per queue to show")
	fs.IntVar(&o.fullReadLimit, "full-read-limit", inspect.DefaultFullReadLimit,
		"read pools of at most this many members whole (members, invariant check); larger ones\n"+
			"get a summary whose cost does not grow with them; -1 reads every pool whole")
}

func (o *inspectOptions) check(e env) error {
	if err := o.cliTarget.check(e); err != nil {
		return err
	}
	if o.scanLimit < 1 {
		return usageErr("--scan-limit must be at least 1, got %d", o.scanLimit)
	}
	if o.sampleLimit < 1 || o.sampleLimit > 1000 {
		return usageErr("--sample-limit must be between 1 and 1000, got %d", o.sampleLimit)
	}
	if o.fullReadLimit < -1 || o.fullReadLimit == 0 {
		return usageErr("--full-read-limit must be -1 (no limit) or at least 1, got %d", o.fullReadLimit)
	}
	return nil
}

// Categories of inspect.
const (
	catAll     = ""
	catPool    = "pool"
	catQueue   = "queue"
	catLocks   = "locks"
	catWorkers = "workers"
)

func inspectFlags(o *inspectOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	o.flags(fs)
	fs.BoolVar(&o.members, "members", false, "list every pool member (the default when a pool NAME is given)")
	setHelp(fs, `usage: redisalloc inspect [pool|queue|locks|workers] [NAME] --prefix P [flags]

Shows what lives under a prefix: pools (counts, leases, violations), task
queues (counts, recent failures), locks and lock pools, and worker sessions.
With a category, only that part; with a NAME too, that one pool or queue in
detail. It only reads: each pool is one atomic snapshot script.

Exit status: 0, or 1 when a pool breaks an invariant or NAME does not exist;
2 for bad flags or a Redis that cannot be reached.

flags:
`)
	return fs
}

var inspectUsage = flagUsage(inspectFlags)

var inspectCommand = flagCommand(inspectFlags, 2, runInspect)

func runInspect(ctx context.Context, e env, o inspectOptions, pos []string) error {
	cat, name := catAll, ""
	if len(pos) > 0 {
		cat = pos[0]
		switch cat {
		case catPool, "pools":
			cat = catPool
		case catQueue, "queues":
			cat = catQueue
		case catLocks, "lock":
			cat = catLocks
		case catWorkers, "worker":
			cat = catWorkers
		default:
			return usageErr("unknown category %q: want pool, queue, locks or workers", cat)
		}
	}
	if len(pos) > 1 {
		name = pos[1]
		if cat != catPool && cat != catQueue {
			return usageErr("a NAME goes with pool or queue, not %s", cat)
		}
		// An invalid name cannot exist: say why instead of "no pool named",
		// and never let "" fall back to showing everything.
		if err := redisallocator.ValidateName(cat+" name", name); err != nil {
			return usageErr("%w", err)
		}
		o.members = true
	}
	if err := o.check(e); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()

	names, err := redisallocator.Discover(ctx, client, o.prefix, o.scanLimit)
	if err != nil {
		return redisFailure(err)
	}
	sel := inspect.Names{}
	switch cat {
	case catAll:
		sel = names
	case catPool:
		sel.Pools = names.Pools
	case catQueue:
		sel.Queues = names.Queues
	case catLocks:
		sel.Locks, sel.LockPools = names.Locks, names.LockPools
	case catWorkers:
		sel.HealthGroups = names.HealthGroups
	}
	if name != "" {
		list := &sel.Pools
		if cat == catQueue {
			list = &sel.Queues
		}
		if err := checkFound(e, "inspect", names, o.prefix, cat, name); err != nil {
			return err
		}
		*list = []string{name}
	}
	r, err := inspect.Collect(ctx, client, o.prefix, inspect.Options{
		Names: &sel, SampleLimit: o.sampleLimit, SkipRedis: true, OmitMembers: !o.members && !o.json,
		FullReadLimit: o.fullReadLimit,
	})
	if err != nil {
		return redisFailure(err)
	}
	r.Scan = &inspect.Scan{Scanned: names.Scanned, Limit: o.scanLimit, Truncated: names.Truncated}
	inspect.Diagnose(r)
	if o.json {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		writeInspect(termSafe{e.stdout}, r, cat, name)
	}
	if name != "" {
		if err := unreadable(r); err != nil {
			return err
		}
	}
	switch r.Health {
	case inspect.HealthCorrupt:
		return &exitError{exitFail, errors.New("invariant violations found (see above)")}
	case inspect.HealthDegraded:
		// As diagnose: the exit status follows the health.
		return &exitError{exitFail, fmt.Errorf("health %s: %d finding(s) of severity warning or critical (see above; diagnose tells more)", r.Health, serious(r.Findings))}
	}
	return nil
}

// unreadable fails (exit status 2, Redis failing) when a part of r could not
// be read: a command about a named pool or queue, or a repair, must not
// report an empty result or "nothing to do" for what Redis refused to show.
func unreadable(r *inspect.Report) error {
	var errs []error
	for _, f := range r.Findings {
		if f.Code == inspect.CodeUnreadable {
			errs = append(errs, fmt.Errorf("%s %s", f.Subject, f.Message))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return redisFailure(errors.Join(errs...))
}

// requireName fails with exit status 1 unless a pool or queue (cat) named
// name exists under prefix, found by the same bounded discovery as inspect:
// commands given a mistyped name must not report success for doing nothing.
func requireName(ctx context.Context, e env, client rueidis.Client, cmd, prefix string, scanLimit int, cat, name string) error {
	names, err := redisallocator.Discover(ctx, client, prefix, scanLimit)
	if err != nil {
		return redisFailure(err)
	}
	return checkFound(e, cmd, names, prefix, cat, name)
}

// checkFound is requireName on names already discovered.
func checkFound(e env, cmd string, names inspect.Names, prefix, cat, name string) error {
	list := names.Pools
	if cat == catQueue {
		list = names.Queues
	}
	if slices.Contains(list, name) {
		return nil
	}
	if !names.Truncated {
		return &exitError{exitFail, fmt.Errorf("no %s named %q under prefix %q", cat, name, prefix)}
	}
	// The scan stopped early: the name may exist beyond it.
	fmt.Fprintf(e.stderr, "redisalloc %s: %s %q not among the names scanned (scan truncated); reading it anyway\n", cmd, cat, name)
	return nil
}

// shortText cuts s for error messages: keys may be up to the member limit
// long, and a 100 KB key would drown the message.
func shortText(s string) string {
	const show = 64
	if len(s) <= show {
		return s
	}
	cut := show
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeInspect prints the report as tables; a category or name narrows it.
func writeInspect(w io.Writer, r *inspect.Report, cat, name string) {
	fmt.Fprintf(w, "prefix %s · health %s · %s\n", r.Prefix, r.Health, r.Time.Local().Format(time.DateTime))
	if r.Scan != nil && r.Scan.Truncated {
		fmt.Fprintf(w, "(scan stopped after %d keys per node: raise --scan-limit to see everything)\n", r.Scan.Limit)
	}
	if cat == catAll || cat == catPool {
		writePools(w, r.Pools)
		if name != "" {
			for _, p := range r.Pools {
				writePoolDetail(w, p)
			}
		}
	}
	if cat == catAll || cat == catQueue {
		writeQueues(w, r.Queues, name != "")
	}
	if cat == catAll || cat == catLocks {
		writeLocks(w, r.Locks, r.LockPools)
	}
	if cat == catAll || cat == catWorkers {
		writeWorkers(w, r.Workers)
	}
	// The findings behind the health (and the exit status); info ones are
	// diagnose's to show.
	for _, f := range r.Findings {
		if f.Severity != inspect.SeverityInfo || f.Code == inspect.CodeUnreadable {
			fmt.Fprintf(w, "\n%s %s %s: %s\n", strings.ToUpper(f.Severity), f.Code, f.Subject, f.Message)
		}
	}
}

func table(w io.Writer, header string) *tabwriter.Writer {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func writePools(w io.Writer, pools []inspect.Pool) {
	if len(pools) == 0 {
		fmt.Fprintln(w, "\nno pools")
		return
	}
	tw := table(w, "POOL\tTOTAL\tFREE\tHELD\tUNHEALTHY\tWAITERS\tLAPSED\tEXPIRED\tALLOCATIONS\tFENCE\tVIOLATIONS")
	for _, p := range pools {
		violations := strconv.Itoa(len(p.Violations))
		if p.Summary {
			violations = "unchecked" // too large to read whole
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Name, p.Total, p.Free, p.Held, p.Unhealthy,
			p.Waiters, p.LapsedLeases, p.ExpiredMembers, p.Allocations, p.Fence, violations)
	}
	_ = tw.Flush()
}

func writePoolDetail(w io.Writer, p inspect.Pool) {
	now := p.ServerTime
	if p.Summary {
		fmt.Fprintf(w, "\npool %s has %d members, more than --full-read-limit: read as a summary, without members,\nbindings, sessions or invariant check (--full-read-limit -1 reads it whole)\n", p.Name, p.Total)
	}
	if len(p.Members) > 0 {
		tw := table(w, "MEMBER\tSTATE\tPRIORITY\tEXPIRES\tVALUE\tLEASE")
		for _, m := range p.Members {
			lease := ""
			if l := m.Lease; l != nil {
				lease = fmt.Sprintf("fence %d, ", l.Fence)
				switch {
				case l.Deadline == nil:
					lease += "permanent"
				case l.Expired:
					lease += "lapsed " + roundDur(now.Sub(*l.Deadline)) + " ago"
				default:
					lease += roundDur(time.Duration(l.TTLMillis)*time.Millisecond) + " left"
				}
				if l.Session != "" {
					lease += ", session " + l.Session
				}
			}
			if m.UnhealthyUntil != nil {
				lease = "quarantined for " + roundDur(m.UnhealthyUntil.Sub(now))
			}
			value := "-"
			if m.HasValue {
				value = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", m.Key, m.State, m.Priority, relTime(m.Expiry, now), value, lease)
		}
		_ = tw.Flush()
	}
	if len(p.Bindings) > 0 {
		tw := table(w, "BINDING\tMEMBER\tEXPIRES\tSTALE")
		for _, b := range p.Bindings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", b.Name, b.Key, relTime(b.Expiry, now), b.Stale)
		}
		_ = tw.Flush()
	}
	if len(p.Sessions) > 0 {
		tw := table(w, "SESSION\tDEADLINE")
		for _, s := range p.Sessions {
			fmt.Fprintf(tw, "%s\t%s\n", s.ID, relTime(&s.Deadline, now))
		}
		_ = tw.Flush()
	}
	if len(p.Violations) > 0 {
		fmt.Fprintf(w, "\nviolations of pool %s:\n", p.Name)
		for _, v := range p.Violations {
			fmt.Fprintf(w, "  - %s\n", v)
		}
	}
}

// relTime shows t relative to now ("in 59m", "3s ago"), "-" for nil.
func relTime(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	if d := t.Sub(now); d >= 0 {
		return "in " + roundDur(d)
	}
	return roundDur(now.Sub(*t)) + " ago"
}

func roundDur(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Second:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

func writeQueues(w io.Writer, queues []inspect.Queue, detail bool) {
	if len(queues) == 0 {
		fmt.Fprintln(w, "\nno queues")
		return
	}
	tw := table(w, "QUEUE\tREADY\tDELAYED\tRUNNING\tDEAD\tWORKERS\tRECORDS")
	for _, q := range queues {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", q.Name, q.Ready, q.Delayed, q.Running, q.Dead, q.Workers, q.Records)
	}
	_ = tw.Flush()
	for _, q := range queues {
		if len(q.RecentFailures) == 0 {
			continue
		}
		fs := q.RecentFailures
		if !detail {
			fs = fs[:min(len(fs), 3)]
		}
		tw := table(w, "FAILED TASK ("+q.Name+")\tATTEMPT\tKIND\tFINISHED\tERROR")
		for _, f := range fs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", f.ID, f.Attempt, f.ErrorKind, f.Finished.Local().Format(time.DateTime), oneLine(f.ErrorMessage, 100))
		}
		_ = tw.Flush()
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func writeLocks(w io.Writer, locks []inspect.Lock, pools []inspect.LockPool) {
	if len(locks) == 0 && len(pools) == 0 {
		fmt.Fprintln(w, "\nno locks")
		return
	}
	if len(locks) > 0 {
		tw := table(w, "LOCK\tHELD\tTTL\tHOLDS\tFENCE")
		for _, l := range locks {
			ttl := "-"
			switch {
			case l.TTLMillis == -1:
				ttl = "permanent"
			case l.TTLMillis >= 0:
				ttl = roundDur(time.Duration(l.TTLMillis) * time.Millisecond)
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%d\n", l.Name, l.Held, ttl, l.Holds, l.Fence)
		}
		_ = tw.Flush()
	}
	if len(pools) > 0 {
		tw := table(w, "LOCK POOL\tMEMBERS\tLOCKED\tPERMANENT")
		for _, p := range pools {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", p.Name, p.Members, p.Locked, p.PermanentLocks)
		}
		_ = tw.Flush()
	}
}

func writeWorkers(w io.Writer, workers []inspect.Worker) {
	if len(workers) == 0 {
		fmt.Fprintln(w, "\nno workers")
		return
	}
	tw := table(w, "WORKER\tGROUP\tHOST\tPID\tALIVE\tDEADLINE")
	now := time.Now()
	for _, x := range workers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", x.ID, x.Group, x.Host, strconv.Itoa(x.PID), x.Alive, relTime(&x.Deadline, now))
	}
	_ = tw.Flush()
}
