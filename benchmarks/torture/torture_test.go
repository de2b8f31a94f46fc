package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/task"
)

func TestMain(m *testing.M) {
	// The controller re-executes the test binary as its workers.
	if len(os.Args) > 2 && os.Args[1] == "-worker" {
		os.Exit(workerMain(os.Args[2]))
	}
	os.Exit(m.Run())
}

// TestTortureShort runs a short torture: every check must pass, and the
// run must really have killed workers, restarted Redis (the first restart
// by a crash, compared before/after under appendfsync always) and injected
// faults.
func TestTortureShort(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required with CI=true: %v", err)
		}
		t.Skip("redis-server not on PATH")
	}
	cfg := config{
		Duration: 14 * time.Second, Workers: 3, Holders: 2, Core: 6, Churn: 3, Seed: uint64(time.Now().UnixNano()),
		KillEvery: 2 * time.Second, RestartEvery: 3 * time.Second, CrashRestarts: 0.5, FaultEvery: 1500 * time.Millisecond,
		// No Dir: run makes one and removes it when the run passes, so a
		// failing run leaves its ledgers and logs behind.
		SessionTimeout: 2 * time.Second, Drain: 60 * time.Second, RedisBin: bin,
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	// The controller's log is shown only when the run fails (CI keeps
	// nothing else of it).
	var log strings.Builder
	cfg.Log = &log
	defer func() {
		if t.Failed() {
			t.Logf("controller log:\n%s", log.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sum, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sum.print(&out)
	t.Log("\n" + out.String())
	if err := sum.writeJSON(filepath.Join(t.TempDir(), "summary.json")); err != nil {
		t.Fatal(err)
	}
	if !sum.Pass || sum.Violations != 0 || sum.LostTasks != 0 {
		t.Fatalf("torture failed: %d violations, %d lost tasks", sum.Violations, sum.LostTasks)
	}
	if sum.Kills == 0 || sum.Restarts == 0 || sum.FaultsTotal == 0 {
		t.Fatalf("not tortured enough: %d kills, %d restarts, %d faults", sum.Kills, sum.Restarts, sum.FaultsTotal)
	}
	if sum.AppendFsync != fsyncAlways || sum.RestartsCrash == 0 || sum.RestartsCrash+sum.RestartsGrace != sum.Restarts ||
		(sum.Restarts >= 2 && sum.RestartsGrace == 0) {
		t.Fatalf("appendfsync %s, restarts %d: %d crash, %d graceful; want always and crashes spread evenly from the first",
			sum.AppendFsync, sum.Restarts, sum.RestartsCrash, sum.RestartsGrace)
	}
	if sum.Restart.Checked != sum.Restarts || sum.Restart.CrashUnchecked != 0 || sum.Restart.Members == 0 {
		t.Fatalf("restart check: %+v; every restart must be compared", sum.Restart)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("crash %d;", sum.RestartsCrash)) {
		t.Fatalf("summary does not report crash restarts:\n%s", out.String())
	}
	if sum.Reclaim.Count == 0 || sum.Ledger.Holdings == 0 || sum.Ledger.GuardWrites == 0 || sum.Ledger.TasksSucceeded == 0 {
		t.Fatalf("too little checked: %d reclaims, %d holdings, %d guarded writes, %d tasks succeeded",
			sum.Reclaim.Count, sum.Ledger.Holdings, sum.Ledger.GuardWrites, sum.Ledger.TasksSucceeded)
	}
}

func TestConfigValidate(t *testing.T) {
	good := config{
		Duration: time.Second, Workers: 1, Holders: 1, Core: 1, Churn: 1, KillEvery: 1, RestartEvery: 1,
		FaultEvery: 1, SessionTimeout: time.Second, Drain: time.Second,
	}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*config){
		"ZeroDuration":   func(c *config) { c.Duration = 0 },
		"NoWorkers":      func(c *config) { c.Workers = 0 },
		"NoHolders":      func(c *config) { c.Holders = 0 },
		"NoChurn":        func(c *config) { c.Churn = 0 },
		"NegativeKill":   func(c *config) { c.KillEvery = -1 },
		"ShortSession":   func(c *config) { c.SessionTimeout = time.Millisecond },
		"ZeroDrain":      func(c *config) { c.Drain = 0 },
		"TooManyWorkers": func(c *config) { c.Workers = 1000 },
		"NegativeCrash":  func(c *config) { c.CrashRestarts = -0.1 },
		"CrashOverOne":   func(c *config) { c.CrashRestarts = 1.5 },
		"CrashNaN":       func(c *config) { c.CrashRestarts = math.NaN() },
		"FsyncNo":        func(c *config) { c.AppendFsync = "no" },
		"FsyncTypo":      func(c *config) { c.AppendFsync = "Always" },
		"NegativeCut":    func(c *config) { c.AOFCut, c.CrashRestarts = -time.Second, 1 },
		"CutNoCrashes":   func(c *config) { c.AOFCut = time.Second },
		"CutAndFailover": func(c *config) { c.AOFCut, c.CrashRestarts, c.Failover = time.Second, 1, true },
		"NegativeLag":    func(c *config) { c.Failover, c.ReplicaLag = true, -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			mut(&c)
			if err := c.validate(); !errors.Is(err, errFlags) {
				t.Fatalf("validate = %v, want errFlags", err)
			}
		})
	}
	for _, args := range [][]string{{"-workers", "0"}, {"-crash-restarts", "2"}, {"-appendfsync", "no"}} {
		if code := cliMain(args); code != 2 {
			t.Fatalf("cliMain %q = %d, want 2", args, code)
		}
	}
}

func TestAppendFsyncDefault(t *testing.T) {
	for _, tt := range []struct {
		crash float64
		flag  string
		want  string
	}{
		{0, "", fsyncEverysec},
		{0.5, "", fsyncAlways},
		{1, "", fsyncAlways},
		{0.5, fsyncEverysec, fsyncEverysec},
		{0, fsyncAlways, fsyncAlways},
	} {
		c := config{CrashRestarts: tt.crash, AppendFsync: tt.flag}
		if got := c.appendFsync(); got != tt.want {
			t.Errorf("crash %v, flag %q: appendfsync %q, want %q", tt.crash, tt.flag, got, tt.want)
		}
	}
	// Lost writes are injected on top of the tail everysec may lose.
	for _, c := range []config{{CrashRestarts: 1, AOFCut: time.Second}, {CrashRestarts: 0.5, Failover: true}} {
		if got := c.appendFsync(); got != fsyncEverysec || !c.lossy() {
			t.Errorf("%+v: appendfsync %q, lossy %v; want everysec, lossy", c, got, c.lossy())
		}
	}
	if !crashChecked(fsyncAlways) || crashChecked(fsyncEverysec) {
		t.Fatal("crash restarts must be compared with always and only then")
	}
}

// TestIsCrash: the first restart crashes when any do, and crashes are
// spread evenly.
func TestIsCrash(t *testing.T) {
	for _, f := range []float64{0, 0.1, 0.25, 0.5, 0.7, 1} {
		crashes := 0
		for n := 1; n <= 100; n++ {
			if isCrash(n, f) {
				crashes++
			}
			// Any prefix has floor or ceil of n*f crashes.
			if lo, hi := math.Floor(float64(n)*f), math.Ceil(float64(n)*f); float64(crashes) < lo || float64(crashes) > hi {
				t.Fatalf("f %v: %d crashes in the first %d restarts", f, crashes, n)
			}
		}
		if isCrash(1, f) != (f > 0) {
			t.Fatalf("f %v: first restart crash = %v", f, isCrash(1, f))
		}
	}
	for n := 1; n < 50; n++ {
		if isCrash(n, 0.5) == isCrash(n+1, 0.5) {
			t.Fatalf("f 0.5: restarts %d and %d are of the same kind", n, n+1)
		}
	}
}

// TestRestartDiff: the restart check must flag a before/after pair that
// differ, a lost task record above all.
func TestRestartDiff(t *testing.T) {
	base := func() *persisted {
		return &persisted{
			fence:   42,
			members: map[string]string{"m00": "held prio=0 lease={Fence:42}", "m01": "free prio=0 lease="},
			other:   "bind b=m00 exp=1; waiters=0",
			stats:   task.Stats{Ready: 1, Records: 3},
			tasks: map[string]taskInfo{
				"w0-1/1": {Info: task.Info{Status: task.StatusSucceeded}, found: true},
				"w0-1/2": {Info: task.Info{Status: task.StatusPending}, found: true},
			},
		}
	}
	if d := base().diff(base()); len(d) != 0 {
		t.Fatalf("equal states differ: %v", d)
	}
	for name, mut := range map[string]func(*persisted){
		"TaskLost":     func(p *persisted) { delete(p.tasks, "w0-1/2") },
		"TaskNotFound": func(p *persisted) { p.tasks["w0-1/1"] = taskInfo{} },
		"TaskChanged": func(p *persisted) {
			p.tasks["w0-1/1"] = taskInfo{Info: task.Info{Status: task.StatusRunning}, found: true}
		},
		"FenceBack":    func(p *persisted) { p.fence = 41 },
		"LeaseLost":    func(p *persisted) { p.members["m00"] = "free prio=0 lease=" },
		"MemberLost":   func(p *persisted) { delete(p.members, "m01") },
		"MemberNew":    func(p *persisted) { p.members["c00"] = "free prio=0 lease=" },
		"BindingLost":  func(p *persisted) { p.other = "waiters=0" },
		"StatsChanged": func(p *persisted) { p.stats.Ready = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			after := base()
			mut(after)
			if d := base().diff(after); len(d) == 0 {
				t.Fatal("a changed state was not flagged")
			}
		})
	}
}

