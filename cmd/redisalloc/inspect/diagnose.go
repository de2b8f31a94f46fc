package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Finding codes.
const (
	CodeIntegrityCorrupt = "integrity-corrupt"
	CodeUnreadable       = "unreadable"
	CodeLapsedLeases     = "lapsed-leases"
	CodeDeadSessions     = "dead-sessions"
	CodeDeadWorkers      = "dead-workers"
	CodeDeadLetters      = "dead-letters"
	CodeQueueNoWorkers   = "queue-no-workers"
	CodeLowFreeCapacity  = "low-free-capacity"
	CodeWaitingMallocs   = "waiting-mallocs"
	CodeHighMemory       = "high-memory"
	CodeEvictionPolicy   = "eviction-policy"
	CodeExpiredMembers   = "expired-members"
	CodeStaleBindings    = "stale-bindings"
	CodePermanentLeases  = "permanent-leases"
	CodePermanentLocks   = "permanent-locks"
	CodeSlowlogHints     = "slowlog-hints"
	CodeScanTruncated    = "scan-truncated"
	CodeHighEvalPressure = "high-eval-pressure"
	CodePoolSummary      = "pool-summary"
	CodeEmptyPrefix      = "empty-prefix"
)

// Thresholds of the findings.
const (
	// LowFreeRatio: a pool with less than this share of members free gets
	// low-free-capacity (the reference's 10%).
	LowFreeRatio = 0.1
	// MemoryWarnRatio and MemoryCriticalRatio of maxmemory give high-memory.
	MemoryWarnRatio     = 0.8
	MemoryCriticalRatio = 0.95
	// LapseGrace is how long a lease may be past its deadline, or a
	// session past its heartbeat deadline, before it is a warning: younger
	// lapses are normal churn that the next malloc or GC reclaims, and
	// counting them made a healthy pool flap between healthy and degraded.
	LapseGrace = 5 * time.Second
	// ScriptBusyInfoRatio and ScriptBusyWarnRatio of a node's time spent
	// in scripts (ScriptLoad.BusyRatio) give high-eval-pressure. A script
	// holds the node's one command thread, so every other command waits:
	// from a quarter of the time on, queueing adds visible latency to all
	// clients; from three quarters on, the node is near saturation.
	ScriptBusyInfoRatio = 0.25
	ScriptBusyWarnRatio = 0.75
	// maxShownViolations caps the violations quoted in one finding.
	maxShownViolations = 3
)

