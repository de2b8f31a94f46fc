package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect/inspecttest"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

// cliRun is one in-process run of the CLI.
type cliRun struct {
	code           int
	stdout, stderr string
}

// cliEnv configures runCLI: stdin and whether it is a terminal; getenv
// defaults to an empty environment, so REDIS_URL of the test process never
// leaks in.
type cliEnv struct {
	stdin    string
	stdinTTY bool
	getenv   func(string) string
}

func runCLI(t *testing.T, ce cliEnv, args ...string) cliRun {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := ce.getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	code := run(t.Context(), env{
		stdout: &out, stderr: &errb, stdin: strings.NewReader(ce.stdin), stdinTTY: ce.stdinTTY, getenv: getenv,
	}, args)
	return cliRun{code, out.String(), errb.String()}
}

// backendURL is the --redis URL of a test backend.
func backendURL(b *redisxtest.Backend) string {
	switch b.Name {
	case redisxtest.BackendMini:
		return "redis://" + b.Mini.Addr()
	case redisxtest.BackendStandalone:
		return os.Getenv(redisxtest.EnvRedisURL)
	default:
		return "redis://" + os.Getenv(redisxtest.EnvClusterAddrs)
	}
}

func seedAll(t *testing.T, b *redisxtest.Backend) {
	t.Helper()
	inspecttest.Seed(t, b.Client, func() rueidis.Client { return b.NewClient(t) }, b.Prefix, codec.JSON)
}

