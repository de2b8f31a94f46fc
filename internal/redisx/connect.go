package redisx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// ErrInvalidURL reports a Redis URL Connect cannot use; the error says why.
var ErrInvalidURL = errors.New("redisallocator: invalid redis URL")

// ErrConnect reports that no client could be built: the server refused,
// could not be reached, or the options do not fit it.
var ErrConnect = errors.New("redisallocator: cannot connect to redis")

// CacheMode says whether Connect turns on rueidis client-side caching.
type CacheMode int

const (
	// CacheAuto turns caching on and falls back to no caching when the
	// server lacks CLIENT TRACKING (miniredis, some managed offerings).
	CacheAuto CacheMode = iota
	// CacheOn requires caching; Connect fails when the server lacks it.
	CacheOn
	// CacheOff never caches.
	CacheOff
)

// connectConfig collects what the URL and the options say.
type connectConfig struct {
	cache         CacheMode
	cacheSet      bool
	maxFlushDelay time.Duration
	noAutoPipe    bool
	tls           *tls.Config
	adjust        []func(*rueidis.ClientOption)
}

// Option adjusts how Connect builds the client.
type Option func(*connectConfig)

// WithCache sets the client-side caching mode; the default is CacheAuto,
// or what the URL's client_cache parameter says. An option wins over the URL.
func WithCache(m CacheMode) Option {
	return func(c *connectConfig) { c.cache, c.cacheSet = m, true }
}

// WithMaxFlushDelay lets rueidis wait up to d to gather more pipelined
// commands into one write. The default, 0, writes at once; small delays
// (about 20µs) raise throughput only under heavy concurrency.
func WithMaxFlushDelay(d time.Duration) Option {
	return func(c *connectConfig) { c.maxFlushDelay = d }
}

// WithAutoPipelining turns rueidis auto-pipelining of concurrent commands on
// (the default) or off.
func WithAutoPipelining(on bool) Option {
	return func(c *connectConfig) { c.noAutoPipe = !on }
}

// WithTLSConfig sets the TLS configuration, for rediss:// URLs with client
// certificates or private CAs. It turns TLS on for any scheme but unix.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *connectConfig) { c.tls = cfg }
}

// WithClientOption lets the caller adjust the final rueidis.ClientOption,
// for settings Connect does not cover. It runs after everything else.
func WithClientOption(f func(*rueidis.ClientOption)) Option {
	return func(c *connectConfig) { c.adjust = append(c.adjust, f) }
}

// knownParams are the URL query parameters Connect understands; anything
// else is refused rather than silently ignored.
var knownParams = []string{
	"db", "dial_timeout", "write_timeout", "addr", "skip_verify", "protocol",
	"client_cache", "max_retries", "client_name", "master_set",
}

// defaultSentinelPort is the port a redis-sentinel:// host without one gets:
// Sentinel's own default, not the server's 6379.
const defaultSentinelPort = "26379"

// sentinelRefreshInterval is how often a Sentinel client asks the sentinels
// where the master is, besides following their +switch-master events: one
// missed event would otherwise keep it on a demoted master (rueidis
// recommends a few seconds). WithClientOption can change it.
const sentinelRefreshInterval = 5 * time.Second

// ParseURL turns a Redis URL into client options. Accepted forms:
//
//	redis://[user[:password]@]host[:port][/db][?params]
//	rediss://...                        TLS
//	redis://host1:port1,host2:port2,... several seeds (Redis Cluster)
//	unix://[user[:password]@]/path/to/redis.sock[?db=N]
//	redis-sentinel://[user[:password]@]s1[:port],s2[:port],...[/db]?master_set=NAME
//	rediss-sentinel://...               Sentinel, TLS to sentinels and servers
//
// The hosts of a redis-sentinel:// URL are sentinels (default port 26379);
// master_set names the master they monitor, and the user and password are
// the data servers' (rueidis sends none to the sentinels unless told with
// WithClientOption). rueidis's own spelling, redis://s1,s2?master_set=NAME
// (default port 6379), means the same.
//
// Query parameters: db, dial_timeout, write_timeout, addr (more seeds),
// skip_verify (TLS only), protocol=2, client_cache=0|1, max_retries=0,
// client_name, master_set (Sentinel only). Errors wrap ErrInvalidURL and
// never include the password.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	opt, _, err := parseURL(raw)
	return opt, err
}

