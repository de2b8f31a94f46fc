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
)

// ConnectOption adjusts how [Connect] builds the client.
type ConnectOption = redisx.Option

// WithTLSConfig sets the TLS configuration (client certificates, private
// CAs). It turns TLS on for any scheme but unix://.
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
//
// Parameters: db, dial_timeout, write_timeout, addr (more seeds),
// skip_verify (rediss only), protocol=2, client_cache=0|1, max_retries=0,
// client_name; unknown ones are refused. Client-side caching is on by
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