// Diagnose computes r.Findings (keeping findings already there, such as
// unreadable parts) and r.Health from the rest of the report. Findings are
// ordered by severity (critical first), then code and subject. It is pure:
// the dashboard and tests call it on reports they built or changed.
func Diagnose(r *Report) {
	var f []Finding
	for _, x := range r.Findings {
		if x.Code == CodeUnreadable {
			f = append(f, x)
		}
	}
	add := func(sev, code, subject, repair, format string, args ...any) {
		f = append(f, Finding{Severity: sev, Code: code, Subject: subject, Message: fmt.Sprintf(format, args...), Repair: repair})
	}
	gc := func(name string) string {
		return "redisalloc pool gc --prefix " + shellQuote(r.Prefix) + " --pool " + shellQuote(name)
	}
	for _, p := range r.Pools {
		s := "pool:" + p.Name
		if n := len(p.Violations); n > 0 {
			shown := p.Violations[:min(n, maxShownViolations)]
			add(SeverityCritical, CodeIntegrityCorrupt, s, "",
				"%d invariant violation(s): %s; stop the writers and save `redisalloc inspect pool --json` output before any repair",
				n, strings.Join(shown, "; "))
		}
		if p.Summary {
			add(SeverityInfo, CodePoolSummary, s, "",
				"%d members, more than the whole-read limit: read as a summary, so invariants, permanent leases and stale bindings were not checked (--full-read-limit -1 reads it whole, holding Redis about 1 ms per 1,000 members)", p.Total)
		}
		if p.LapsedLeases > 0 {
			if lapsed := msDur(p.LapsedMillis); lapsed > LapseGrace {
				add(SeverityWarning, CodeLapsedLeases, s, gc(p.Name),
					"%d lease(s) passed their deadline (the oldest %s ago) and still hold their members; the next malloc or GC reclaims them (is anything mallocing or running a pool.Maintainer?)",
					p.LapsedLeases, lapsed.Round(time.Millisecond))
			} else {
				add(SeverityInfo, CodeLapsedLeases, s, "",
					"%d lease(s) passed their deadline less than %s ago: normal churn, the next malloc or GC reclaims them", p.LapsedLeases, LapseGrace)
			}
		}
		if p.DeadSessions > 0 {
			if dead := msDur(p.DeadSessionMillis); dead > LapseGrace {
				add(SeverityWarning, CodeDeadSessions, s, gc(p.Name),
					"%d worker session(s) with leases here stopped heart-beating (the longest %s ago); GC reclaims their leases",
					p.DeadSessions, dead.Round(time.Millisecond))
			} else {
				add(SeverityInfo, CodeDeadSessions, s, "",
					"%d worker session(s) with leases here passed their deadline less than %s ago: a late heartbeat or an exit GC is about to handle", p.DeadSessions, LapseGrace)
			}
		}
		if p.Total > 0 && float64(p.Free) < LowFreeRatio*float64(p.Total) {
			add(SeverityWarning, CodeLowFreeCapacity, s, "",
				"%d of %d members free (below %.0f%%); add members or find holders that do not free", p.Free, p.Total, 100*LowFreeRatio)
		}
		if p.Waiters > 0 {
			add(SeverityWarning, CodeWaitingMallocs, s, "",
				"%d malloc(s) waiting for a free member", p.Waiters)
		}
		if p.ExpiredMembers > 0 {
			add(SeverityInfo, CodeExpiredMembers, s, gc(p.Name),
				"%d member(s) past their expiry not yet removed", p.ExpiredMembers)
		}
		if p.StaleBindings > 0 {
			add(SeverityInfo, CodeStaleBindings, s, gc(p.Name),
				"%d soft binding(s) point to members gone or expired; the next malloc with that name rebinds", p.StaleBindings)
		}
		if p.PermanentLeases > 0 {
			add(SeverityInfo, CodePermanentLeases, s, "",
				"%d lease(s) without deadline: a crashed holder keeps its member until `redisalloc pool free`", p.PermanentLeases)
		}
	}
	for _, q := range r.Queues {
		s := "queue:" + q.Name
		if q.Dead > 0 {
			add(SeverityWarning, CodeDeadLetters, s,
				"redisalloc queue requeue --prefix "+shellQuote(r.Prefix)+" --queue "+shellQuote(q.Name)+" --all",
				"%d task(s) failed for good%s", q.Dead, lastFailure(q))
		}
		if q.Ready > 0 && q.Workers == 0 {
			add(SeverityWarning, CodeQueueNoWorkers, s, "",
				"%d task(s) ready but no live worker listens for %q", q.Ready, q.Name)
		}
	}
	var permLocks []string
	for _, l := range r.Locks {
		if l.Held && l.TTLMillis == -1 {
			permLocks = append(permLocks, l.Name)
		}
	}
	if len(permLocks) > 0 {
		add(SeverityInfo, CodePermanentLocks, "locks", "",
			"%d lock(s) without expiry (%s): a crashed holder keeps them forever", len(permLocks), strings.Join(permLocks[:min(len(permLocks), 5)], ", "))
	}
	for _, lp := range r.LockPools {
		if lp.PermanentLocks > 0 {
			add(SeverityInfo, CodePermanentLocks, "lockpool:"+lp.Name, "",
				"%d member lock(s) without expiry", lp.PermanentLocks)
		}
	}
	dead := map[string][]string{}
	for _, w := range r.Workers {
		if !w.Alive {
			dead[w.Group] = append(dead[w.Group], w.ID)
		}
	}
	for _, g := range sortedKeys(dead) {
		ids := dead[g]
		add(SeverityWarning, CodeDeadWorkers, "health:"+g,
			"redisalloc workers reap --prefix "+shellQuote(r.Prefix)+" --group "+shellQuote(g),
			"%d worker(s) stopped heart-beating: %s; reaping removes them (as a registry reaper, health.Registry.RunReaper, would) and pools reclaim their leases",
			len(ids), strings.Join(ids[:min(len(ids), 5)], ", "))
	}
	if r.Redis != nil {
		for _, n := range r.Redis.Nodes {
			diagnoseNode(n, add)
		}
	}
	if r.Scan != nil && r.Scan.Scanned == 0 && len(r.Pools)+len(r.Queues)+len(r.Locks)+len(r.LockPools)+len(r.Workers) == 0 {
		// A mistyped prefix reads as an empty, healthy system otherwise.
		add(SeverityWarning, CodeEmptyPrefix, "prefix", "",
			"nothing found under prefix %q: no pool, queue, lock or worker; is it the prefix the application opens them with?", r.Prefix)
	}
	if r.Scan != nil && r.Scan.Truncated {
		add(SeverityInfo, CodeScanTruncated, "scan", "",
			"discovery stopped after %d keys per node; some pools, queues or locks may be missing: raise --scan-limit", r.Scan.Limit)
	}
	rank := map[string]int{SeverityCritical: 0, SeverityWarning: 1, SeverityInfo: 2}
	slices.SortStableFunc(f, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(rank[a.Severity], rank[b.Severity]), strings.Compare(a.Code, b.Code), strings.Compare(a.Subject, b.Subject))
	})
	if f == nil {
		f = []Finding{}
	}
	r.Findings = f
	// Info findings are advisory and leave the health healthy: a slow-log
	// entry or a permanent lease is not a problem by itself.
	r.Health = HealthHealthy
	for _, x := range f {
		if x.Code == CodeIntegrityCorrupt {
			r.Health = HealthCorrupt
			break
		}
		if x.Severity != SeverityInfo {
			r.Health = HealthDegraded
		}
	}
}

