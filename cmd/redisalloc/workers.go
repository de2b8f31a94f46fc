package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
)

// The workers group repairs health registries: the dead-workers finding
// names `workers reap` as its repair.

func workersSubcommands() []subcommand {
	return []subcommand{
		{"reap", "remove worker sessions whose heartbeat stopped (asks first)", workersReapUsage, workersReapCommand},
	}
}

func workersUsage(w io.Writer) { groupUsage(w, "workers", workersSubcommands()) }

func workersCommand(ctx context.Context, e env, args []string) int {
	return runGroup(ctx, e, "workers", workersSubcommands(), args)
}

type reapOptions struct {
	cliTarget
	group string
	grace time.Duration
	yes   bool
}

func workersReapFlags(o *reapOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("workers reap", flag.ContinueOnError)
	o.flags(fs)
	fs.StringVar(&o.group, "group", "", "the health group `name` whose dead sessions to remove (required)")
	fs.DurationVar(&o.grace, "grace", 0, "only sessions dead for longer than this")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	setHelp(fs, `usage: redisalloc workers reap --group NAME --prefix P [flags]

Removes the group's worker sessions whose heartbeat deadline passed (more
than --grace ago), as health.Registry.Reap does: pools reclaim leases taken
under them on their next malloc or GC (or redisalloc pool gc). Live sessions
are never touched. Shows the dead sessions and asks first.

Exit status: 0 done (or none dead), 1 aborted, failed or no such group,
2 bad flags, no terminal to ask on without --yes, or a Redis that cannot
be reached.

flags:
`)
	return fs
}

var workersReapUsage = flagUsage(workersReapFlags)

var workersReapCommand = flagCommand(workersReapFlags, 0, runReap)

func runReap(ctx context.Context, e env, o reapOptions, _ []string) error {
	e.stdout = termSafe{e.stdout} // ids and hosts from outside
	if err := o.check(e); err != nil {
		return err
	}
	if o.group == "" {
		return usageErr("--group is required")
	}
	if err := redisallocator.ValidateName("--group", o.group); err != nil {
		return usageErr("%w", err)
	}
	if o.grace < 0 {
		return usageErr("--grace must not be negative, got %v", o.grace)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	reg, err := health.NewRegistry(client, o.prefix, health.WithGroup(o.group))
	if err != nil {
		return usageErr("%w", err)
	}
	workers, err := reg.Workers(ctx)
	if err != nil {
		return redisFailure(err)
	}
	if len(workers) == 0 {
		return &exitError{exitFail, fmt.Errorf("no worker sessions in group %q under prefix %q", o.group, o.prefix)}
	}
	var dead []health.Worker
	for _, w := range workers {
		if !w.Alive {
			dead = append(dead, w)
		}
	}
	fmt.Fprintf(e.stdout, "group %s: %d session(s), %d dead\n", o.group, len(workers), len(dead))
	for _, w := range dead {
		fmt.Fprintf(e.stdout, "  %s  host %s pid %d  deadline %s\n", shortText(w.ID), w.Host, w.PID, w.Deadline.Format(time.RFC3339))
	}
	if len(dead) == 0 {
		fmt.Fprintln(e.stdout, "nothing to reap")
		return nil
	}
	if err := confirm(e, o.yes, fmt.Sprintf("remove %d dead session(s) of group %s?", len(dead), o.group)); err != nil {
		return err
	}
	reaped, err := reg.Reap(ctx, o.grace)
	if err != nil {
		return redisFailure(err)
	}
	fmt.Fprintf(e.stdout, "reaped %d session(s)\n", len(reaped))
	return nil
}
