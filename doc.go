// Package redisallocator gives Go services distributed resource allocation
// on Redis: locks, a pool of named resources that many processes check out
// and give back, health checking, and a task queue whose callers wait for
// typed results. It is the Go counterpart of the Python RedisAllocator,
// made safe where that one is not (owner-checked release, fencing numbers,
// no corruption under crashes) and able to run on Redis Cluster.
//
// At a glance:
//
//	Need                                        Package
//	connect by URL, list what a prefix holds    redisallocator (this one)
//	locks, a blocking mutex, quorum locks       lock
//	a pool of named resources, Pool[T]          pool
//	worker heartbeats, probing resources        health
//	a typed task queue, Queue[P, R]             task
//	JSON, MsgPack, CBOR or your own encoding    codec
//	names of its spans, metrics, attributes     otel
//	the Lua scripts, for operators              script
//	embedded Redis and assertions for tests     redisallocatortest
//
// Every package takes a rueidis.Client that the caller owns; build one with
// [Connect] (any Redis URL, cluster seeds included). Tests and demos start
// an embedded Redis with package redisallocatortest, which only they link:
// the library packages never link miniredis. Every state change is one
// atomic Lua script, and all keys of one pool, queue or lock share a hash
// tag, so each lives in one cluster slot while different ones spread over
// the cluster.
//
// Errors are sentinels matched with errors.Is; this package re-exports the
// ones shared by all packages ([ErrInvalidURL], [ErrConnect],
// [ErrInvalidName]).
package redisallocator