func parseURL(raw string) (rueidis.ClientOption, *bool, error) {
	var zero rueidis.ClientOption
	bad := func(format string, args ...any) (rueidis.ClientOption, *bool, error) {
		return zero, nil, fmt.Errorf("%w: %s: %s", ErrInvalidURL, redact(raw), fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return bad("missing scheme, want redis://, rediss://, redis-sentinel:// or unix://")
	}
	sentinelScheme := false
	switch scheme {
	case "redis", "rediss", "unix":
	case "redis-sentinel", "rediss-sentinel":
		sentinelScheme = true
		scheme = strings.TrimSuffix(scheme, "-sentinel")
	default:
		return bad("unknown scheme %q, want redis, rediss, redis-sentinel, rediss-sentinel or unix", scheme)
	}
	// Split the authority ourselves: net/url cannot parse comma-separated
	// hosts, so extra seeds become addr= parameters for rueidis.ParseURL.
	var seeds []string
	if scheme != "unix" {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority, tail := rest[:end], rest[end:]
		userinfo, hosts := "", authority
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			userinfo, hosts = authority[:at+1], authority[at+1:]
		}
		for _, h := range strings.Split(hosts, ",") {
			if h == "" {
				return bad("empty host")
			}
			if err := checkHostPort(h); err != nil {
				return bad("%v", err)
			}
			if sentinelScheme {
				h = withDefaultPort(h, defaultSentinelPort)
			}
			seeds = append(seeds, h)
		}
		rest = userinfo + seeds[0] + tail
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return bad("%v", stripURLError(err))
	}
	if u.Fragment != "" {
		return bad("fragments are not allowed")
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(knownParams, k) {
			return bad("unknown parameter %q (known: %s)", k, strings.Join(knownParams, ", "))
		}
	}
	if scheme == "unix" && u.Path == "" {
		return bad("unix URL needs a socket path")
	}
	if q.Has("skip_verify") && scheme != "rediss" {
		return bad("skip_verify needs rediss:// or rediss-sentinel://")
	}
	masterSet, sentinel := q.Get("master_set"), sentinelScheme || q.Has("master_set")
	if sentinel {
		switch {
		case scheme == "unix":
			return bad("master_set needs redis-sentinel:// (sentinels are reached over TCP)")
		case masterSet == "":
			return bad("a Sentinel URL needs master_set=NAME, the name the sentinels monitor the master under")
		case len(q["master_set"]) > 1:
			return bad("master_set given more than once")
		case strings.IndexFunc(masterSet, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
			return bad("master_set must not contain spaces or control characters")
		}
	}
	for i, a := range q["addr"] {
		if err := checkHostPort(a); err != nil {
			return bad("addr: %v", err)
		}
		if sentinelScheme {
			q["addr"][i] = withDefaultPort(a, defaultSentinelPort)
		}
	}
	if len(seeds) > 1 {
		for _, s := range seeds[1:] {
			q.Add("addr", s)
		}
	}
	var cache *bool
	if q.Has("client_cache") {
		switch q.Get("client_cache") {
		case "0", "false":
			cache = new(bool)
		case "1", "true":
			cache = new(bool)
			*cache = true
		default:
			return bad("client_cache must be 0 or 1")
		}
		q.Del("client_cache")
	}
	if p := q.Get("protocol"); p != "" && p != "2" && p != "3" {
		return bad("protocol must be 2 or 3")
	}
	u.RawQuery = q.Encode()
	opt, err := rueidis.ParseURL(u.String())
	if err != nil {
		return bad("%v", err)
	}
	if opt.SelectDB < 0 {
		return bad("negative database number")
	}
	if len(opt.InitAddress) > 1 && opt.SelectDB != 0 && !sentinel {
		return bad("a cluster has only database 0")
	}
	if sentinel {
		// The sentinels are dialled like the servers; rueidis takes their
		// settings from opt.Sentinel only.
		opt.Sentinel.Dialer = opt.Dialer
		if opt.TLSConfig != nil {
			// A name taken from the first sentinel's host would be wrong
			// for every other host: let each dial use its own address.
			opt.TLSConfig.ServerName = ""
			opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
		}
		opt.Sentinel.TopologyRefreshInterval = sentinelRefreshInterval
	}
	return opt, cache, nil
}

// withDefaultPort appends port to a host that has none; h has passed
// checkHostPort.
func withDefaultPort(h, port string) string {
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h
	}
	return net.JoinHostPort(strings.Trim(h, "[]"), port)
}

func checkHostPort(h string) error {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: the default 6379 applies.
		host, port = h, "6379"
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			return fmt.Errorf("bad host %q", h)
		}
	}
	if host == "" {
		return fmt.Errorf("bad host %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("bad port in %q", h)
	}
	return nil
}

// redact hides the password of a URL for error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(authority[:at], ":")
	if !hasPass {
		return raw
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// stripURLError drops net/url's copy of the input, which may hold a password.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Connect builds a rueidis client for the Redis at url (see [ParseURL] for
// the forms). It connects before returning, so a bad address or password
// fails here. Client-side caching is on unless the URL or an option says
// otherwise, and silently off for servers without CLIENT TRACKING when the
// mode is CacheAuto. The caller owns the client and must Close it.
//
// ctx bounds the connection attempt; when it ends first Connect returns an
// error matching both ErrConnect and ctx.Err().
func Connect(ctx context.Context, rawURL string, opts ...Option) (rueidis.Client, error) {
	opt, urlCache, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var cfg connectConfig
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrConnect)
		}
		o(&cfg)
	}
	if !cfg.cacheSet && urlCache != nil {
		cfg.cache = CacheOff
		if *urlCache {
			cfg.cache = CacheOn
		}
	}
	if cfg.maxFlushDelay < 0 {
		return nil, fmt.Errorf("%w: negative MaxFlushDelay %v", ErrConnect, cfg.maxFlushDelay)
	}
	opt.MaxFlushDelay = cfg.maxFlushDelay
	opt.DisableAutoPipelining = cfg.noAutoPipe
	if cfg.tls != nil && !strings.HasPrefix(rawURL, "unix://") {
		opt.TLSConfig = cfg.tls
		if opt.Sentinel.MasterSet != "" {
			opt.Sentinel.TLSConfig = cfg.tls
		}
	}
	opt.DisableCache = cfg.cache == CacheOff
	for _, f := range cfg.adjust {
		f(&opt)
	}
	return newClient(ctx, opt, cfg.cache == CacheAuto && !opt.DisableCache)
}

// newClient builds the client off the caller's goroutine so that ctx can
// abandon a slow dial; a client that arrives too late is closed.
func newClient(ctx context.Context, opt rueidis.ClientOption, cacheFallback bool) (rueidis.Client, error) {
	type result struct {
		c   rueidis.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(opt)
		if err != nil && cacheFallback && errors.Is(err, rueidis.ErrNoCache) {
			opt.DisableCache = true
			c, err = rueidis.NewClient(opt)
		}
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConnect, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, errors.Join(ErrConnect, ctx.Err())
	}
}
