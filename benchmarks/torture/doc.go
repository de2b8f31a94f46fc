// Command torture is the crash-and-fault torture run of redisallocator: the
// library's reliability proof. It starts its own redis-server (AOF on,
// appendfsync per -appendfsync, a temporary directory, a free port), puts an
// in-process toxiproxy in front of it, and runs worker processes (this
// binary re-executed with a hidden -worker flag) that hammer one pool and
// one task queue through the proxy, while the controller
//
//   - SIGKILLs a random worker every -kill-every (mean) and starts a
//     replacement;
//   - restarts Redis every -restart-every (mean): a fraction -crash-restarts
//     (default 0.5) by SIGKILL of redis-server (a crash: no shutdown path
//     runs), the others gracefully with SIGTERM (redis-server flushes and
//     fsyncs the AOF); then a new server on the same port and directory;
//   - injects network faults one at a time: latency with jitter both ways,
//     toxiproxy's timeout (data dropped, connections closed), reset_peer,
//     slicer (tiny delayed TCP segments) and a disabled proxy;
//   - reads pool.Inspector.Snapshot every 150 ms on its own direct connection
//     and runs GC every 250 ms.
//
// Usage:
//
//	cd benchmarks && go run ./torture -duration 60s [-workers 4] [-crash-restarts 0.5] [-appendfsync always|everysec] [-json out.json] [-v]
//	cd benchmarks && go run ./torture -duration 20s -aof-cut 1s -crash-restarts 1 -restart-every 5s
//	cd benchmarks && go run ./torture -duration 20s -failover -restart-every 6s
//
// It prints a summary (operations by kind, kills, restarts by kind and the
// appendfsync policy, faults,
// violations, lost tasks, reclaim latency percentiles) and exits 1 when any
// check failed (the run directory is then kept for inspection).
//
// # What the workers do
//
// Each worker has -holders goroutines doing random pool operations: Malloc
// plain, with a soft binding, with Wait, or InSession of a health session
// (2 s timeout, replaced when lost), each with a lease TTL in [1.5 s, 4 s);
// while holding, guarded writes (below), Refresh and ReportUnhealthy; then
// Release, or dropping the lease to let it lapse. Between holdings: GC,
// Quarantine (on and off), Stats, and AddKeys, Remove and AssignKeys of the
// "churn" members (the -members "core" ones always stay). One goroutine
// submits tasks with deterministic ids and waits for them; Run runs
// handlers whose result is a pure function of the payload; 1 task in 25 is
// poison (always fails, so it must end in the dead-letter set) and 15% of
// other attempts fail transiently.
//
// # The ledger
//
// Every worker appends JSON lines to its own ledger file, opened with
// O_APPEND, one unbuffered write(2) per record: what was written survives
// a SIGKILL, since the kernel already has it. Times are wall-clock
// nanoseconds of the one machine everything runs on (Redis's TIME too).
// Records: acquisitions (member, fence, session, TTL, time sent, time of
// the reply), refreshes (time sent, reply, ok or lost), free intents
// (written before the free is sent) and results, the session's pool
// heartbeats (time sent, reply, ok: a wrapper around health.Session's Track
// times them), guarded writes, ops that may remove members (time sent,
// reply), task intents (before Submit), submissions (after Submit
// returned), outcomes received, handler runs, and every op's outcome for
// the counts. The controller tails the ledgers while the run goes on.
//
// # Exclusivity
//
// For each acquisition the checker computes the guaranteed validity
// [reply, end): the latest moment the server is bound to still keep the
// lease, from times the worker took before sending:
//
//   - lease TTL: sent + TTL (the server's deadline is its own clock at the
//     script, which is later); a successful refresh moves it to its send
//     time + TTL, but only if its reply came before the current end (a
//     refresh answered later might have run after the lease lapsed);
//   - session: the same chain over the session's sign-of-life events (the
//     acquiring malloc, successful pool heartbeats, other InSession mallocs
//     of the session), each counting only if answered before the current
//     end, with the session timeout;
//   - the release intent's send time; and the send time of any Remove or
//     AssignKeys that may have removed the member after the acquisition was
//     sent (one without a reply counts as running up to op timeout + the
//     proxy's largest delay + 0.5 s after it was sent, except when the dial
//     was refused: rueidis then sent nothing; such cuts leave some
//     churn-member holdings with nothing to check, which the summary counts).
//
// Every bound is earlier than the truth, so a check can only be too lax,
// never raise a false alarm. Then, per member in fence order, no
// acquisition may be answered before the guaranteed end of any earlier
// one: the server handed the member out while it was bound to keep it
// (overlap). Fences must be unique, and a higher fence must not be answered
// before a lower one was even sent (fence order).
//
// Fence regressions: an acquisition sent after fence f was answered (to
// anyone) must get a fence above f, whatever Redis lost meanwhile.
//
// The live check: while holding, a worker writes its fence to the fenced
// resource, a file per member outside Redis (so it keeps what it saw when
// Redis loses writes, as a database or a storage service would), under an
// exclusive flock: it accepts a fence >= the stored one and records the
// fence and the holding (worker and a sequence number) that wrote it. A
// refused write whose reply came while the writer's lease was guaranteed
// means a higher fence was in use at the same time: a violation. Refusals
// after the guarantee are counted as stale writes fenced off, fencing at
// work. An accepted write from a holding whose fence is lower than the
// stored one, or equal to one another holding wrote (the resource sees
// only numbers), is a superseded write accepted: a violation.
//
// # Reclaim
//
// At each kill the controller reads the victim's ledger: the fences it
// acquired and did not free, and its sessions. The reclaim latency is the
// time from the SIGKILL to the first snapshot with no lease of those fences
// or sessions (which also catches leases whose malloc reply the worker never
// read). It must stay below max(lease TTL, session timeout) + the proxy's
// largest delay + GC and snapshot periods + 2.5 s (a loaded machine), plus any Redis downtime
// in between.
//
// # Tasks
//
// Task ids are deterministic (worker id and a sequence number), so a Submit
// that failed with a network error is retried with the same id (it joins
// or replaces the task). After the run the controller drains: workers stop
// submitting and taking leases, handlers and waits go on, until every
// submitted task is finished (-drain bounds it). Then every submitted id
// must be succeeded with the expected result or failed and in the
// dead-letter set; an id with only an intent may be absent, or else must be
// finished too; every outcome a submitter received must equal the record,
// and two different outcomes for one id are a violation. Handlers may run
// more than once (at-least-once): duplicates are reported, not failed.
// Retention outlives the run.
//
// # Redis restarts
//
// Each restart disables the proxy (workers are cut off; the controller's GC
// pauses), waits 300 ms for requests inside Redis, reads the pool snapshot
// (fence counter, every member's state, lease, priority and quarantine,
// bindings, sessions, waiters), the queue's counts and the record of every
// task id seen so far, restarts Redis, reads them again and requires them
// identical; then enables the proxy. At every start of redis-server, CONFIG
// GET must read back appendonly yes, the run's appendfsync and the two
// defaults named below.
//
// Restart n (from 1) is a crash when floor(n*F + 1 - F) > floor((n-1)*F +
// 1 - F) for F = -crash-restarts: the first restart crashes when F > 0, and
// any k consecutive restarts hold floor or ceil of k*F crashes, so a short
// run with two restarts at F = 0.5 has one of each kind.
//
// A crash is compared like a graceful restart only with appendfsync always
// (the default when F > 0). What that relies on, in Redis 7's source:
// commands only append to the in-memory AOF buffer; replies are only queued
// while a command runs; beforeSleep calls flushAppendOnlyFile, which under
// always does write(2) and then fdatasync (and exits the server if the
// fsync fails), before handleClientsWithPendingWrites sends the replies
// ("must be done before handleClientsWithPendingWrites, in case of
// appendfsync=always", server.c; clients unblocked by a write are handled
// before the flush too). So every write whose reply left Redis is in the
// file, and since each event-loop turn ends in beforeSleep, so is every
// write executed before the 300 ms quiet period. Also relied on: the
// defaults no-appendfsync-on-rewrite no (with yes, fsyncs are skipped while
// a rewrite child runs) and aof-load-truncated yes (a torn last command is
// dropped at load, never one that was answered).
//
// With everysec, flushAppendOnlyFile may postpone the write itself for up
// to 2 s while a background fsync is slow, and replies go out anyway: a
// SIGKILL can lose acknowledged writes, as Redis's contract allows ("you
// may lose 1 second of data"). Then crash restarts are not compared (their
// differences are counted as info and the summary says the check was
// skipped); the ledger and snapshot checks still run as always and may
// flag what such a crash lost.
//
// A SIGKILL ends the process, not the machine: the kernel keeps what Redis
// had written, so the run proves that every acknowledged write was written
// to the AOF and that a server killed outside its shutdown path loads it
// to the same state. That the fdatasync reached the disk would take a
// power cut, which the run cannot do.
//
// # Lost writes: -aof-cut and -failover
//
// Two variants make Redis lose acknowledged writes on purpose, to prove
// that fences never go back (issue 13): -aof-cut D runs redis-server with
// aof-timestamp-enabled and, at every crash restart (use -crash-restarts 1),
// truncates the newest incremental AOF file before the first command (or
// MULTI…EXEC block: a script's effects) dated at or after D before the
// workers were cut off, at the annotations' one-second granularity: the
// unsynced tail a machine crash loses under appendfsync everysec. -failover
// runs a replica (--replicaof) that follows the master through a proxy
// whose latency toxic delays the replication stream by -replica-lag (1 s);
// each restart SIGKILLs the master at once, promotes the replica with
// REPLICAOF NO ONE, moves the workers' and the controller's proxies to it
// and starts a new replica (waiting for its first sync before the next
// failover, so a promoted replica lags rather than starts empty).
//
// Leases, frees and task records can then vanish by Redis's contract:
// overlaps, writes refused while valid, lost tasks and conflicting
// outcomes are counted as notes, the stored counter reading lower after a
// loss is counted, and the drain does not wait for tasks whose record is
// gone. Fence regressions, duplicate fences, fence order, superseded writes
// accepted, wrong results and snapshot invariants stay violations, and a
// run that lost nothing fails.
//
// # Other checks
//
// Every snapshot's Violations must be empty and the fencing counter must
// never go back (except across a lossy restart); no worker may exit on its own; after the drain, with every
// worker stopped and every lease lapsed, nothing may be held (leaks).
package main
