package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, redisxtest.LeakOptions()...)
}

// summaryInt returns the first number of the summary line "  name: N ...".
func summaryInt(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `:\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in the output:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkReport asserts what every successful run reports.
func checkReport(t *testing.T, err error, out string) {
	t.Helper()
	if code := exitCode(err); code != exitOK {
		t.Fatalf("exit status %d (%v), want 0; output:\n%s", code, err, out)
	}
	if n := summaryInt(t, out, "allocations"); n == 0 {
		t.Errorf("no allocations; output:\n%s", out)
	}
	if n := summaryInt(t, out, "reclaims"); n == 0 {
		t.Errorf("no crashed lease reclaimed; output:\n%s", out)
	}
	if n := summaryInt(t, out, "violations"); n != 0 {
		t.Errorf("%d violations; output:\n%s", n, out)
	}
	if !strings.Contains(out, "none left") || !strings.Contains(out, "\nresult: OK\n") {
		t.Errorf("no clean cleanup and OK result; output:\n%s", out)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	o := defaultDemoOptions()
	o.duration = 2 * time.Second
	o.interval = 250 * time.Millisecond
	var out bytes.Buffer
	err := runDemo(t.Context(), &out, o)
	s := out.String()
	checkReport(t, err, s)
	if strings.Contains(s, "\x1b[") {
		t.Errorf("plain output contains escape sequences:\n%s", s)
	}
	if !regexp.MustCompile(`(?m)^\[ *\d+\.\ds\] free=\d+ held=\d+ unhealthy=\d+ allocs=\d+`).MatchString(s) {
		t.Errorf("no periodic line in the output:\n%s", s)
	}
	if !strings.Contains(s, "(duration reached)") {
		t.Errorf("the run did not end by its duration:\n%s", s)
	}
}

func TestDemoLive(t *testing.T) {
	t.Parallel()
	o := defaultDemoOptions()
	o.duration = 1500 * time.Millisecond
	o.interval = 200 * time.Millisecond
	o.live = true
	var out bytes.Buffer
	err := runDemo(t.Context(), &out, o)
	s := out.String()
	checkReport(t, err, s)
	for _, want := range []string{"\x1b[J", "PROXY", "HOLDER", "crasher", "invariants  OK"} {
		if !strings.Contains(s, want) {
			t.Errorf("live output lacks %q:\n%s", want, s)
		}
	}
	// Each frame fits a 80x24 terminal, or the redraw would leave debris.
	frames := strings.Split(s, "\x1b[J")
	for _, fr := range frames[1 : len(frames)-1] { // the last one runs into the summary
		lines := strings.Split(strings.TrimSuffix(fr[:strings.LastIndex(fr, "\x1b[")], "\n"), "\n")
		if len(lines) > 24 {
			t.Errorf("frame of %d lines:\n%s", len(lines), fr)
		}
		for _, l := range lines {
			if len([]rune(l)) > viewWidth {
				t.Errorf("frame line longer than %d: %q", viewWidth, l)
			}
		}
	}
	if len(frames) < 3 {
		t.Errorf("only %d frames drawn", len(frames)-1)
	}
}

// TestDemoDefaultDuration: with no flags the demo ends by itself after 20
// seconds (the README's first command must exit); --duration 0 runs it
// until interrupted.
func TestDemoDefaultDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 20 * time.Second},
		{[]string{"--duration", "0"}, 0},
		{[]string{"--duration", "3s"}, 3 * time.Second},
	} {
		o, plain := defaultDemoOptions(), false
		if err := demoFlags(&o, &plain).Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if o.duration != tc.want {
			t.Errorf("demo %q: duration %v, want %v", tc.args, o.duration, tc.want)
		}
	}
}

// TestDemoInterrupted: with duration 0 the demo runs until ctx ends (the
// signal in main) and then stops cleanly.
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	o := defaultDemoOptions()
	o.duration = 0
	o.interval = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	err := runDemo(ctx, &out, o)
	checkReport(t, err, out.String())
	if !strings.Contains(out.String(), "(interrupted)") {
		t.Errorf("not reported as interrupted:\n%s", out.String())
	}
}

// TestDemoCatchesBrokenExclusivity frees held members behind their holders'
// backs (Admin.ForceRelease, the administrator's tool), which breaks exclusivity as a
// buggy pool would: the demo must report violations and exit 1.
func TestDemoCatchesBrokenExclusivity(t *testing.T) {
	t.Parallel()
	o := defaultDemoOptions()
	o.duration = 1500 * time.Millisecond
	o.interval = 250 * time.Millisecond
	o.chaos = func(ctx context.Context, p *pool.Pool[proxy], keys []string) {
		for ctx.Err() == nil {
			leases := map[string]int64{}
			for _, k := range keys {
				leases[k] = 0 // whoever holds it
			}
			_, _ = p.Admin().ForceRelease(ctx, leases)
			sleep(ctx, 20*time.Millisecond)
		}
	}
	var out bytes.Buffer
	err := runDemo(t.Context(), &out, o)
	s := out.String()
	if code := exitCode(err); code != exitFail {
		t.Fatalf("exit status %d (%v), want %d; output:\n%s", code, err, exitFail, s)
	}
	if n := summaryInt(t, s, "violations"); n == 0 {
		t.Errorf("no violation reported; output:\n%s", s)
	}
	if !strings.Contains(s, "refused with ErrNotHeld") || !strings.Contains(s, "\nresult: FAILED\n") {
		t.Errorf("output lacks the refused Free or the FAILED result:\n%s", s)
	}
}

// TestDemoRealRedis runs the demo against the real servers of the module's
// test setup (REDIS_URL, REDIS_CLUSTER_ADDRS), which must be left clean.
func TestDemoRealRedis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, env string
		url       func(string) string
	}{
		{"Standalone", redisxtest.EnvRedisURL, func(v string) string { return v }},
		{"Cluster", redisxtest.EnvClusterAddrs, func(v string) string { return "redis://" + v }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := strings.TrimSpace(os.Getenv(tc.env))
			if v == "" {
				if os.Getenv(redisxtest.EnvCI) != "" {
					t.Fatalf("%s is not set but CI is", tc.env)
				}
				t.Skipf("%s not set", tc.env)
			}
			o := defaultDemoOptions()
			o.redisURL = tc.url(v)
			o.duration = 2 * time.Second
			o.interval = 500 * time.Millisecond
			var out bytes.Buffer
			err := runDemo(t.Context(), &out, o)
			checkReport(t, err, out.String())
		})
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		wantOut    string // in stdout
		wantErrOut string // in stderr
	}{
		{"NoCommand", nil, exitUsage, "", "missing command"},
		{"UnknownCommand", []string{"frobnicate"}, exitUsage, "", "unknown command \"frobnicate\"\nusage: redisalloc"},
		{"Help", []string{"help"}, exitOK, "demo", ""},
		{"HelpFlag", []string{"--help"}, exitOK, "usage: redisalloc", ""},
		{"HelpDemo", []string{"help", "demo"}, exitOK, "-workers", ""},
		{"HelpUnknown", []string{"help", "nope"}, exitUsage, "", `unknown command "nope"`},
		{"DemoHelpFlag", []string{"demo", "-h"}, exitOK, "-duration", ""},
		{"DemoHelpDefaultDuration", []string{"help", "demo"}, exitOK, "(default 20s)", ""},
		{"NegativeWorkers", []string{"demo", "--workers", "-1"}, exitUsage, "", "--workers must be between 1 and 1000, got -1\n(see: redisalloc help demo)"},
		{"ZeroWorkers", []string{"demo", "--workers=0"}, exitUsage, "", "--workers must be between 1 and"},
		{"TooFewProxies", []string{"demo", "--proxies=1"}, exitUsage, "", "--proxies must be between 2 and"},
		{"BadDuration", []string{"demo", "--duration", "ten"}, exitUsage, "", "invalid value \"ten\" for flag -duration: parse error\nusage: redisalloc demo"},
		{"NegativeDuration", []string{"demo", "--duration=-1s"}, exitUsage, "", "--duration must not be negative"},
		{"ShortInterval", []string{"demo", "--interval=1ms"}, exitUsage, "", "--interval must be at least"},
		{"UnknownFlag", []string{"demo", "--colour"}, exitUsage, "", "flag provided but not defined: -colour"},
		{"StrayArgument", []string{"demo", "now"}, exitUsage, "", `unexpected argument "now"`},
		{"BadURL", []string{"demo", "--redis", "http://localhost"}, exitUsage, "", "redisalloc demo: redisallocator: invalid redis URL"},
		{"NoServer", []string{"demo", "--redis", "redis://127.0.0.1:1", "--duration", "1s"}, exitUsage, "", "redisalloc demo: redisallocator: cannot connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), env{stdout: &stdout, stderr: &stderr}, tc.args)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, &stdout)
			}
			if !strings.Contains(stderr.String(), tc.wantErrOut) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErrOut, &stderr)
			}
		})
	}
}

// TestTracker shows that the fencing checks catch what they are for, and
// stay quiet for lapses and reclaims.
func TestTracker(t *testing.T) {
	t.Parallel()
	now := time.Now()
	valid, lapsed := now.Add(time.Hour), now.Add(-time.Second)
	type acq struct {
		key string
		h   hold
	}
	for _, tc := range []struct {
		name       string
		acquire    []acq
		release    []acq // released after all acquisitions
		snap       *pool.Snapshot
		violations []string // substrings, in order
		reclaimed  int
	}{
		{
			name: "FreedThenReallocated",
			acquire: []acq{
				{"a", hold{worker: "w1", fence: 1, until: valid}},
				{"b", hold{worker: "w2", fence: 2, until: valid}},
			},
		},
		{
			name: "TwoHoldersAtOnce",
			acquire: []acq{
				{"a", hold{worker: "w1", fence: 1, until: valid}},
				{"a", hold{worker: "w2", fence: 2, until: valid}},
			},
			violations: []string{"w1 and w2 hold a at once (fences 1 and 2)"},
		},
		{
			name: "FenceNotIncreasing",
			acquire: []acq{
				{"a", hold{worker: "w1", fence: 5, until: lapsed}},
				{"a", hold{worker: "w2", fence: 5, until: valid}},
			},
			violations: []string{"w2 got a with fence 5, not above the previous fence 5"},
		},
		{
			name: "LapsedLeaseReallocated",
			acquire: []acq{
				{"a", hold{worker: "w1", fence: 1, until: lapsed}},
				{"a", hold{worker: "w2", fence: 2, until: valid}},
			},
		},
		{
			name: "CrashedLeaseReclaimed",
			acquire: []acq{
				{"a", hold{worker: "crasher", fence: 1, until: lapsed, crashed: true}},
				{"a", hold{worker: "w1", fence: 2, until: valid}},
			},
			reclaimed: 1,
		},
		{
			name: "LateStaleAllocationIgnored",
			acquire: []acq{
				{"a", hold{worker: "w2", fence: 7, until: valid}},
				{"a", hold{worker: "crasher", fence: 6, until: lapsed, crashed: true}},
			},
			reclaimed: 1,
		},
		{
			name: "SnapshotShowsReclaim",
			acquire: []acq{
				{"a", hold{worker: "crasher", fence: 3, until: lapsed, crashed: true}},
				{"b", hold{worker: "w1", fence: 4, until: valid}},
				{"c", hold{worker: "w2", fence: 9, until: valid}}, // after the snapshot
			},
			snap: &pool.Snapshot{Fence: 8, Members: []pool.MemberInfo{
				{Key: "a", State: pool.StateFree},
				{Key: "b", State: pool.StateHeld, Lease: &pool.LeaseInfo{Fence: 4}},
				{Key: "c", State: pool.StateFree},
			}},
			reclaimed: 1,
		},
		{
			name:    "SnapshotDisagrees",
			acquire: []acq{{"b", hold{worker: "w1", fence: 4, until: valid}}},
			snap: &pool.Snapshot{Fence: 8, Violations: []string{"member \"x\" is both free and held"}, Members: []pool.MemberInfo{
				{Key: "b", State: pool.StateHeld, Lease: &pool.LeaseInfo{Fence: 6}},
			}},
			violations: []string{`snapshot: member "x" is both free and held`, "w1 holds b with fence 4 but Redis shows fence 6"},
		},
		{
			name:    "ReleasedBeforeSnapshot",
			acquire: []acq{{"b", hold{worker: "w1", fence: 4, until: valid}}},
			release: []acq{{"b", hold{fence: 4}}},
			snap:    &pool.Snapshot{Fence: 8, Members: []pool.MemberInfo{{Key: "b", State: pool.StateFree}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen []string
			tr := newTracker(func(m string) { seen = append(seen, m) })
			for _, a := range tc.acquire {
				tr.acquire(a.key, a.h)
			}
			for _, r := range tc.release {
				tr.release(r.key, r.h.fence)
			}
			if tc.snap != nil {
				tr.checkSnapshot(tc.snap, now)
			}
			if len(seen) != len(tc.violations) {
				t.Fatalf("violations %q, want %d like %q", seen, len(tc.violations), tc.violations)
			}
			for i, want := range tc.violations {
				if !strings.Contains(seen[i], want) {
					t.Errorf("violation %d is %q, want it to contain %q", i, seen[i], want)
				}
			}
			if st := tr.stats(); st.reclaimed != tc.reclaimed {
				t.Errorf("reclaimed %d, want %d", st.reclaimed, tc.reclaimed)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379":                 "redis://127.0.0.1:6379",
		"redis://user:secret@host:6379/0":        "redis://***@host:6379/0",
		"rediss://:p@ss@host":                    "rediss://***@host",
		"redis://h1:7000,h2:7001?client_cache=0": "redis://h1:7000,h2:7001?client_cache=0",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
