package inspect

import "time"

// SchemaVersion is the version of the JSON shape of Report. It changes only
// when a field is removed or changes meaning; new fields keep the version.
const SchemaVersion = 1

// Report is one observation of everything under a prefix: the shape that
// `redisalloc inspect --json`, `redisalloc diagnose --json` and the
// dashboard's /api/snapshot share. Every pool and queue part is read by one
// atomic script; the report as a whole is not atomic (it spans keys in many
// slots).
type Report struct {
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"` // set by the dashboard: which broadcast this is; 0 elsewhere
	// Time is the client's clock when collection started.
	Time   time.Time `json:"time"`
	Prefix string    `json:"prefix"`
	// Health is "healthy" (no finding, or info findings only: they are
	// advisory), "degraded" (a warning or critical finding) or "corrupt"
	// (an invariant violation).
	Health    string     `json:"health"`
	Pools     []Pool     `json:"pools"`
	Queues    []Queue    `json:"queues"`
	Locks     []Lock     `json:"locks"`
	LockPools []LockPool `json:"lock_pools"`
	Workers   []Worker   `json:"workers"`
	Redis     *Redis     `json:"redis,omitempty"`
	Findings  []Finding  `json:"findings"`
	// Scan describes the discovery SCAN; nil when the names were given.
	Scan *Scan `json:"scan,omitempty"`
}

// Scan describes the bounded SCAN that found the names.
type Scan struct {
	// Scanned counts the matching keys read, all nodes together.
	Scanned int `json:"scanned"`
	// Limit is the bound per node.
	Limit int `json:"limit"`
	// Truncated reports that some node's scan stopped at the limit: parts
	// may be missing from the report.
	Truncated bool `json:"truncated"`
}

// Health values.
const (
	HealthHealthy  = "healthy"
	HealthDegraded = "degraded"
	HealthCorrupt  = "corrupt"
)

// Severities of findings, most severe first.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Pool is one pool.Pool's snapshot.
type Pool struct {
	Name string `json:"name"`
	// Summary reports a pool larger than Options.FullReadLimit, read by
	// its counters only: Members, Bindings, Sessions and Violations are
	// empty, PermanentLeases and StaleBindings are not counted, and the
	// due-timer counts cover the oldest 1000 due timers (pool.Stats.DueSampled).
	Summary   bool `json:"summary"`
	Free      int  `json:"free"`
	Held      int  `json:"held"`
	Unhealthy int  `json:"unhealthy"`
	Total     int  `json:"total"`
	// Fence is the last fencing number handed out. It is at least the
	// server's clock in microseconds when handed out (fences survive lost
	// Redis writes), so its deltas count nothing: see Allocations.
	Fence int64 `json:"fence"`
	// Allocations is the number of leases granted since the pool was
	// created (pool.Stats.Allocations); it may fall back when Redis loses
	// writes, so rates from it are estimates.
	Allocations  int64 `json:"allocations"`
	Waiters      int   `json:"waiters"`
	LapsedLeases int   `json:"lapsed_leases"`
	// LapsedMillis is how long the oldest lapsed lease is past its
	// deadline by the pool's clock; 0 when none lapsed.
	LapsedMillis   int64     `json:"lapsed_ms"`
	ExpiredMembers int       `json:"expired_members"`
	DueTimers      int       `json:"due_timers"`
	ServerTime     time.Time `json:"server_time"`
	Members        []Member  `json:"members"`
	Bindings       []Binding `json:"bindings"`
	Sessions       []Session `json:"sessions"`
	Violations     []string  `json:"violations"`
	// PermanentLeases counts leases without a deadline (a crashed holder
	// keeps the member until an administrator frees it).
	PermanentLeases int `json:"permanent_leases"`
	// SessionLeases counts leases taken under a worker session.
	SessionLeases int `json:"session_leases"`
	// StaleBindings counts bindings to members gone or expired.
	StaleBindings int `json:"stale_bindings"`
	// DeadSessions counts worker sessions with leases here whose deadline
	// passed by the pool's clock.
	DeadSessions int `json:"dead_sessions"`
	// DeadSessionMillis is how long the longest-dead session is past its
	// deadline; 0 when none is dead.
	DeadSessionMillis int64 `json:"dead_session_ms"`
}

// Member is one pool member.
type Member struct {
	Key            string     `json:"key"`
	State          string     `json:"state"` // free, held, unhealthy
	Priority       int        `json:"priority"`
	Expiry         *time.Time `json:"expiry,omitempty"`
	HasValue       bool       `json:"has_value"`
	Lease          *Lease     `json:"lease,omitempty"`
	UnhealthyUntil *time.Time `json:"unhealthy_until,omitempty"`
}

// Lease is a held member's lease. The holder token is never shown: it is
// the proof of holding.
type Lease struct {
	Fence int64 `json:"fence"`
	// Deadline is nil for a permanent lease; TTLMillis is then -1.
	Deadline  *time.Time `json:"deadline,omitempty"`
	TTLMillis int64      `json:"ttl_ms"`
	Session   string     `json:"session,omitempty"`
	// Expired reports the lease's deadline passed (a lapsed lease that the
	// next malloc or GC reclaims).
	Expired bool `json:"expired"`
	// MemberExpired reports the member's own expiry passed while held: it
	// leaves the pool when the lease ends.
	MemberExpired bool `json:"member_expired"`
}

