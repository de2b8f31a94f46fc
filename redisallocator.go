package redisallocator

import (
	"context"
	"crypto/tls"
	"time"

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
	// ErrCrossSlot reports keys of one call that would land in different
	// Redis Cluster slots; nothing is sent.
	ErrCrossSlot = redisx.ErrCrossSlot
)

// ConnectOption adjusts how [Connect] builds the client.
type ConnectOption = redisx.Option

// CacheMode says whether [Connect] turns on rueidis client-side caching.
type CacheMode = redisx.CacheMode

// Client-side caching modes for [WithCache].
const (
	// CacheAuto, the default, caches when the server supports CLIENT
	// TRACKING and silently does not otherwise.
	CacheAuto = redisx.CacheAuto
	// CacheOn requires caching: Connect fails on servers without it.
	CacheOn = redisx.CacheOn
	// CacheOff never caches.
	CacheOff = redisx.CacheOff
)

// WithCache sets the client-side caching mode (default CacheAuto, or the
// URL's client_cache parameter).
func WithCache(m CacheMode) ConnectOption { return redisx.WithCache(m) }

// WithMaxFlushDelay lets rueidis wait up to d to gather pipelined commands
// into one write. The default 0 writes at once; about 20µs helps only under
// heavy concurrency.
func WithMaxFlushDelay(d time.Duration) ConnectOption { return redisx.WithMaxFlushDelay(d) }

// WithAutoPipelining turns auto-pipelining of concurrent commands on (the
// default) or off.
func WithAutoPipelining(on bool) ConnectOption { return redisx.WithAutoPipelining(on) }

// WithTLSConfig sets the TLS configuration (client certificates, private
// CAs).
func WithTLSConfig(cfg *tls.Config) ConnectOption { return redisx.WithTLSConfig(cfg) }

// WithClientOption adjusts the final rueidis.ClientOption, for settings
// Connect does not cover.
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
// default (see [CacheAuto]). The caller owns the client and closes it; the
// packages of this module never do.
//
// ctx bounds the connection attempt. Errors match [ErrInvalidURL] or
// [ErrConnect] (and ctx.Err() when ctx ended first).
func Connect(ctx context.Context, url string, opts ...ConnectOption) (rueidis.Client, error) {
	return redisx.Connect(ctx, url, opts...)
}
