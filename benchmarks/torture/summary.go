package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// OpCount counts one kind of operation.
type OpCount struct {
	OK     int            `json:"ok"`
	Err    int            `json:"err"`
	Errors map[string]int `json:"errors,omitempty"` // by class
}

// ReclaimStats describes how long the pool took to take back what killed
// workers held, from the SIGKILL to the first snapshot without their
// leases.
type ReclaimStats struct {
	Count   int     `json:"count"`
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
	BoundMS float64 `json:"bound_ms"` // without Redis downtime, which is added per case
	TooSlow int     `json:"too_slow"`
}

// RestartCheck says what was compared around Redis restarts.
type RestartCheck struct {
	Checked    int `json:"restarts_compared"` // graceful ones, and crashes with appendfsync always
	Members    int `json:"members_compared"`
	Tasks      int `json:"task_records_compared"`
	Mismatches int `json:"mismatches"`
	// Crash restarts under appendfsync everysec are not compared: Redis
	// may lose acknowledged writes then. Their differences are info only.
	CrashUnchecked int `json:"crash_restarts_not_compared"`
	UncheckedDiffs int `json:"not_compared_differences"`
}

// LostWrites describes a lossy run (-aof-cut, -failover): what Redis lost
// on purpose and what that caused. The causes are information: Redis's
// contract allows them once it lost acknowledged writes. Fence
// regressions and superseded writes accepted stay violations (the
// ledger's fence_regressions and superseded_writes_accepted).
type LostWrites struct {
	Restarts          int   `json:"lossy_restarts"`            // crash restarts with an AOF cut, or failovers
	AOFBytes          int64 `json:"aof_bytes_cut"`             // -aof-cut: bytes cut from the AOF's tail
	AOFCommands       int   `json:"aof_commands_cut"`          // -aof-cut: commands or MULTI…EXEC blocks cut
	ReplicationBytes  int64 `json:"replication_bytes_behind"`  // -failover: how far the promoted replicas lagged, in replication-stream bytes
	CounterBack       int   `json:"fence_counter_back"`        // snapshots whose stored counter read lower after a loss
	Overlaps          int   `json:"overlaps"`                  // holders whose lease the loss erased
	RefusedWhileValid int   `json:"guard_refused_while_valid"` // such holders turned away by the resource: fencing at work
	LostTasks         int   `json:"lost_tasks"`
	Conflicting       int   `json:"conflicting_outcomes"`
}

