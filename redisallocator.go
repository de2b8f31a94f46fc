package redisallocator

import (
	"context"
	"crypto/tls"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// Errors shared by every package of the module. Match them with errors.Is.
var (
	// ErrInvalidURL reports a Redis URL Connect cannot use.
	ErrInvalidURL = redisx.ErrInvalidURL
	// ErrConnect reports that Connect could not build a working client.
	ErrConnect = redisx.ErrConnect
	// ErrInvalidName reports a prefix, pool, queue or lock name, or a member
	// key, that breaks the naming rules (empty, too long, NUL or control
	// characters, braces in names).
	ErrInvalidName = redisx.ErrInvalidName
	// ErrCorrupt reports hostile state in Redis: a key of the module's of
	// the wrong type, a fencing counter or hold count that is no integer, a
	// lease, binding or task record that does not parse, left there by
	// something else writing to the module's keys. Every script checks what
	// it reads before its first write, so the call that returns it wrote
	// nothing; the message names the key (and the hash field). Read-only
	// views report such state instead (pool.Inspector.Snapshot lists it
	// among its violations, pool.Stats in Corrupt). A pool member whose
	// records are garbage is repaired by removing it; a key of the wrong
	// type must be deleted by hand (the redisalloc CLI's diagnose names it).
	ErrCorrupt = redisx.ErrCorrupt
)

// ConnectOption adjusts how [Connect] builds the client.
type ConnectOption = redisx.Option

// WithTLSConfig sets the TLS configuration (client certificates, private
// CAs). It turns TLS on for any scheme but unix://; with Sentinel, for the
// sentinels and the data servers alike.
func WithTLSConfig(cfg *tls.Config) ConnectOption { return redisx.WithTLSConfig(cfg) }

// WithClientOption adjusts the final rueidis.ClientOption, after the URL
// and the other options were applied, for settings Connect does not cover:
// for example MaxFlushDelay (default 0; about 20µs trades latency for
// throughput under heavy concurrency), DisableAutoPipelining (auto-pipelining
// is on by default) or DisableCache.
func WithClientOption(f func(*rueidis.ClientOption)) ConnectOption {
	return redisx.WithClientOption(f)
}

// Connect builds a rueidis client for url and connects before returning.
// Accepted forms:
//
//	redis://[user[:password]@]host[:port][/db][?params]
//	rediss://...                          TLS
//	redis://host1:port1,host2:port2,...   Redis Cluster seeds
//	unix://[user[:password]@]/path/redis.sock[?db=N]
//	redis-sentinel://[user[:password]@]s1[:port],s2[:port],...[/db]?master_set=NAME
//	rediss-sentinel://...                 Sentinel, TLS everywhere
//
// The hosts of a redis-sentinel:// URL are sentinels (port 26379 unless
// given) and master_set, which it requires, is the name they monitor the
// master under; the client asks them for the master, follows their
// +switch-master events and checks with them every 5 s, so it moves to a
// promoted replica by itself. The user and password are the data
// servers'; sentinels that require a password of their own get it through
// WithClientOption (the rueidis.ClientOption's Sentinel field).
// rueidis's spelling, redis://s1:26379,s2:26379?master_set=NAME, is
// accepted too. Failover loses the writes the replica had not received:
// docs/durability.md in the repository says what that means for leases,
// fences, locks and tasks.
//
// Parameters: db, dial_timeout, write_timeout, addr (more seeds or
// sentinels), skip_verify (TLS only), protocol=2, client_cache=0|1,
// max_retries=0, client_name, master_set; unknown ones are refused, and
// so is a Sentinel URL without master_set. Client-side caching is on by
// default when the server supports CLIENT TRACKING and silently off when
// it does not; client_cache=1 requires it (Connect then fails on servers
// without it), client_cache=0 turns it off. The caller owns the client and
// closes it; the packages of this module never do.
//
// ctx bounds the connection attempt. Errors match [ErrInvalidURL] or
// [ErrConnect] (and ctx.Err() when ctx ended first).
func Connect(ctx context.Context, url string, opts ...ConnectOption) (rueidis.Client, error) {
	return redisx.Connect(ctx, url, opts...)
}
