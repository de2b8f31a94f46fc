package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// Bounds of the repair commands.
const (
	defaultGCBudget = 1000
	maxGCBudget     = 100000
	// maxGCPasses bounds the GC passes of one pool: timers keep falling due
	// on a busy pool, and the command must end.
	maxGCPasses = 1000
	// maxArgs bounds the keys or ids given on one command line.
	maxArgs = 10000
	// requeueChunk is the ids sent per Requeue call and read per
	// DeadLetters page.
	requeueChunk = 1000
)

// subcommand is one verb of a command group (pool gc, queue requeue).
type subcommand struct {
	name, summary string
	usage         func(w io.Writer)
	run           func(ctx context.Context, e env, args []string) int
}

// runGroup dispatches "redisalloc <group> <verb> ...".
func runGroup(ctx context.Context, e env, group string, subs []subcommand, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "redisalloc %s: missing subcommand\n", group)
		groupUsage(e.stderr, group, subs)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			for _, s := range subs {
				if s.name == args[1] {
					s.usage(e.stdout)
					return exitOK
				}
			}
		}
		groupUsage(e.stdout, group, subs)
		return exitOK
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "redisalloc %s: unknown subcommand %q\n", group, args[0])
	groupUsage(e.stderr, group, subs)
	return exitUsage
}

func groupUsage(w io.Writer, group string, subs []subcommand) {
	fmt.Fprintf(w, "usage: redisalloc %s <subcommand> [flags]\n\nsubcommands:\n", group)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nredisalloc %s <subcommand> -h shows its flags.\n", group)
}

func poolSubcommands() []subcommand {
	return []subcommand{
		{"gc", "reclaim lapsed leases, drop expired members and bindings now (asks first)", poolGCUsage, poolGCCommand},
		{"free", "free members whoever holds them (asks first)", poolFreeUsage, poolFreeCommand},
		{"import", "add or update members from JSON Lines or CSV", poolImportUsage, poolImportCommand},
		{"export", "write members with values to JSON Lines or CSV", poolExportUsage, poolExportCommand},
	}
}

func queueSubcommands() []subcommand {
	return []subcommand{
		{"ls", "list the task queues with their counts", queueLsUsage, queueLsCommand},
		{"pause", "stop the queue's workers claiming tasks (submitters still queue)", flagUsage(queuePauseFlags("pause")), queuePauseCommand("pause")},
		{"resume", "let a paused queue's workers claim tasks again", flagUsage(queuePauseFlags("resume")), queuePauseCommand("resume")},
		{"requeue", "move dead-lettered tasks back to the queue (asks first)", queueRequeueUsage, queueRequeueCommand},
	}
}

func poolUsage(w io.Writer)  { groupUsage(w, "pool", poolSubcommands()) }
func queueUsage(w io.Writer) { groupUsage(w, "queue", queueSubcommands()) }

func poolCommand(ctx context.Context, e env, args []string) int {
	return runGroup(ctx, e, "pool", poolSubcommands(), args)
}

func queueCommand(ctx context.Context, e env, args []string) int {
	return runGroup(ctx, e, "queue", queueSubcommands(), args)
}

// errAborted is returned when the operator answers no.
var errAborted = errors.New("aborted: nothing was changed")

