// Package inspect observes everything the module keeps under one key
// prefix, for `redisalloc inspect`, `redisalloc diagnose` and the
// dashboard. It is part of the redisalloc tool, not of the library: it sits
// above the feature packages and reads them only through their public
// APIs (redisallocator.Discover, pool.Inspector, task.Inspector,
// lock.Locker and lock.Pool, health.Registry, script.All), the same ones
// any user can build tooling on. It only reads: no call here writes to
// Redis, and a test compares the keyspace before and after on miniredis, a
// standalone server and a cluster.
//
//   - Collect finds the pools, queues, locks, lock pools and health groups
//     under a prefix (redisallocator.Discover: one bounded SCAN per master
//     node), unless Options.Names gives them, and reads them into a
//     Report: each pool by its atomic snapshot script, each queue's counts
//     and newest dead letters, locks with their fencing counters, lock
//     pools, workers per health group, and INFO and SLOWLOG of every node.
//     The report as a whole is not atomic.
//   - ScriptLoadSince compares two reports' script counters (INFO
//     commandstats) to give each node's share of time spent in scripts.
//   - Diagnose turns a Report into Findings (severity, code, subject,
//     message and, when one applies, the repair command) and a Health.
//
// Report is the shared JSON shape, versioned by SchemaVersion: fields are
// only ever added within a version.
//
// Errors match ErrInvalid (bad prefix or limits, nil client) or ErrRedis
// (connection or ctx failures; ctx's error is joined). A part that Redis
// refuses to read, such as a foreign key of the wrong type inside a pool's
// namespace, does not fail the collection: it becomes an "unreadable"
// finding.
package inspect
