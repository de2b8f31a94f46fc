// Command redisalloc works with redisallocator pools from the shell.
//
// Usage:
//
//	redisalloc <command> [flags]
//	redisalloc help [command]
//
// Commands:
//
//	demo    simulate a pool of proxies with concurrent workers, a crashing
//	        worker and a bad proxy, checking the pool's invariants live
//	inspect, diagnose   read what lives under a prefix; find problems
//	pool gc|free|import|export, queue requeue, workers reap
//	        repair and move data (docs/cli.md)
//	queue ls|pause|resume, task ls|show|cancel|delete|requeue|run, cron ls|rm
//	        see a queue's tasks and act on them (docs/cli.md)
//	dashboard   a live read-only web page of a prefix (docs/dashboard.md)
//	metrics     Prometheus /metrics and /healthz of a prefix (docs/metrics.md)
//	version     the versions of redisalloc, the library and Go
//
// With no flags, demo runs on an embedded in-process Redis, so
// `go -C cmd/redisalloc run . demo` works on a fresh clone and ends after
// 20 seconds (--duration; 0 runs until Ctrl-C); --redis URL points it at a
// real server or cluster. The command is its own module
// (cmd/redisalloc/go.mod), so its OpenTelemetry exporters stay out of the
// library's go.mod.
//
// Exit status: 0 on success, 1 when a command ran and found a problem
// (an invariant violation, a failed worker), 2 for bad arguments or a
// Redis that cannot be reached.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what a command may touch of the process: its output streams and
// whether stdout is a terminal (for live redraws).
type env struct {
	stdout, stderr io.Writer
	tty            bool
	// stdin feeds `pool import -` and confirmations; stdinTTY says it is a
	// terminal (only then do repairs ask), stderrTTY allows progress bars.
	// getenv reads the environment (REDIS_URL); nil means os.Getenv.
	stdin               io.Reader
	stdinTTY, stderrTTY bool
	getenv              func(string) string
}

// command is one subcommand. A new one (inspect, diagnose, dashboard) is a
// function with this signature and an entry in commands.
type command struct {
	name    string
	summary string // one line for the command list
	// usage writes the full help of the command (synopsis and flags).
	usage func(w io.Writer)
	// run parses args (the arguments after the command name) and runs the
	// command until it finishes or ctx ends; it returns the exit status.
	run func(ctx context.Context, e env, args []string) int
}

// commands lists the subcommands in the order help shows them.
var commands = []command{
	{name: "demo", summary: "simulate a pool of proxies and check its invariants live", usage: demoUsage, run: demoCommand},
	{name: "dashboard", summary: "serve a live read-only web dashboard of a prefix", usage: dashboardUsage, run: dashboardCommand},
	{name: "inspect", summary: "show the pools, queues, locks and workers under a prefix", usage: inspectUsage, run: inspectCommand},
	{name: "diagnose", summary: "find problems under a prefix and say how to repair them", usage: diagnoseUsage, run: diagnoseCommand},
	{name: "metrics", summary: "serve Prometheus /metrics and /healthz for the pools and queues of a prefix", usage: metricsUsage, run: metricsCommand},
	{name: "pool", summary: "repair, import or export a pool: gc, free, import, export", usage: poolUsage, run: poolCommand},
	{name: "queue", summary: "task queues: ls, pause, resume, requeue dead letters", usage: queueUsage, run: queueCommand},
	{name: "task", summary: "a queue's tasks: ls, show, cancel, delete, requeue, run", usage: taskUsage, run: taskCommand},
	{name: "cron", summary: "periodic tasks: ls, rm", usage: cronUsage, run: cronCommand},
	{name: "workers", summary: "repair a health group: reap dead worker sessions", usage: workersUsage, run: workersCommand},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal asked for a clean stop, restore the default
		// handling so a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, env{
		stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stdout),
		stdin: os.Stdin, stdinTTY: isInteractive(os.Stdin), stderrTTY: isTerminal(os.Stderr), getenv: os.Getenv,
	}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args (without the program name) to a command.
func run(ctx context.Context, e env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "redisalloc: missing command")
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(e, args[1:])
	case "version", "--version":
		if len(args) > 1 {
			fmt.Fprintln(e.stderr, "redisalloc version: takes no arguments")
			return exitUsage
		}
		fmt.Fprintln(e.stdout, versionLine(debug.ReadBuildInfo))
		return exitOK
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(e.stderr, "redisalloc: unknown command %q\n", args[0])
		usage(e.stderr)
		return exitUsage
	}
	return c.run(ctx, e, args[1:])
}