// Summary is the outcome of a run.
type Summary struct {
	Duration       string             `json:"duration"`
	Seed           uint64             `json:"seed"`
	Workers        int                `json:"workers"`
	Members        int                `json:"members"`
	RedisVersion   string             `json:"redis_version"`
	RestartKind    string             `json:"restart_kind"`
	AppendFsync    string             `json:"appendfsync"`
	CrashFraction  float64            `json:"crash_restart_fraction"`
	LeaseTTL       string             `json:"lease_ttl_max"`
	SessionTimeout string             `json:"session_timeout"`
	Ops            map[string]OpCount `json:"ops"`
	OpsTotal       int                `json:"ops_total"`
	Kills          int                `json:"kills"`
	Replacements   int                `json:"replacements"`
	Restarts       int                `json:"restarts"`
	RestartsGrace  int                `json:"restarts_graceful"`
	RestartsCrash  int                `json:"restarts_crash"`
	Faults         map[string]int     `json:"faults"`
	FaultsTotal    int                `json:"faults_total"`
	Snapshots      int                `json:"snapshots"`
	SnapshotErrors int                `json:"snapshot_errors"` // reads that failed (Redis restarting)
	SnapshotViol   int                `json:"snapshot_violations"`
	Reclaim        ReclaimStats       `json:"reclaim"`
	Restart        RestartCheck       `json:"restart_check"`
	Failovers      int                `json:"failovers"`
	AOFCut         string             `json:"aof_cut,omitempty"`
	Lost           LostWrites         `json:"lost_writes"`
	Ledger         CheckResult        `json:"ledger"`
	LedgerRecords  int                `json:"ledger_records"`
	TornLines      int                `json:"torn_lines"`
	LeakedLeases   int                `json:"leaked_leases"`
	WorkerCrashes  int                `json:"worker_crashes"`
	DrainSeconds   float64            `json:"drain_seconds"`
	Violations     int                `json:"violations"`
	LostTasks      int                `json:"lost_tasks"`
	Failures       []string           `json:"failures,omitempty"`
	Pass           bool               `json:"pass"`
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func reclaimStats(lat []time.Duration, bound time.Duration, tooSlow int) ReclaimStats {
	s := slices.Clone(lat)
	slices.Sort(s)
	r := ReclaimStats{Count: len(s), BoundMS: ms(bound), TooSlow: tooSlow}
	if len(s) > 0 {
		r.P50MS, r.P90MS, r.P99MS, r.MaxMS = percentile(s, 0.5), percentile(s, 0.9), percentile(s, 0.99), ms(s[len(s)-1])
	}
	return r
}

func (s *Summary) print(w io.Writer) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format+"\n", args...) }
	verdict := "PASS"
	if !s.Pass {
		verdict = "FAIL"
	}
	p("torture run: %s  (%s, seed %d, %d workers, %d members, redis %s)", verdict, s.Duration, s.Seed, s.Workers, s.Members, s.RedisVersion)
	p("operations: %d", s.OpsTotal)
	for _, k := range sortedKeys(s.Ops) {
		c := s.Ops[k]
		var errs []string
		for _, e := range sortedKeys(c.Errors) {
			errs = append(errs, fmt.Sprintf("%s %d", e, c.Errors[e]))
		}
		p("  %-18s ok %7d  err %6d  %s", k, c.OK, c.Err, strings.Join(errs, ", "))
	}
	p("kills: %d (replacements started: %d)", s.Kills, s.Replacements)
	p("redis restarts: %d (graceful %d, crash %d; %s), appendfsync %s", s.Restarts, s.RestartsGrace, s.RestartsCrash, s.RestartKind, s.AppendFsync)
	var fs []string
	for _, k := range sortedKeys(s.Faults) {
		fs = append(fs, fmt.Sprintf("%s %d", k, s.Faults[k]))
	}
	p("faults: %d (%s)", s.FaultsTotal, strings.Join(fs, ", "))
	p("snapshots: %d (failed reads while Redis restarted: %d), invariant violations: %d", s.Snapshots, s.SnapshotErrors, s.SnapshotViol)
	r := s.Reclaim
	p("reclaim after SIGKILL: %d cases, p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (bound %.0f ms + Redis downtime), too slow: %d",
		r.Count, r.P50MS, r.P90MS, r.P99MS, r.MaxMS, r.BoundMS, r.TooSlow)
	l := s.Ledger
	p("exclusivity: %d holdings (%d with no guaranteed time left), max fence %d, overlaps %d, duplicate fences %d, fence order %d",
		l.Holdings, l.EmptyHoldings, l.MaxFence, l.Overlaps, l.DuplicateFences, l.FenceOrder)
	p("guarded writes: %d (accepted %d, stale fenced off %d), refused while valid: %d", l.GuardWrites, l.GuardAccepted, l.GuardFencedOff, l.GuardViolations)
	p("fences: regressions %d, superseded writes accepted by the resource %d", l.FenceRegressions, l.SupersededAccepted)
	if s.Lost.Restarts > 0 || s.AOFCut != "" || s.Failovers > 0 {
		lw := s.Lost
		p("lost writes (on purpose): %d lossy restarts (AOF cut %s: %d bytes, %d commands; failovers %d: replicas %d bytes behind)",
			lw.Restarts, s.AOFCut, lw.AOFBytes, lw.AOFCommands, s.Failovers, lw.ReplicationBytes)
		p("       caused (info): counter read lower %d, overlaps %d, refused while valid %d, lost tasks %d, conflicting outcomes %d",
			lw.CounterBack, lw.Overlaps, lw.RefusedWhileValid, lw.LostTasks, lw.Conflicting)
	}
	p("tasks: %d intents, %d submitted, %d succeeded, %d dead-lettered, %d never queued, lost %d, wrong results %d, conflicting outcomes %d",
		l.TaskIntents, l.TasksSubmitted, l.TasksSucceeded, l.TasksDead, l.TasksAbsent, l.TasksLost, l.WrongResults, l.ConflictResults)
	p("       %d outcomes received by submitters, %d handler runs, %d tasks run successfully more than once (at-least-once, info)",
		l.ResultsReceived, l.HandlerRuns, l.DuplicateRuns)
	p("restart check: %d restarts compared, %d members and %d task records before/after, mismatches %d",
		s.Restart.Checked, s.Restart.Members, s.Restart.Tasks, s.Restart.Mismatches)
	if s.Restart.CrashUnchecked > 0 {
		p("       SKIPPED for %d crash restarts: appendfsync %s may lose acknowledged writes on a crash (%d differences, info)",
			s.Restart.CrashUnchecked, s.AppendFsync, s.Restart.UncheckedDiffs)
	}
	p("leaked leases at the end: %d, worker crashes: %d, ledger records %d (torn lines %d), drain %.1f s",
		s.LeakedLeases, s.WorkerCrashes, s.LedgerRecords, s.TornLines, s.DrainSeconds)
	p("VIOLATIONS: %d   LOST TASKS: %d", s.Violations, s.LostTasks)
	for _, f := range s.Failures {
		p("  - %s", f)
	}
}

func (s *Summary) writeJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
