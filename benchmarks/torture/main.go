package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// errFlags reports a bad command line.
var errFlags = errors.New("torture: invalid flags")

func main() {
	// The hidden worker mode: the controller re-executes this binary.
	if len(os.Args) > 2 && os.Args[1] == "-worker" {
		os.Exit(workerMain(os.Args[2]))
	}
	os.Exit(cliMain(os.Args[1:]))
}

func cliMain(args []string) int {
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	var cfg config
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long to disturb the workers (drain and checks come after)")
	fs.IntVar(&cfg.Workers, "workers", 4, "worker processes")
	fs.IntVar(&cfg.Holders, "holders", 3, "pool-operation goroutines per worker")
	fs.IntVar(&cfg.Core, "members", 8, "pool members that always stay")
	fs.IntVar(&cfg.Churn, "churn", 4, "pool members that AddKeys, Remove and AssignKeys move in and out")
	seed := fs.Int64("seed", 0, "random seed (0: from the clock)")
	fs.DurationVar(&cfg.KillEvery, "kill-every", 3*time.Second, "mean time between SIGKILLs of a random worker")
	fs.DurationVar(&cfg.RestartEvery, "restart-every", 20*time.Second, "mean time between Redis restarts")
	fs.Float64Var(&cfg.CrashRestarts, "crash-restarts", 0.5, "fraction (0 to 1) of Redis restarts done by SIGKILL of redis-server instead of SIGTERM")
	fs.StringVar(&cfg.AppendFsync, "appendfsync", "", "redis-server appendfsync: always or everysec (default: always when -crash-restarts > 0, else everysec)")
	fs.DurationVar(&cfg.AOFCut, "aof-cut", 0, "before each crash restart, cut from the AOF what Redis appended in this last stretch before the workers were cut off (to the next whole second: the AOF's timestamps), as a machine crash loses the unsynced tail of appendfsync everysec; 0: no cut")
	fs.BoolVar(&cfg.Failover, "failover", false, "run a replica (--replicaof, its link delayed by -replica-lag) and make every restart a failover: SIGKILL the master, promote the replica (REPLICAOF NO ONE), move the workers to it, start a new replica")
	fs.DurationVar(&cfg.ReplicaLag, "replica-lag", time.Second, "with -failover: the delay of the replication link, so the promoted replica has not seen the master's last writes")
	fs.DurationVar(&cfg.FaultEvery, "fault-every", 2*time.Second, "mean pause between network faults")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", 2*time.Second, "worker health-session timeout")
	fs.DurationVar(&cfg.Drain, "drain", 60*time.Second, "how long to wait for tasks to finish after the run")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for Redis data, ledgers and logs (default: a new temporary one)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the run directory even when the run passes")
	fs.StringVar(&cfg.JSON, "json", "", "also write the summary as JSON to this file")
	fs.StringVar(&cfg.RedisBin, "redis-server", "redis-server", "redis-server binary")
	verbose := fs.Bool("v", false, "log progress to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Seed = uint64(*seed)
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if *verbose {
		cfg.Log = os.Stderr
	}
	bin, err := exec.LookPath(cfg.RedisBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture: redis-server not found:", err)
		return 2
	}
	cfg.RedisBin = bin

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture:", err)
		return 1
	}
	sum.print(os.Stdout)
	if cfg.JSON != "" {
		if err := sum.writeJSON(cfg.JSON); err != nil {
			fmt.Fprintln(os.Stderr, "torture: write summary:", err)
			return 1
		}
	}
	if !sum.Pass {
		return 1
	}
	return 0
}

func (c *config) validate() error {
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("%w: -duration %v must be positive", errFlags, c.Duration)
	case c.Workers < 1 || c.Workers > 64:
		return fmt.Errorf("%w: -workers %d must be 1 to 64", errFlags, c.Workers)
	case c.Holders < 1 || c.Holders > 64:
		return fmt.Errorf("%w: -holders %d must be 1 to 64", errFlags, c.Holders)
	case c.Core < 1 || c.Churn < 1 || c.Core+c.Churn > 1000:
		return fmt.Errorf("%w: -members %d and -churn %d must be at least 1 each", errFlags, c.Core, c.Churn)
	case c.KillEvery <= 0 || c.RestartEvery <= 0 || c.FaultEvery <= 0:
		return fmt.Errorf("%w: -kill-every, -restart-every and -fault-every must be positive", errFlags)
	case c.SessionTimeout < 200*time.Millisecond:
		return fmt.Errorf("%w: -session-timeout %v must be at least 200ms", errFlags, c.SessionTimeout)
	case c.Drain <= 0:
		return fmt.Errorf("%w: -drain %v must be positive", errFlags, c.Drain)
	case !(c.CrashRestarts >= 0 && c.CrashRestarts <= 1): // also NaN
		return fmt.Errorf("%w: -crash-restarts %v must be 0 to 1", errFlags, c.CrashRestarts)
	case c.AOFCut < 0 || c.ReplicaLag < 0:
		return fmt.Errorf("%w: -aof-cut and -replica-lag must not be negative", errFlags)
	case c.AOFCut > 0 && c.Failover:
		return fmt.Errorf("%w: -aof-cut and -failover are separate runs", errFlags)
	case c.AOFCut > 0 && c.CrashRestarts == 0:
		return fmt.Errorf("%w: -aof-cut needs crash restarts (-crash-restarts > 0)", errFlags)
	case c.AppendFsync != "" && c.AppendFsync != fsyncAlways && c.AppendFsync != fsyncEverysec:
		return fmt.Errorf("%w: -appendfsync %q must be %s or %s", errFlags, c.AppendFsync, fsyncAlways, fsyncEverysec)
	}
	return nil
}