// confirm asks question on the terminal unless yes is set. Without a
// terminal on stdin it refuses (exit status 2): a script must say --yes.
func confirm(e env, yes bool, question string) error {
	if yes {
		return nil
	}
	if !e.stdinTTY || e.stdin == nil {
		return usageErr("refusing to change Redis without --yes: stdin is not a terminal to ask on")
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errAborted
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errAborted
}

// isInteractive reports whether f is a terminal a person can answer on:
// a character device other than /dev/null (which isTerminal would accept,
// so `cmd </dev/null` would be asked and read "no" instead of refused).
func isInteractive(f *os.File) bool {
	if !isTerminal(f) {
		return false
	}
	fi, err1 := f.Stat()
	null, err2 := os.Stat(os.DevNull)
	return err1 != nil || err2 != nil || !os.SameFile(fi, null)
}

// poolName validates --pool.
func poolName(name string) error {
	if name == "" {
		return usageErr("--pool is required")
	}
	if err := redisallocator.ValidateName("pool name", name); err != nil {
		return usageErr("--pool: %w", err)
	}
	return nil
}

func msDur(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// --- pool gc ---

type gcOptions struct {
	cliTarget
	pool   string
	all    bool
	budget int
	yes    bool
}

func poolGCFlags(o *gcOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("pool gc", flag.ContinueOnError)
	o.flags(fs)
	fs.StringVar(&o.pool, "pool", "", "the pool's `name`")
	fs.BoolVar(&o.all, "all", false, "every pool under the prefix instead of --pool")
	fs.IntVar(&o.budget, "budget", defaultGCBudget, "due timers handled per atomic pass")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	setHelp(fs, `usage: redisalloc pool gc (--pool NAME | --all) --prefix P [flags]

Runs the pool's GC now: lapsed leases go back to the free set, expired
members leave, quarantines that ended return, expired bindings go. Pools do
this lazily on every malloc; this is for idle pools and after an incident.
Shows what is due and asks before changing anything.

Exit status: 0 done (or nothing to do), 1 aborted, failed or no pool of that
name, 2 bad flags, no terminal to ask on without --yes, or a Redis that
cannot be reached.

flags:
`)
	return fs
}

var poolGCUsage = flagUsage(poolGCFlags)

var poolGCCommand = flagCommand(poolGCFlags, 0, runPoolGC)

func runPoolGC(ctx context.Context, e env, o gcOptions, _ []string) error {
	e.stdout = termSafe{e.stdout} // keys and names from outside
	if err := o.check(e); err != nil {
		return err
	}
	switch {
	case o.all && o.pool != "":
		return usageErr("--pool and --all exclude each other")
	case !o.all:
		if err := poolName(o.pool); err != nil {
			return err
		}
	}
	if o.budget < 1 || o.budget > maxGCBudget {
		return usageErr("--budget must be between 1 and %d, got %d", maxGCBudget, o.budget)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()

	names := []string{o.pool}
	if !o.all {
		if err := requireName(ctx, e, client, "pool gc", o.prefix, inspect.DefaultScanLimit, catPool, o.pool); err != nil {
			return err
		}
	}
	var truncated error
	if o.all {
		n, err := redisallocator.Discover(ctx, client, o.prefix, inspect.DefaultScanLimit)
		if err != nil {
			return redisFailure(err)
		}
		names = n.Pools
		if n.Truncated {
			// The work below is done, but --all must not claim more.
			truncated = &exitError{exitFail, fmt.Errorf("discovery stopped after %d keys per node: pools beyond it were not covered", inspect.DefaultScanLimit)}
		}
	}
	r, err := inspect.Collect(ctx, client, o.prefix, inspect.Options{Names: &inspect.Names{Pools: names}, SkipRedis: true, OmitMembers: true, FullReadLimit: -1})
	if err != nil {
		return redisFailure(err)
	}
	if err := unreadable(r); err != nil {
		return err
	}
	var due []string
	for _, p := range r.Pools {
		// Leases of dead sessions come back too: the session's death is
		// one of the pool's timers.
		fmt.Fprintf(e.stdout, "pool %s: %d due timer(s): %d lapsed lease(s), %d dead session(s), %d expired member(s), %d stale binding(s)\n",
			p.Name, p.DueTimers, p.LapsedLeases, p.DeadSessions, p.ExpiredMembers, p.StaleBindings)
		if p.DueTimers > 0 {
			due = append(due, p.Name)
		}
	}
	if len(due) == 0 {
		fmt.Fprintln(e.stdout, "nothing is due: nothing to do")
		return truncated
	}
	if err := confirm(e, o.yes, fmt.Sprintf("run GC on %d pool(s) under prefix %s?", len(due), o.prefix)); err != nil {
		return err
	}
	for _, name := range due {
		p, err := pool.NewAdmin(client, o.prefix, name)
		if err != nil {
			return err
		}
		var sum pool.GCResult
		for range maxGCPasses {
			res, err := p.GC(ctx, o.budget)
			if err != nil {
				return redisFailure(fmt.Errorf("pool %s: %w", name, err))
			}
			sum.LeasesReclaimed += res.LeasesReclaimed
			sum.MembersExpired += res.MembersExpired
			sum.MembersRecovered += res.MembersRecovered
			sum.BindingsExpired += res.BindingsExpired
			sum.Pending = res.Pending
			if res.Pending == 0 {
				break
			}
		}
		fmt.Fprintf(e.stdout, "pool %s: reclaimed %d lease(s), removed %d expired member(s), ended %d quarantine(s), dropped %d binding(s); %d timer(s) still due\n",
			name, sum.LeasesReclaimed, sum.MembersExpired, sum.MembersRecovered, sum.BindingsExpired, sum.Pending)
	}
	return truncated
}

// --- pool free ---

type freeOptions struct {
	cliTarget
	pool string
	yes  bool
}

func poolFreeFlags(o *freeOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("pool free", flag.ContinueOnError)
	o.flags(fs)
	fs.StringVar(&o.pool, "pool", "", "the pool's `name` (required)")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	setHelp(fs, `usage: redisalloc pool free KEY... --pool NAME --prefix P [flags]

Frees held members whoever holds them: an administrator's tool for leases
whose holder is gone (a permanent lease of a crashed process). The holders
are not told; their own Free then fails with "not held". Shows each lease
and asks first, then frees exactly the leases shown (by their fencing
numbers): a member freed and taken again while the question waited is left
alone. Members that are not held are left alone.

Exit status: 0 done (or nothing held), 1 aborted, failed, no pool of that
name or a KEY is not a member (then nothing is freed), 2 bad flags or KEYs,
no terminal to ask on without --yes, or a Redis that cannot be reached.

flags:
`)
	return fs
}

var poolFreeUsage = flagUsage(poolFreeFlags)

var poolFreeCommand = flagCommand(poolFreeFlags, maxArgs, runPoolFree)

func runPoolFree(ctx context.Context, e env, o freeOptions, keys []string) error {
	e.stdout = termSafe{e.stdout} // keys and names from outside
	if err := o.check(e); err != nil {
		return err
	}
	if err := poolName(o.pool); err != nil {
		return err
	}
	if len(keys) == 0 {
		return usageErr("name at least one member KEY to free")
	}
	for _, k := range keys {
		if err := redisallocator.ValidateMember("member key", k); err != nil {
			return usageErr("%w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := requireName(ctx, e, client, "pool free", o.prefix, inspect.DefaultScanLimit, catPool, o.pool); err != nil {
		return err
	}
	r, err := inspect.Collect(ctx, client, o.prefix, inspect.Options{Names: &inspect.Names{Pools: []string{o.pool}}, SkipRedis: true, FullReadLimit: -1})
	if err != nil {
		return redisFailure(err)
	}
	if err := unreadable(r); err != nil {
		return err
	}
	if len(r.Pools) != 1 {
		return &exitError{exitFail, fmt.Errorf("pool %s could not be read (see: redisalloc diagnose)", o.pool)}
	}
	members := map[string]inspect.Member{}
	for _, m := range r.Pools[0].Members {
		members[m.Key] = m
	}
	var held, missing []string
	fences := map[string]int64{}
	for _, k := range keys {
		m, ok := members[k]
		switch {
		case !ok:
			missing = append(missing, shortText(k))
		case m.Lease == nil:
			fmt.Fprintf(e.stdout, "%s: %s, not held: left alone\n", shortText(k), m.State)
		default:
			l := m.Lease
			desc := fmt.Sprintf("held, fence %d", l.Fence)
			switch {
			case l.Deadline == nil:
				desc += ", permanent lease"
			case l.Expired:
				desc += ", lease lapsed"
			default:
				desc += fmt.Sprintf(", %s left", roundDur(msDur(l.TTLMillis)))
			}
			if l.Session != "" {
				desc += ", session " + l.Session
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", shortText(k), desc)
			if !slices.Contains(held, k) {
				held = append(held, k)
				fences[k] = l.Fence
			}
		}
	}
	if len(missing) > 0 {
		return &exitError{exitFail, fmt.Errorf("not members of pool %s: %s; nothing was freed", o.pool, strings.Join(missing, ", "))}
	}
	if len(held) == 0 {
		fmt.Fprintln(e.stdout, "nothing is held: nothing to do")
		return nil
	}
	if err := confirm(e, o.yes, fmt.Sprintf("free %d member(s) of pool %s, whoever holds them?", len(held), o.pool)); err != nil {
		return err
	}
	p, err := pool.NewAdmin(client, o.prefix, o.pool)
	if err != nil {
		return err
	}
	// Only the leases shown and confirmed: a member freed and taken again
	// while the question waited belongs to a holder nobody asked about.
	n, err := p.ForceRelease(ctx, fences)
	if err != nil && !errors.Is(err, pool.ErrNotMember) {
		return redisFailure(err)
	}
	fmt.Fprintf(e.stdout, "freed %d member(s)", n)
	if n < len(held) {
		fmt.Fprintf(e.stdout, " (%d were freed, taken again or removed meanwhile: left alone)", len(held)-n)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// --- queue requeue ---

type requeueOptions struct {
	cliTarget
	queue string
	all   bool
	yes   bool
}

func queueRequeueFlags(o *requeueOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("queue requeue", flag.ContinueOnError)
	o.flags(fs)
	fs.StringVar(&o.queue, "queue", "", "the task `name` whose queue to repair (required)")
	fs.BoolVar(&o.all, "all", false, "every dead-lettered task of the queue instead of the IDs given")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	setHelp(fs, `usage: redisalloc queue requeue (ID... | --all) --queue NAME --prefix P [flags]

Moves failed tasks from the queue's dead-letter set back to the queue, with
fresh attempts and deadline, for workers to run again. Shows how many and
asks first. IDs not in the set are skipped and named.

Exit status: 0 done (or nothing to requeue with --all), 1 aborted, failed,
no queue of that name, or an ID given was not requeued (unknown or not
dead-lettered), 2 bad flags or IDs (then nothing is requeued), no terminal
to ask on without --yes, or a Redis that cannot be reached.

flags:
`)
	return fs
}

var queueRequeueUsage = flagUsage(queueRequeueFlags)

var queueRequeueCommand = flagCommand(queueRequeueFlags, maxArgs, runRequeue)

func runRequeue(ctx context.Context, e env, o requeueOptions, ids []string) error {
	e.stdout = termSafe{e.stdout} // keys and names from outside
	if err := o.check(e); err != nil {
		return err
	}
	if o.queue == "" {
		return usageErr("--queue is required")
	}
	switch {
	case o.all && len(ids) > 0:
		return usageErr("give task IDs or --all, not both")
	case !o.all && len(ids) == 0:
		return usageErr("give the task IDs to requeue, or --all")
	}
	if err := redisallocator.ValidateName("--queue", o.queue); err != nil {
		return usageErr("%w", err)
	}
	// Every id is checked before anything is sent: a bad one applies none.
	for _, id := range ids {
		if err := redisallocator.ValidateMember("task id", id); err != nil {
			return usageErr("%w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	q, err := task.NewInspector(client, o.prefix, o.queue)
	if err != nil {
		return usageErr("--queue: %w", err)
	}
	st, err := q.Stats(ctx)
	if errors.Is(err, task.ErrInvalid) {
		return usageErr("--queue: %w", err)
	}
	if err != nil {
		return redisFailure(err)
	}
	if err := requireName(ctx, e, client, "queue requeue", o.prefix, inspect.DefaultScanLimit, catQueue, o.queue); err != nil {
		return err
	}
	if o.all {
		for off := 0; off < st.Dead; off += requeueChunk {
			page, err := q.DeadLetters(ctx, off, requeueChunk)
			if err != nil {
				return redisFailure(err)
			}
			for _, in := range page {
				ids = append(ids, in.ID)
			}
			if len(page) < requeueChunk {
				break
			}
		}
	}
	fmt.Fprintf(e.stdout, "queue %s: %d task(s) dead-lettered, %d ready, %d live worker(s)\n", o.queue, st.Dead, st.Ready, st.Workers)
	if len(ids) == 0 {
		fmt.Fprintln(e.stdout, "nothing to requeue")
		return nil
	}
	if err := confirm(e, o.yes, fmt.Sprintf("requeue %d task(s) of queue %s?", len(ids), o.queue)); err != nil {
		return err
	}
	// Ids given explicitly go one per call, so each one not requeued can
	// be named; --all sends chunks (ids that left meanwhile are expected).
	size := requeueChunk
	if !o.all {
		size = 1
	}
	moved := 0
	var notMoved []string
	for chunk := range slices.Chunk(ids, size) {
		n, err := q.Requeue(ctx, chunk...)
		if errors.Is(err, task.ErrInvalid) {
			return usageErr("%w (requeued %d before)", err, moved)
		}
		if err != nil {
			return redisFailure(fmt.Errorf("%w (requeued %d before)", err, moved))
		}
		moved += n
		if !o.all && n == 0 {
			notMoved = append(notMoved, shortText(chunk[0]))
		}
	}
	fmt.Fprintf(e.stdout, "requeued %d task(s)", moved)
	if moved < len(ids) {
		fmt.Fprintf(e.stdout, "; %d were not dead-lettered", len(ids)-moved)
	}
	fmt.Fprintln(e.stdout)
	if len(notMoved) > 0 {
		shown := notMoved[:min(len(notMoved), 10)]
		more := ""
		if len(notMoved) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(notMoved)-len(shown))
		}
		return &exitError{exitFail, fmt.Errorf("not requeued (unknown or not dead-lettered in queue %s): %s%s",
			o.queue, strings.Join(shown, ", "), more)}
	}
	return nil
}