// flagCommand builds a command's run function: parse args with the flag
// set flags builds (at most maxPos positional arguments, between flags
// too), run, and turn run's error into output and an exit status.
func flagCommand[T any](flags func(*T) *flag.FlagSet, maxPos int, run func(context.Context, env, T, []string) error) func(context.Context, env, []string) int {
	return func(ctx context.Context, e env, args []string) int {
		var o T
		fs := flags(&o)
		pos, code, ok := parseArgs(fs, e, args, maxPos)
		if !ok {
			return code
		}
		return report(e, fs.Name(), run(ctx, e, o, pos))
	}
}

// setHelp makes fs's help the text given, then the flags.
func setHelp(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text)
		printFlags(fs)
	}
}

// printFlags is flag.PrintDefaults with each flag written --name, as the
// docs and the usage lines write them (the flag package takes -name and
// --name alike, but prints -name).
func printFlags(fs *flag.FlagSet) {
	var b strings.Builder
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	_, _ = io.WriteString(out, flagLine.ReplaceAllString(b.String(), "$1--"))
}

// flagLine matches the start of a flag's line in PrintDefaults' output.
var flagLine = regexp.MustCompile(`(?m)^(  )-`)

// flagUsage returns a command's usage function: the help of the flag set
// that flags builds over a zero options value.
func flagUsage[T any](flags func(*T) *flag.FlagSet) func(io.Writer) {
	return func(w io.Writer) {
		var o T
		fs := flags(&o)
		fs.SetOutput(w)
		fs.Usage()
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// help prints the command list, or one command's help.
func help(e env, args []string) int {
	switch len(args) {
	case 0:
		usage(e.stdout)
		return exitOK
	case 1:
		if c, ok := lookup(args[0]); ok {
			c.usage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "redisalloc help: unknown command %q\n", args[0])
	default:
		fmt.Fprintln(e.stderr, "redisalloc help: at most one command name")
	}
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: redisalloc <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("  help       show this list, or a command's flags: redisalloc help <command>\n")
	b.WriteString("  version    print the version of redisalloc, of the library it was built with, and of Go\n")
	b.WriteString("\nexit status: 0 ok, 1 a problem found (violation, failed worker), 2 bad usage or no Redis\n")
	_, _ = io.WriteString(w, b.String())
}

// parseFlags parses a command's flags. When the command must not run, ok
// is false and code is the exit status: 0 after -h (help on stdout), 2 for
// a bad flag or a stray argument (the error and help on stderr).
func parseFlags(fs *flag.FlagSet, e env, args []string) (code int, ok bool) {
	fs.SetOutput(io.Discard) // errors are printed below, once
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return exitOK, false
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "redisalloc %s: %v\n", fs.Name(), err)
		fs.SetOutput(e.stderr)
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// exitError is an error that calls for a given exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode maps a command's error to its exit status: nil is success, an
// exitError says, anything else is a failure.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		return exitFail
	}
}

// isTerminal reports whether f is a character device (a terminal), without
// depending on golang.org/x/term.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// libraryPath is the library's module path.
const libraryPath = "github.com/redisallocator/redisallocator"

// versionLine describes the build: the command's module version (as go
// install records it; "(devel)" for a build from a checkout), the library
// it was built with, and Go's version. read is debug.ReadBuildInfo (tests
// pass their own).
func versionLine(read func() (*debug.BuildInfo, bool)) string {
	bi, ok := read()
	if !ok {
		return "redisalloc (unknown version: built without module information) " + runtime.Version()
	}
	version := orUnknown(bi.Main.Version)
	lib := "unknown"
	for _, d := range bi.Deps {
		if d.Path == libraryPath {
			lib = orUnknown(d.Version)
			if d.Replace != nil {
				// Built against a local copy (this repository's replace).
				lib = orUnknown(d.Replace.Version) + " (replaced by " + d.Replace.Path + ")"
			}
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return fmt.Sprintf("redisalloc %s (library %s %s) %s", version, libraryPath, lib, goVersion)
}

func orUnknown(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
