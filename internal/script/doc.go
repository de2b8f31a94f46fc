// Package script (internal) holds every atomic operation of redisallocator as one Lua
// file, embedded into the binary, and the Go values that describe them.
//
// Each state change in the module (take a lock, allocate a member, claim a
// task) is exactly one script run by Redis atomically. A file is named after
// its operation (lock_acquire.lua) and opens with its contract:
//
//	-- lock_acquire: take the lock if it is free or already ours.
//	-- KEYS[1] lock key
//	-- ARGV[1] owner token
//	-- ARGV[2] ttl in milliseconds
//	-- Returns the fencing number when acquired.
//	-- Errors: LOCKED
//
// A script taking a variable number of arguments ends its ARGV lines with
// one starting "-- ARGV... " that says what follows.
//
// The matching [Script] value repeats the KEYS and ARGV descriptions, the
// error codes and the read-only flag; a test checks that header and value
// agree, that every file is registered exactly once, and that read-only
// scripts issue no writes.
//
// Rules every script follows, so that the module runs unchanged on a single
// Redis, on Redis Cluster and on the embedded miniredis:
//
//   - Every key arrives through KEYS; a script never builds a key name. All
//     keys of one call share a hash tag, so they live in one cluster slot.
//   - Payloads are opaque bytes: scripts never decode user values, which
//     keeps codecs pluggable (and miniredis has no cmsgpack).
//   - Numbers reach redis.call as strings computed in Go, and times come
//     from the server clock (TIME), never from Lua floats or client clocks.
//   - Failures are redis.error_reply('CODE message') with a [Code] from this
//     package; the Go side maps each code to a sentinel error in one table per
//     feature package.
//   - Every read and validation happens before the first write, because Redis
//     does not roll back a script that fails half-way.
//
// The package holds no Redis client; internal/redisx runs the scripts.
package script