func msDur(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// perSec formats a rate, with a decimal when it is small.
func perSec(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// secs formats seconds as a duration rounded for people.
func secs(s float64) time.Duration {
	d := time.Duration(s * float64(time.Second))
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

func diagnoseNode(n Node, add func(sev, code, subject, repair, format string, args ...any)) {
	s := "redis:" + n.Addr
	if n.MaxMemory > 0 {
		ratio := float64(n.UsedMemory) / float64(n.MaxMemory)
		switch {
		case ratio >= MemoryCriticalRatio:
			add(SeverityCritical, CodeHighMemory, s, "", "used memory %s is %.0f%% of maxmemory %s", Bytes(n.UsedMemory), 100*ratio, Bytes(n.MaxMemory))
		case ratio >= MemoryWarnRatio:
			add(SeverityWarning, CodeHighMemory, s, "", "used memory %s is %.0f%% of maxmemory %s", Bytes(n.UsedMemory), 100*ratio, Bytes(n.MaxMemory))
		}
		if p := n.MaxMemoryPolicy; p != "" && p != "noeviction" {
			add(SeverityWarning, CodeEvictionPolicy, s, "",
				"maxmemory-policy %s may evict allocator keys, which breaks pools and queues silently; use noeviction", p)
		}
	}
	if l := n.ScriptLoad; l != nil && l.BusyRatio >= ScriptBusyInfoRatio {
		sev := SeverityInfo
		if l.BusyRatio >= ScriptBusyWarnRatio {
			sev = SeverityWarning
		}
		add(sev, CodeHighEvalPressure, s, "",
			"scripts ran %.0f%% of the last %s (%s calls/s); this counts every client of the node, and while a script runs no other command does: "+
				"spread pools over cluster nodes (each pool's hash tag puts it in one slot), snapshot less often (inspect, diagnose, dashboard), split large pools",
			100*l.BusyRatio, secs(l.Seconds), perSec(l.CallsPerSecond))
	}
	if len(n.SlowLog) > 0 {
		slowest := n.SlowLog[0]
		ours := map[string]int{}
		for _, e := range n.SlowLog {
			if e.DurationMicros > slowest.DurationMicros {
				slowest = e
			}
			if e.Script != "" {
				ours[e.Script]++
			}
		}
		what := strings.Join(slowest.Command[:min(len(slowest.Command), 3)], " ")
		if slowest.Script != "" {
			what = "script " + slowest.Script
		}
		hint := ""
		if len(ours) > 0 {
			var parts []string
			for _, name := range sortedKeys(ours) {
				parts = append(parts, fmt.Sprintf("%s ×%d", name, ours[name]))
			}
			hint = "; scripts of this module among them: " + strings.Join(parts, ", ") +
				" (their cost grows with pool or queue size: split large pools, snapshot less often)"
		}
		add(SeverityInfo, CodeSlowlogHints, s, "",
			"%d slow-log entries, slowest %dµs: %s%s", len(n.SlowLog), slowest.DurationMicros, what, hint)
	}
}

func lastFailure(q Queue) string {
	if len(q.RecentFailures) == 0 {
		return ""
	}
	l := q.RecentFailures[0]
	msg := l.ErrorMessage
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return fmt.Sprintf("; latest %s (%s): %s", l.ID, l.ErrorKind, msg)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Bytes formats a byte count for people (1.5GiB); the CLI prints node
// memory with it too.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters, so Repair commands can be pasted.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && !strings.ContainsRune("-_./:@%+=,", r) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