// wantLine fails unless out has a line matching the regular expression.
func wantLine(t *testing.T, out, re string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)` + re).MatchString(out) {
		t.Errorf("no line matching %q in:\n%s", re, out)
	}
}

func TestInspectCommand(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		url := backendURL(b)
		r := runCLI(t, cliEnv{}, "inspect", "--redis", url, "--prefix", b.Prefix)
		// The seeded prefix is degraded (a lapsed lease, dead letters):
		// inspect's exit status follows the health, as diagnose's does.
		if r.code != exitFail || !strings.Contains(r.stderr, "health degraded") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `^POOL\s+TOTAL\s+FREE\s+HELD\s+UNHEALTHY`)
		// Fences come from the server clock (µs): any number, in order.
		wantLine(t, r.stdout, `^proxies\s+10\s+6\s+3\s+1\s+0\s+1\s+0\s+3\s+\d{16}\s+0$`)
		wantLine(t, r.stdout, `^gpus\s+2\s+0\s+2\s+`)
		wantLine(t, r.stdout, `^emails\s+0\s+0\s+0\s+1\s+`)
		wantLine(t, r.stdout, `^t-fail\s+1\s+smtp\s+.*smtp refused`)
		wantLine(t, r.stdout, `^migrate\s+true\s+permanent\s+1\s+0$`)
		wantLine(t, r.stdout, `^leader\s+false\s+-\s+0\s+\d{16}$`)
		wantLine(t, r.stdout, `^printers\s+3\s+1\s+0$`)
		wantLine(t, r.stdout, `^w-dead\s+workers\s+.*false`)

		// One pool in detail: its members, leases and bindings.
		r = runCLI(t, cliEnv{}, "inspect", "pool", inspecttest.Pool, "--redis", url, "--prefix", b.Prefix)
		if r.code != exitOK { // the pool alone is healthy
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `^m0\s+unhealthy\s+0\s+-\s+yes\s+quarantined for`)
		wantLine(t, r.stdout, `^m5\s+held\s+2\s+-\s+yes\s+fence \d{16}, permanent$`)
		wantLine(t, r.stdout, `^m8\s+held\s+2\s+-\s+yes\s+fence \d{16}, lapsed .* ago$`)
		wantLine(t, r.stdout, `^m9\s+free\s+0\s+in \S+\s+yes`)
		wantLine(t, r.stdout, `^job-1\s+m2\s+in .*false$`)
		if strings.Contains(r.stdout, "QUEUE") || strings.Contains(r.stdout, "gpus") {
			t.Errorf("pool detail shows more than the pool:\n%s", r.stdout)
		}

		// JSON: the versioned report, narrowed to the category.
		r = runCLI(t, cliEnv{}, "inspect", "queue", "--json", "--redis", url, "--prefix", b.Prefix)
		// The seeded prefix is degraded (a lapsed lease, dead letters):
		// inspect's exit status follows the health, as diagnose's does.
		if r.code != exitFail || !strings.Contains(r.stderr, "health degraded") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		var rep inspect.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v in %s", err, r.stdout)
		}
		if rep.Version != 1 || len(rep.Queues) != 2 || len(rep.Pools) != 0 || rep.Queues[0].Dead != 1 ||
			rep.Queues[0].RecentFailures[0].ID != inspecttest.FailedTaskID || rep.Scan == nil {
			t.Errorf("json report: %+v", rep)
		}

		// Over --full-read-limit: a summary, said so in both views.
		r = runCLI(t, cliEnv{}, "inspect", "pool", inspecttest.Pool, "--full-read-limit", "5", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitOK { // the pool alone is healthy
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `^proxies\s+10\s+6\s+3\s+1\s+0\s+1\s+0\s+3\s+\d{16}\s+unchecked$`)
		wantLine(t, r.stdout, `^pool proxies has 10 members, more than --full-read-limit: read as a summary`)
		if strings.Contains(r.stdout, "m5") {
			t.Errorf("a summary lists members:\n%s", r.stdout)
		}

		r = runCLI(t, cliEnv{}, "inspect", "queue", "nope", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitFail || !strings.Contains(r.stderr, `no queue named "nope"`) {
			t.Errorf("missing queue: exit %d, stderr %s", r.code, r.stderr)
		}
	})
}

// TestInspectCorrupt: a broken invariant makes inspect exit 1 and
// diagnose report integrity-corrupt.
func TestInspectCorrupt(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		// A priority kept for a member that does not exist.
		key := b.Prefix + ":{pool:broken}:prio"
		if err := b.Client.Do(ctx, b.Client.B().Hset().Key(key).FieldValue().FieldValue("ghost", "5").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		url := backendURL(b)
		r := runCLI(t, cliEnv{}, "inspect", "pool", "broken", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitFail || !strings.Contains(r.stdout, "violations of pool broken") || !strings.Contains(r.stdout, "ghost") {
			t.Errorf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, cliEnv{}, "diagnose", "--json", "--redis", url, "--prefix", b.Prefix)
		var rep inspect.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v in %s", err, r.stdout)
		}
		if r.code != exitFail || rep.Health != inspect.HealthCorrupt || len(rep.Findings) == 0 ||
			rep.Findings[0].Code != inspect.CodeIntegrityCorrupt || rep.Findings[0].Severity != inspect.SeverityCritical {
			t.Errorf("exit %d, report %+v", r.code, rep)
		}
	})
}

// TestDiagnoseHostileState (issue 13, point 5): a pool key of the wrong
// type and a fencing counter that is no integer are reported as integrity
// violations naming the keys, not as a failed read or a healthy pool.
func TestDiagnoseHostileState(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		c := b.Client
		free, fence := b.Prefix+":{pool:hostile}:free", b.Prefix+":{pool:hostile}:fence"
		if err := c.Do(ctx, c.B().Set().Key(free).Value("x").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, c.B().Set().Key(fence).Value("lots").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		url := backendURL(b)
		r := runCLI(t, cliEnv{}, "diagnose", "--json", "--redis", url, "--prefix", b.Prefix)
		var rep inspect.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v in %s (stderr %s)", err, r.stdout, r.stderr)
		}
		if r.code != exitFail || rep.Health != inspect.HealthCorrupt || !hasFinding(rep, inspect.CodeIntegrityCorrupt) {
			t.Errorf("exit %d, report %+v, stderr %s", r.code, rep, r.stderr)
		}
		r = runCLI(t, cliEnv{}, "inspect", "pool", "hostile", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitFail || !strings.Contains(r.stdout, free) || !strings.Contains(r.stdout, fence) {
			t.Errorf("inspect: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
	})
}

func TestDiagnoseCommand(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		url := backendURL(b)
		// Nothing under the prefix yet: one empty-prefix warning (a
		// mistyped prefix must not read as healthy), exit 1, whatever other
		// tests left in the server's slow log (only this prefix's count).
		r := runCLI(t, cliEnv{}, "diagnose", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitFail || !strings.Contains(r.stdout, "0 pools, 0 queues") ||
			!strings.Contains(r.stdout, "health DEGRADED") || strings.Count(r.stdout, "\nwarning ") != 1 ||
			!strings.Contains(r.stdout, "empty-prefix") {
			t.Errorf("empty: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}

		seedAll(t, b)
		r = runCLI(t, cliEnv{}, "diagnose", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitFail {
			t.Errorf("exit %d, stderr %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `health DEGRADED`)
		// The seeded lease lapsed just now: churn within the grace, info.
		wantLine(t, r.stdout, `^info\s+lapsed-leases\s+pool:proxies\s+1 lease.*less than 5s ago`)
		wantLine(t, r.stdout, `^warning\s+dead-letters\s+queue:emails\s+1 task.*smtp refused`)
		wantLine(t, r.stdout, `^\s+repair: redisalloc queue requeue --prefix \S+ --queue emails --all$`)
		wantLine(t, r.stdout, `^warning\s+dead-workers\s+health:workers\s+1 worker.*w-dead`)
		wantLine(t, r.stdout, `^warning\s+low-free-capacity\s+pool:gpus`)
		wantLine(t, r.stdout, `^warning\s+queue-no-workers\s+queue:reports`)
		wantLine(t, r.stdout, `^info\s+permanent-locks\s+locks\s+.*migrate`)
		wantLine(t, r.stdout, `^redis \S+: memory `)

		r = runCLI(t, cliEnv{}, "diagnose", "--json", "--redis", url, "--prefix", b.Prefix, "--scan-limit", "1")
		var rep inspect.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v in %s", err, r.stdout)
		}
		// With one key per node most parts stay unseen: the exit status
		// depends on which, so only the shape is checked.
		if r.code == exitUsage || rep.Version != 1 || rep.Redis == nil || len(rep.Redis.Nodes) == 0 {
			t.Errorf("exit %d, report %+v", r.code, rep)
		}
		// miniredis answers a SCAN whole, so only real servers truncate.
		if b.Real() && (rep.Scan == nil || !rep.Scan.Truncated || !hasFinding(rep, inspect.CodeScanTruncated)) {
			t.Errorf("scan-limit 1: scan %+v, findings %+v", rep.Scan, rep.Findings)
		}
	})
}

func hasFinding(r inspect.Report, code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func TestInspectUsage(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	url := backendURL(b)
	for name, tc := range map[string]struct {
		args   []string
		getenv func(string) string
		code   int
		stderr string
	}{
		"NoRedis":        {[]string{"inspect", "--prefix", "p"}, nil, exitUsage, "no Redis given: pass --redis URL or set REDIS_URL"},
		"NoPrefix":       {[]string{"diagnose", "--redis", url}, nil, exitUsage, "--prefix is required"},
		"BadPrefix":      {[]string{"diagnose", "--redis", url, "--prefix", "a{b"}, nil, exitUsage, "brace"},
		"BadCategory":    {[]string{"inspect", "things", "--redis", url, "--prefix", "p"}, nil, exitUsage, `unknown category "things"`},
		"NameOnLocks":    {[]string{"inspect", "locks", "x", "--redis", url, "--prefix", "p"}, nil, exitUsage, "a NAME goes with pool or queue"},
		"TooManyArgs":    {[]string{"inspect", "pool", "a", "b", "--prefix", "p"}, nil, exitUsage, `unexpected argument "b"`},
		"BadFlag":        {[]string{"diagnose", "--nope"}, nil, exitUsage, "flag provided but not defined"},
		"BadScanLimit":   {[]string{"diagnose", "--redis", url, "--prefix", "p", "--scan-limit", "0"}, nil, exitUsage, "--scan-limit"},
		"ZeroFullRead":   {[]string{"inspect", "--redis", url, "--prefix", "p", "--full-read-limit", "0"}, nil, exitUsage, "--full-read-limit must be -1 (no limit) or at least 1, got 0"},
		"NegativeSample": {[]string{"diagnose", "--redis", url, "--prefix", "p", "--sample", "-1s"}, nil, exitUsage, "--sample must not be negative"},
		"SampleTimeout":  {[]string{"diagnose", "--redis", url, "--prefix", "p", "--sample", "3s", "--timeout", "5s"}, nil, exitUsage, "at most half of --timeout"},
		"BadURL":         {[]string{"diagnose", "--redis", "http://x", "--prefix", "p"}, nil, exitUsage, "invalid redis URL"},
		"NoServer":       {[]string{"diagnose", "--redis", "redis://127.0.0.1:1", "--prefix", "p"}, nil, exitUsage, "cannot connect"},
		"EnvRedis":       {[]string{"diagnose", "--prefix", "p"}, func(k string) string { return map[string]string{"REDIS_URL": url}[k] }, exitFail, "health degraded"},
		"Help":           {[]string{"inspect", "-h"}, nil, exitOK, ""},
		"PoolNoSub":      {[]string{"pool"}, nil, exitUsage, "missing subcommand"},
		"PoolBadSub":     {[]string{"pool", "fix"}, nil, exitUsage, `unknown subcommand "fix"`},
		"QueueHelp":      {[]string{"queue", "help", "requeue"}, nil, exitOK, ""},
		"GCNoPool":       {[]string{"pool", "gc", "--redis", url, "--prefix", "p"}, nil, exitUsage, "--pool is required"},
		"GCBoth":         {[]string{"pool", "gc", "--redis", url, "--prefix", "p", "--pool", "x", "--all"}, nil, exitUsage, "exclude each other"},
		"FreeNoKey":      {[]string{"pool", "free", "--redis", url, "--prefix", "p", "--pool", "x"}, nil, exitUsage, "at least one member KEY"},
		"RequeueNoIDs":   {[]string{"queue", "requeue", "--redis", url, "--prefix", "p", "--queue", "q"}, nil, exitUsage, "or --all"},
		"RequeueBoth":    {[]string{"queue", "requeue", "t1", "--all", "--redis", url, "--prefix", "p", "--queue", "q"}, nil, exitUsage, "not both"},
		"ImportNoFile":   {[]string{"pool", "import", "--redis", url, "--prefix", "p", "--pool", "x"}, nil, exitUsage, "name the FILE"},
		"ImportBadExt":   {[]string{"pool", "import", "members.txt", "--redis", url, "--prefix", "p", "--pool", "x"}, nil, exitUsage, "--format jsonl or csv"},
		"ExportBadCode":  {[]string{"pool", "export", "--codec", "yaml", "--redis", url, "--prefix", "p", "--pool", "x"}, nil, exitUsage, "--codec"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, cliEnv{getenv: tc.getenv}, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.stderr)
			}
		})
	}
}

// TestHelpListsCommands: the new commands are in the command list.
func TestHelpListsCommands(t *testing.T) {
	r := runCLI(t, cliEnv{}, "help")
	for _, c := range []string{"inspect", "diagnose", "pool", "queue"} {
		wantLine(t, r.stdout, `^  `+c+`\s`)
	}
}
