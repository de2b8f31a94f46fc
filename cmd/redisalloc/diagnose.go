package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
)

// diagnoseOptions are diagnose's flags: inspect's plus --sample.
type diagnoseOptions struct {
	inspectOptions
	sample time.Duration
}

func diagnoseFlags(o *diagnoseOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	o.flags(fs)
	fs.DurationVar(&o.sample, "sample", 0,
		"read the nodes' script counters twice, this `duration` apart, to report the share\n"+
			"of time each spends in scripts (high-eval-pressure); 0 reads once, without it")
	setHelp(fs, `usage: redisalloc diagnose --prefix P [flags]

Reads everything under a prefix (like inspect) plus Redis memory and slow-log
and reports findings: invariant violations, lapsed leases, expired members,
stale bindings, dead workers and sessions, dead letters, queues without
workers, low free capacity, waiting mallocs, memory pressure and eviction
policy, slow commands, a truncated scan and, with --sample, script load.
Each finding has a severity (critical, warning, info) and, where one
applies, the repair command to run. diagnose never writes; repairs are
separate commands that ask first.

With --sample D it reads the script counters of every node (INFO
commandstats), waits D, reads them again, then reads everything: a node
that spent 25% of those D running scripts (any client's, not only this prefix's) gets an
info finding, 75% a warning. D must be at most half of --timeout.

Exit status: 0 healthy (info findings are advisory and leave it healthy),
1 degraded or corrupt (a warning or critical finding), 2 bad flags or a
Redis that cannot be reached.

flags:
`)
	return fs
}

var diagnoseUsage = flagUsage(diagnoseFlags)

var diagnoseCommand = flagCommand(diagnoseFlags, 0, runDiagnose)

func runDiagnose(ctx context.Context, e env, o diagnoseOptions, _ []string) error {
	if err := o.check(e); err != nil {
		return err
	}
	switch {
	case o.sample < 0:
		return usageErr("--sample must not be negative, got %v", o.sample)
	case o.sample > o.timeout/2:
		// The reads around the wait need time too.
		return usageErr("--sample %v must be at most half of --timeout %v", o.sample, o.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	var sampled *inspect.Report
	if o.sample > 0 {
		// Two reads of the nodes' counters only (no names), just before and
		// after the wait: the full read's own snapshot scripts stay out of
		// the measured window.
		counters := func() (*inspect.Report, error) {
			return inspect.Collect(ctx, client, o.prefix, inspect.Options{Names: &inspect.Names{}})
		}
		first, err := counters()
		if err != nil {
			return redisFailure(err)
		}
		t := time.NewTimer(o.sample)
		select {
		case <-ctx.Done():
			t.Stop()
			return redisFailure(fmt.Errorf("waiting --sample %v: %w", o.sample, ctx.Err()))
		case <-t.C:
		}
		if sampled, err = counters(); err != nil {
			return redisFailure(err)
		}
		inspect.ScriptLoadSince(first, sampled)
	}
	r, err := inspect.Collect(ctx, client, o.prefix, inspect.Options{
		ScanLimit: o.scanLimit, SampleLimit: o.sampleLimit, OmitMembers: !o.json, FullReadLimit: o.fullReadLimit,
	})
	if err != nil {
		return redisFailure(err)
	}
	if sampled != nil {
		copyScriptLoad(sampled, r)
		inspect.Diagnose(r)
	}
	if o.json {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		writeDiagnosis(termSafe{e.stdout}, r, sampled != nil)
	}
	// The exit status follows the health, so scripts and the JSON agree.
	if r.Health != inspect.HealthHealthy {
		return &exitError{exitFail, fmt.Errorf("health %s: %d finding(s) of severity warning or critical", r.Health, serious(r.Findings))}
	}
	return nil
}

// copyScriptLoad gives each node of to the script load measured for the
// node of the same address in from.
func copyScriptLoad(from, to *inspect.Report) {
	if from.Redis == nil || to.Redis == nil {
		return
	}
	load := map[string]*inspect.ScriptLoad{}
	for _, n := range from.Redis.Nodes {
		load[n.Addr] = n.ScriptLoad
	}
	for i := range to.Redis.Nodes {
		to.Redis.Nodes[i].ScriptLoad = load[to.Redis.Nodes[i].Addr]
	}
}

// serious counts findings of severity warning or critical.
func serious(fs []inspect.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity != inspect.SeverityInfo {
			n++
		}
	}
	return n
}

// writeDiagnosis prints r for people; sampled says a script load was
// asked for, so a node without one says so.
func writeDiagnosis(w io.Writer, r *inspect.Report, sampled bool) {
	workers := 0
	for _, x := range r.Workers {
		if x.Alive {
			workers++
		}
	}
	fmt.Fprintf(w, "prefix %s · health %s\n%d pools, %d queues, %d locks, %d lock pools, %d/%d workers alive\n",
		r.Prefix, strings.ToUpper(r.Health), len(r.Pools), len(r.Queues), len(r.Locks), len(r.LockPools), workers, len(r.Workers))
	if r.Redis != nil {
		for _, n := range r.Redis.Nodes {
			mem := inspect.Bytes(n.UsedMemory)
			if n.MaxMemory > 0 {
				mem += " of " + inspect.Bytes(n.MaxMemory) + " (" + n.MaxMemoryPolicy + ")"
			}
			scripts := ""
			if l := n.ScriptLoad; l != nil {
				over := time.Duration(l.Seconds * float64(time.Second)).Round(10 * time.Millisecond)
				scripts = fmt.Sprintf(", scripts %.0f%% busy (%.1f calls/s over %v)", 100*l.BusyRatio, l.CallsPerSecond, over)
			} else if sampled {
				// The server refused INFO commandstats, joined the cluster,
				// restarted or reset its statistics while sampling.
				scripts = ", script load unknown"
			}
			fmt.Fprintf(w, "redis %s: memory %s, %d clients, %d slow-log entries%s\n", n.Addr, mem, n.ConnectedClients, len(n.SlowLog), scripts)
		}
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "\nno findings")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tCODE\tSUBJECT\tFINDING")
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Severity, f.Code, f.Subject, f.Message)
		if f.Repair != "" {
			fmt.Fprintf(tw, "\t\t\trepair: %s\n", f.Repair)
		}
	}
	_ = tw.Flush()
}
