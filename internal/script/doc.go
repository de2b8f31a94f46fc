// Package script (internal) holds every atomic operation of redisallocator as one Lua
// file, embedded into the binary, and the Go values that describe them.
//
// Each state change in the module (take a lock, allocate a member, claim a
// task) is exactly one script run by Redis atomically. A file is named after
// its operation (lua/lock_acquire.lua) and opens with its contract, for
// example:
//
//	-- lock_acquire: take the lock for a new lease if it is free, numbering the lease from the lock's fencing counter.
//	-- KEYS[1] lock key
//	-- KEYS[2] fencing counter of the lock (never expires; one per lock, not per lease)
//	-- ARGV[1] lease token
//	-- ARGV[2] ttl in milliseconds
//	-- Returns {1, fencing token} when acquired, else {0, the holder's remaining ttl in milliseconds (-1: no expiry)}.
//	-- Errors: INVALID, CORRUPT
//
// # The header is the contract
//
// The header is the leading run of "-- " lines, up to the first other line
// or "-- @include". Its lines come in this order, one line each:
//
//   - "-- name: summary", where name is the file name without ".lua";
//   - "-- KEYS[n] description" for n = 1, 2, ...: at least one, since the
//     first key routes the call in a cluster;
//   - "-- ARGV[n] description" for n = 1, 2, ..., if the script takes
//     arguments;
//   - "-- ARGV... description" when a variable number of further arguments
//     follows (its description says their shape, usually "repeats the
//     entries above");
//   - "-- Returns ...": the reply;
//   - "-- Errors: A, B" listing the [Code] values the script may raise, if
//     any;
//   - "-- Read-only." for a script that never writes.
//
// Any other line in the header, or a line out of order, is a build mistake.
// The Go side is one line per script, var LockAcquire = register("lock_acquire"):
// register reads the header when the package initialises and fills the
// [Script]'s Name, Keys, Args ("..." last for ARGV...), Errors and ReadOnly
// from it, so the contract is written once. [Script.Keys] and
// [Script.MinArgs] are what internal/redisx checks every call against.
// The error codes stay Go constants ([CodeInvalid], [CodeNotHeld], ...),
// which the feature packages map to their sentinel errors; tests check that
// the constants and the codes the headers declare are the same set, that
// every error_reply a script raises is declared and every declared code
// raised, that every file is registered exactly once, that read-only
// scripts issue no writes, and that this example equals lock_acquire.lua.
//
// # Libraries
//
// A line "-- @include name" (after the header) is replaced by
// lua/lib/name.lua. A library includes the libraries it builds on (pool_write
// includes pool, which includes common), and each enters a script once,
// where it is first included. The top level of a library only defines locals
// (key names, constants, functions), and of those a script gets only the
// definitions it uses, directly or through other definitions it keeps: a
// local function costs a closure on every call of the script, so pool_unwait
// does not pay for the pool's timer handling. A library whose top level
// runs other statements (lock_compare validates its arguments) is included
// whole. A definition starts at a line that begins with "local " (with the
// comment lines right above it) and runs to the next one; its other lines
// are indented or a closing "end". Words in strings, in comments and after
// a field dot are no uses. A kept definition of upper-case names with
// literal values (local SPAN = 2199023255552) is not written: its values
// are, where the names are used, since in Lua 5.1 every upvalue of every
// closure is linked anew on each call while a literal costs nothing. Tests
// resolve every name of every expanded script (a helper used without its
// library, or one the expansion dropped, fails), find no kept definition
// the script does not use, and check that no inlined name is declared twice
// or assigned.
//
// The helpers all features share live in lib/common.lua: now_ms, the server
// clock in milliseconds rounded down (the only way a script reads the time;
// Redis expires PX keys by the same truncated clock), and fmt, which
// formats a whole number for redis.call and stored records.
//
// # Rules every script follows
//
// So that the module runs unchanged on a single Redis, on Redis Cluster and
// on the embedded miniredis:
//
//   - Every key arrives through KEYS; a script never builds a key name. All
//     keys of one call share a hash tag, so they live in one cluster slot.
//   - Payloads are opaque bytes: scripts never decode user values, which
//     keeps codecs pluggable (and miniredis has no cmsgpack).
//   - Numbers reach redis.call as strings formatted by fmt, and times come
//     from the server clock through now_ms, never from Lua floats or client
//     clocks. Durations arrive as whole milliseconds (Go rounds them up).
//   - A record stored in several scripts is built by one helper (the pool's
//     lease record by lease_record in lib/pool.lua, a task's meta record as
//     one array in lib/task.lua).
//   - Failures are redis.error_reply('CODE message') with a [Code] from this
//     package; the Go side maps each code to a sentinel error in one table per
//     feature package.
//   - Every read and validation happens before the first write, because Redis
//     does not roll back a script that fails half-way.
//
// The package holds no Redis client; internal/redisx runs the scripts.
package script