// Binding is one soft binding (name → member key).
type Binding struct {
	Name   string     `json:"name"`
	Key    string     `json:"key"`
	Expiry *time.Time `json:"expiry,omitempty"`
	Stale  bool       `json:"stale"`
}

// Session is a worker session holding leases in a pool.
type Session struct {
	ID       string    `json:"id"`
	Deadline time.Time `json:"deadline"`
}

// Queue is one task queue's counts and its most recent failures.
type Queue struct {
	Name    string `json:"name"`
	Ready   int    `json:"ready"`
	Delayed int    `json:"delayed"`
	Running int    `json:"running"`
	Dead    int    `json:"dead"`
	Workers int    `json:"workers"`
	Records int    `json:"records"`
	// Counters since the queue's first finished task (task.Stats):
	// tasks succeeded, failed for good, attempts retried and the run time
	// of those attempts in ms. Rates come from the differences of two
	// reports.
	Succeeded      int64     `json:"succeeded"`
	Failed         int64     `json:"failed"`
	Retried        int64     `json:"retried"`
	RunTimeMillis  int64     `json:"run_time_ms"`
	RecentFailures []Failure `json:"recent_failures"`
}

// Failure is a dead-lettered task.
type Failure struct {
	ID           string    `json:"id"`
	Attempt      int       `json:"attempt"`
	ErrorKind    string    `json:"error_kind,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
	Finished     time.Time `json:"finished"`
}

// Lock is one lock.Locker / Mutex lock.
type Lock struct {
	Name string `json:"name"`
	Held bool   `json:"held"`
	// TTLMillis: -1 permanent, -2 not held.
	TTLMillis int64 `json:"ttl_ms"`
	Holds     int   `json:"holds"`
	Fence     int64 `json:"fence"`
}

// LockPool is one lock.Pool.
type LockPool struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
	Locked  int    `json:"locked"`
	// PermanentLocks counts member locks without expiry.
	PermanentLocks int `json:"permanent_locks"`
}

// Worker is a health session (a live or dead worker process).
type Worker struct {
	ID       string            `json:"id"`
	Group    string            `json:"group"`
	Host     string            `json:"host"`
	PID      int               `json:"pid"`
	Started  time.Time         `json:"started"`
	Deadline time.Time         `json:"deadline"`
	Alive    bool              `json:"alive"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Redis is server-wide information, one entry per node for a cluster.
type Redis struct {
	Nodes []Node `json:"nodes"`
}

// Node is one Redis server.
type Node struct {
	Addr             string      `json:"addr"`
	UsedMemory       int64       `json:"used_memory"`
	MaxMemory        int64       `json:"maxmemory"`
	MaxMemoryPolicy  string      `json:"maxmemory_policy,omitempty"`
	ConnectedClients int         `json:"connected_clients"`
	SlowLog          []SlowEntry `json:"slowlog"`
	// ScriptCalls and ScriptMicros are the server's cumulative script
	// calls and the microseconds they ran (INFO commandstats, summed over
	// EVAL, EVALSHA, FCALL and their read-only forms) since its start or
	// its last CONFIG RESETSTAT: every client's scripts, not only this
	// prefix's.
	ScriptCalls  int64 `json:"script_calls"`
	ScriptMicros int64 `json:"script_usec"`
	// ScriptStatsAt is when INFO commandstats was answered, by the
	// client's clock; zero when the server refused it (miniredis, some
	// proxies), and the counters are then unknown rather than zero.
	ScriptStatsAt time.Time `json:"script_stats_at,omitzero"`
	// ScriptLoad is the script load since an earlier reading of the same
	// node (ScriptLoadSince); nil in a single report.
	ScriptLoad *ScriptLoad `json:"script_load,omitempty"`
}

// ScriptLoad is the share of a node's time spent running scripts between
// two readings of its counters.
type ScriptLoad struct {
	// Seconds is the time between the two readings.
	Seconds float64 `json:"seconds"`
	// CallsPerSecond counts script calls, all clients together.
	CallsPerSecond float64 `json:"calls_per_second"`
	// BusyRatio is the script run time over Seconds, from 0 to 1. Redis
	// runs scripts on its one command thread, so no other client's command
	// runs meanwhile.
	BusyRatio float64 `json:"busy_ratio"`
}

// SlowEntry is one SLOWLOG entry.
type SlowEntry struct {
	ID             int64     `json:"id"`
	Time           time.Time `json:"time"`
	DurationMicros int64     `json:"duration_us"`
	Command        []string  `json:"command"`
	// Script names the module's script an EVALSHA entry ran, if it is one.
	Script string `json:"script,omitempty"`
}

// Finding is one diagnose result, ordered by severity then code.
type Finding struct {
	Severity string `json:"severity"` // critical, warning, info
	Code     string `json:"code"`
	Subject  string `json:"subject"` // e.g. "pool:proxies"
	Message  string `json:"message"`
	// Repair names the explicit repair subcommand, if one applies.
	Repair string `json:"repair,omitempty"`
}