// TestSummaryReportsRestartKinds: the text summary names the kinds, the
// policy, and a skipped crash comparison.
func TestSummaryReportsRestartKinds(t *testing.T) {
	s := Summary{Restarts: 3, RestartsGrace: 1, RestartsCrash: 2, AppendFsync: fsyncEverysec, RestartKind: restartKinds(0.5)}
	s.Restart.Checked, s.Restart.CrashUnchecked = 1, 2
	var b strings.Builder
	s.print(&b)
	for _, want := range []string{"graceful 1, crash 2", "appendfsync everysec", "SKIPPED for 2 crash restarts"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// ---- the checker must be able to fail ----

const msec = int64(time.Millisecond)

func acq(w, m string, fence, send, reply, ttlMS int64, sess string) Record {
	return Record{K: kAcq, W: w, M: m, F: fence, Send: send * msec, T: reply * msec, TTL: ttlMS, Sess: sess}
}

func TestCheckExclusive(t *testing.T) {
	tests := []struct {
		name    string
		recs    []Record
		faults  [][2]int64
		overlap int
		dup     int
		order   int
		guard   int
		regress int
		super   int
		lossy   bool
	}{
		{name: "SecondHolderWhileFirstValid", overlap: 1, recs: []Record{
			acq("w1", "m1", 1, 0, 10, 3000, ""),
			acq("w2", "m1", 2, 20, 30, 3000, ""),
		}},
		{name: "AfterFree", recs: []Record{
			acq("w1", "m1", 1, 0, 10, 3000, ""),
			{K: kFree, W: "w1", M: "m1", F: 1, T: 15 * msec},
			acq("w2", "m1", 2, 20, 30, 3000, ""),
		}},
		{name: "AfterLapse", recs: []Record{
			acq("w1", "m1", 1, 0, 10, 1000, ""),
			acq("w2", "m1", 2, 1000, 1010, 3000, ""),
		}},
		{name: "RefreshExtends", overlap: 1, recs: []Record{
			acq("w1", "m1", 1, 0, 10, 1000, ""),
			{K: kRefresh, W: "w1", M: "m1", F: 1, Send: 900 * msec, T: 950 * msec, OK: true, TTL: 1000},
			acq("w2", "m1", 2, 1000, 1050, 3000, ""),
		}},
		{name: "LateRefreshDoesNotExtend", recs: []Record{
			acq("w1", "m1", 1, 0, 10, 1000, ""),
			{K: kRefresh, W: "w1", M: "m1", F: 1, Send: 900 * msec, T: 1100 * msec, OK: true, TTL: 1000},
			acq("w2", "m1", 2, 1000, 1050, 3000, ""),
		}},
		{name: "SessionEndsFirst", recs: []Record{
			{K: kSess, W: "w1", Sess: "s1", TTL: 2000},
			acq("w1", "m1", 1, 0, 10, 10000, "s1"),
			acq("w2", "m1", 2, 2400, 2500, 3000, ""),
		}},
		{name: "SessionBeatKeepsLeaseValid", overlap: 1, recs: []Record{
			{K: kSess, W: "w1", Sess: "s1", TTL: 2000},
			acq("w1", "m1", 1, 0, 10, 10000, "s1"),
			{K: kBeat, W: "w1", Sess: "s1", Send: 1500 * msec, T: 1600 * msec, OK: true},
			acq("w2", "m1", 2, 2400, 2500, 3000, ""),
		}},
		{name: "RemovedMember", recs: []Record{
			acq("w1", "c1", 1, 0, 10, 3000, ""),
			{K: kRemove, W: "w3", Op: "shrink", Keys: []string{"c1"}, Send: 500 * msec, T: 510 * msec, OK: true},
			acq("w2", "c1", 2, 600, 610, 3000, ""),
		}},
		{name: "RefusedRemovalNeverRan", overlap: 1, recs: []Record{
			acq("w1", "c1", 1, 0, 10, 3000, ""),
			{K: kRemove, W: "w3", Op: "assign", Keys: []string{"c1"}, Send: 500 * msec, T: 510 * msec, Err: errRefused},
			acq("w2", "c1", 2, 600, 610, 3000, ""),
		}},
		{name: "FailedRemovalMayHaveRun", recs: []Record{
			acq("w1", "c1", 1, 0, 10, 3000, ""),
			{K: kRemove, W: "w3", Op: "assign", Keys: []string{"c1"}, Send: 500 * msec, T: 2510 * msec, Err: "conn_eof"},
			acq("w2", "c1", 2, 600, 610, 3000, ""),
		}},
		{name: "KilledRemoverMayHaveRun", recs: []Record{
			// The remover died after its intent: the proxy may deliver it.
			acq("w1", "c1", 1, 0, 10, 5000, ""),
			{K: kRemoving, W: "w3", Op: "assign", Keys: []string{"c1"}, Send: 500 * msec},
			acq("w2", "c1", 2, 1500, 1510, 3000, ""),
		}},
		{name: "AnsweredRemovalIntent", overlap: 1, recs: []Record{
			// Its outcome came: the intent adds nothing (it removed c2).
			acq("w1", "c1", 1, 0, 10, 5000, ""),
			{K: kRemoving, W: "w3", Op: "shrink", Keys: []string{"c2"}, Send: 500 * msec},
			{K: kRemove, W: "w3", Op: "shrink", Keys: []string{"c2"}, Send: 500 * msec, T: 510 * msec, OK: true},
			acq("w2", "c1", 2, 1500, 1510, 3000, ""),
		}},
		{name: "KilledRemoverWindowEnds", overlap: 1, recs: []Record{
			// 3 s after its intent, a dead remover's op can no longer run:
			// a holding taken after that is not cut short by it.
			{K: kRemoving, W: "w3", Op: "assign", Keys: []string{"c1"}, Send: 1000 * msec},
			acq("w1", "c1", 1, 4500, 4510, 9000, ""),
			acq("w2", "c1", 2, 6000, 6010, 3000, ""),
		}},
		{name: "FaultStretchesWindow", faults: [][2]int64{{900 * msec, 4000 * msec}}, recs: []Record{
			// A fault held the request back until 4 s: it may run until 7 s.
			{K: kRemoving, W: "w3", Op: "assign", Keys: []string{"c1"}, Send: 1000 * msec},
			acq("w1", "c1", 1, 4500, 4510, 9000, ""),
			acq("w2", "c1", 2, 6000, 6010, 3000, ""),
		}},
		{name: "OtherMember", recs: []Record{
			acq("w1", "m1", 1, 0, 10, 3000, ""),
			acq("w2", "m2", 2, 20, 30, 3000, ""),
		}},
		{name: "DuplicateFence", dup: 1, regress: 1, recs: []Record{
			acq("w1", "m1", 7, 0, 10, 3000, ""),
			acq("w2", "m2", 7, 20, 30, 3000, ""),
		}},
		{name: "FenceOutOfOrder", order: 1, regress: 1, recs: []Record{
			acq("w1", "m1", 5, 0, 100, 3000, ""),
			acq("w2", "m2", 3, 200, 210, 3000, ""),
		}},
		{name: "GuardRefusedWhileValid", guard: 1, recs: []Record{
			acq("w1", "m1", 1, 0, 10, 3000, ""),
			{K: kGuard, W: "w1", M: "m1", F: 1, Send: 100 * msec, T: 110 * msec, OK: false, Cur: 2},
		}},
		{name: "GuardRefusedAfterLapse", recs: []Record{
			acq("w1", "m1", 1, 0, 10, 1000, ""),
			{K: kGuard, W: "w1", M: "m1", F: 1, Send: 1500 * msec, T: 1510 * msec, OK: false, Cur: 2},
		}},
		// Redis lost the counter's last increments: fence 5 went out again
		// to a second holder of m1, and the resource took both writes.
		{name: "FenceReusedAfterLoss", dup: 1, regress: 1, super: 1, recs: []Record{
			acq("w1", "m1", 5, 0, 10, 3000, ""),
			{K: kGuard, W: "w1", M: "m1", F: 5, H: "w1#1", Send: 20 * msec, T: 21 * msec, OK: true},
			acq("w2", "m1", 5, 100, 110, 3000, ""),
			{K: kGuard, W: "w2", M: "m1", F: 5, H: "w2#1", Send: 120 * msec, T: 121 * msec, OK: true, Cur: 5, CurH: "w1#1"},
		}},
		// The counter went back below fences answered before: a regression,
		// though this member's resource never saw the higher fence.
		{name: "CounterWentBack", regress: 1, order: 1, recs: []Record{
			acq("w1", "m1", 9, 0, 10, 3000, ""),
			acq("w2", "m2", 8, 100, 110, 3000, ""),
		}},
		// The same holding writes again: not superseded.
		{name: "SameHolderRewrites", recs: []Record{
			acq("w1", "m1", 3, 0, 10, 3000, ""),
			{K: kGuard, W: "w1", M: "m1", F: 3, H: "w1#1", Send: 20 * msec, T: 21 * msec, OK: true},
			{K: kGuard, W: "w1", M: "m1", F: 3, H: "w1#1", Send: 30 * msec, T: 31 * msec, OK: true, Cur: 3, CurH: "w1#1"},
		}},
		// Lossy: the first holder's lease was erased, so the overlap and the
		// refusal of its write are notes; the fences went up, as they must.
		{name: "LossyLeaseErased", lossy: true, overlap: 1, guard: 1, recs: []Record{
			acq("w1", "m1", 5, 0, 10, 3000, ""),
			acq("w2", "m1", 1_800_000_000_000_000, 100, 110, 3000, ""),
			{K: kGuard, W: "w2", M: "m1", F: 1_800_000_000_000_000, H: "w2#1", Send: 120 * msec, T: 121 * msec, OK: true, Cur: 0},
			{K: kGuard, W: "w1", M: "m1", F: 5, H: "w1#1", Send: 130 * msec, T: 131 * msec, OK: false, Cur: 1_800_000_000_000_000, CurH: "w2#1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(CheckInput{Records: tt.recs, RemovalWindow: 3 * time.Second, Faults: tt.faults, Lossy: tt.lossy})
			if res.Overlaps != tt.overlap || res.DuplicateFences != tt.dup || res.FenceOrder != tt.order || res.GuardViolations != tt.guard ||
				res.FenceRegressions != tt.regress || res.SupersededAccepted != tt.super {
				t.Fatalf("overlaps %d, duplicate fences %d, fence order %d, guard %d, regressions %d, superseded %d; want %d, %d, %d, %d, %d, %d\n%v",
					res.Overlaps, res.DuplicateFences, res.FenceOrder, res.GuardViolations, res.FenceRegressions, res.SupersededAccepted,
					tt.overlap, tt.dup, tt.order, tt.guard, tt.regress, tt.super, res.Violations)
			}
			want, notes := tt.overlap+tt.dup+tt.order+tt.guard+tt.regress+tt.super, 0
			if tt.lossy {
				want, notes = want-tt.overlap-tt.guard, tt.overlap+tt.guard
			}
			if len(res.Violations) != want || len(res.Notes) != notes {
				t.Fatalf("%d violation texts, %d notes, want %d, %d: %v %v", len(res.Violations), len(res.Notes), want, notes, res.Violations, res.Notes)
			}
		})
	}
}

func TestCheckTasks(t *testing.T) {
	r := func(v int64) *int64 { return &v }
	intent := func(id string, x int64, fail bool) Record {
		return Record{K: kIntent, W: "w1", ID: id, X: x, Fail: fail}
	}
	sub := func(id string) Record { return Record{K: kSubmitted, W: "w1", ID: id} }
	ok := func(x int64) TaskState {
		return TaskState{Found: true, Status: "succeeded", HasResult: true, Result: expected(x)}
	}
	tests := []struct {
		name                    string
		recs                    []Record
		tasks                   map[string]TaskState
		lost, wrong, conflicted int
	}{
		{
			name: "Succeeded", recs: []Record{intent("a", 3, false), sub("a"), {K: kResult, ID: "a", R: r(expected(3))}},
			tasks: map[string]TaskState{"a": ok(3)},
		},
		{name: "Lost", lost: 1, recs: []Record{intent("a", 3, false), sub("a")}, tasks: map[string]TaskState{}},
		{
			name: "StillPending", lost: 1, recs: []Record{intent("a", 3, false), sub("a")},
			tasks: map[string]TaskState{"a": {Found: true, Status: "pending"}},
		},
		{
			name: "FailedNotDeadLettered", lost: 1, recs: []Record{intent("a", 3, false), sub("a")},
			tasks: map[string]TaskState{"a": {Found: true, Status: "failed"}},
		},
		{
			name: "DeadLettered", recs: []Record{intent("a", 3, true), sub("a"), {K: kResult, ID: "a", Err: "*errors.errorString"}},
			tasks: map[string]TaskState{"a": {Found: true, Status: "failed", Dead: true}},
		},
		{name: "IntentOnlyAbsent", recs: []Record{intent("a", 3, false)}, tasks: map[string]TaskState{}},
		{
			name: "IntentOnlyUnfinished", lost: 1, recs: []Record{intent("a", 3, false)},
			tasks: map[string]TaskState{"a": {Found: true, Status: "running"}},
		},
		{
			name: "WrongStoredResult", wrong: 1, recs: []Record{intent("a", 3, false), sub("a")},
			tasks: map[string]TaskState{"a": {Found: true, Status: "succeeded", HasResult: true, Result: 1}},
		},
		{
			name: "PoisonSucceeded", wrong: 1, recs: []Record{intent("a", 3, true), sub("a")},
			tasks: map[string]TaskState{"a": ok(3)},
		},
		{
			name: "WrongReceivedResult", wrong: 1, recs: []Record{intent("a", 3, false), sub("a"), {K: kResult, ID: "a", R: r(5)}},
			tasks: map[string]TaskState{"a": ok(3)},
		},
		{name: "TwoDifferentOutcomes", conflicted: 2, recs: []Record{
			intent("a", 3, false), sub("a"), {K: kResult, ID: "a", R: r(expected(3))}, {K: kResult, ID: "a", Err: "lost"},
		}, tasks: map[string]TaskState{"a": ok(3)}},
		{name: "DuplicateRunsAreInfo", recs: []Record{
			intent("a", 3, false), sub("a"),
			{K: kHandled, ID: "a", OK: true, R: r(expected(3))},
			{K: kHandled, ID: "a", OK: true, R: r(expected(3))},
		}, tasks: map[string]TaskState{"a": ok(3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(CheckInput{Records: tt.recs, Tasks: tt.tasks})
			if res.TasksLost != tt.lost || res.WrongResults != tt.wrong || res.ConflictResults != tt.conflicted {
				t.Fatalf("lost %d, wrong %d, conflicting %d; want %d, %d, %d\n%v",
					res.TasksLost, res.WrongResults, res.ConflictResults, tt.lost, tt.wrong, tt.conflicted, res.Violations)
			}
			if want := tt.lost + tt.wrong + tt.conflicted; len(res.Violations) != want {
				t.Fatalf("%d violation texts, want %d: %v", len(res.Violations), want, res.Violations)
			}
		})
	}
	res := Check(CheckInput{Records: []Record{
		intent("a", 3, false), sub("a"),
		{K: kHandled, ID: "a", OK: true},
		{K: kHandled, ID: "a", OK: true},
	}, Tasks: map[string]TaskState{"a": ok(3)}})
	if res.DuplicateRuns != 1 {
		t.Fatalf("duplicate runs %d, want 1", res.DuplicateRuns)
	}
}

func TestLedgerSurvivesTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.jsonl")
	l, err := openLedger(path, "w1")
	if err != nil {
		t.Fatal(err)
	}
	l.put(Record{K: kAcq, M: "m1", F: 1})
	l.put(Record{K: kFree, M: "m1", F: 1})
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"k":"acq","w":"w1","m":"m2"`) // a write cut short
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	recs, torn, err := readLedgerFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || torn != 1 || recs[0].W != "w1" || recs[1].K != kFree || recs[0].T == 0 {
		t.Fatalf("records %+v, torn %d", recs, torn)
	}
}

func TestAOFCutOffset(t *testing.T) {
	cmd := func(args ...string) string {
		s := fmt.Sprintf("*%d\r\n", len(args))
		for _, a := range args {
			s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
		}
		return s
	}
	set1 := cmd("SET", "a", "1")
	tx := cmd("MULTI") + cmd("INCR", "f") + "#TS:102\r\n" + cmd("HSET", "h", "k", "v") + cmd("EXEC")
	data := "#TS:100\r\n" + set1 + "#TS:101\r\n" + cmd("SET", "b", "2") + tx + cmd("DEL", "a")
	for _, tt := range []struct {
		name    string
		data    string
		from    int64
		at      int
		dropped int
	}{
		{"NothingThatLate", data, 103, len(data), 0},
		{"FromSecond101", data, 101, len("#TS:100\r\n" + set1 + "#TS:101\r\n"), 3},
		// The annotation inside the transaction dates the whole block.
		{"TransactionStaysWhole", data, 102, len(data) - len(tx) - len(cmd("DEL", "a")), 2},
		{"Everything", data, 0, len("#TS:100\r\n"), 4},
		// Redis drops an open transaction or a torn command at load
		// anyway; a cut before them counts them.
		{"OpenTransaction", "#TS:100\r\n" + set1 + cmd("MULTI") + cmd("INCR", "f"), 100, len("#TS:100\r\n"), 2},
		{"TornCommand", "#TS:100\r\n" + set1 + "*3\r\n$3\r\nSE", 100, len("#TS:100\r\n"), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at, dropped, err := aofCutOffset([]byte(tt.data), tt.from)
			if err != nil || at != tt.at || dropped != tt.dropped {
				t.Fatalf("aofCutOffset = %d, %d, %v; want %d, %d", at, dropped, err, tt.at, tt.dropped)
			}
		})
	}
	if _, _, err := aofCutOffset([]byte("garbage"), 0); err == nil {
		t.Fatal("garbage accepted")
	}
}
