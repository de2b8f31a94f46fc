package redisx_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/embedded"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		url   string
		addrs []string
		db    int
		user  string
		pass  string
		tls   bool
		set   string // Sentinel master set
	}{
		{name: "Plain", url: "redis://127.0.0.1:6380", addrs: []string{"127.0.0.1:6380"}},
		{name: "DefaultPort", url: "redis://localhost", addrs: []string{"localhost:6379"}},
		{name: "Database", url: "redis://h:1/3", addrs: []string{"h:1"}, db: 3},
		{name: "DatabaseParam", url: "redis://h:1?db=4", addrs: []string{"h:1"}, db: 4},
		{name: "Password", url: "redis://:s3cret@h:1", addrs: []string{"h:1"}, pass: "s3cret"},
		{name: "ACLUser", url: "redis://alice:pw@h:1/0", addrs: []string{"h:1"}, user: "alice", pass: "pw"},
		{name: "TLS", url: "rediss://h:6380", addrs: []string{"h:6380"}, tls: true},
		{name: "ClusterSeeds", url: "redis://a:7000,b:7001,c:7002", addrs: []string{"a:7000", "b:7001", "c:7002"}},
		{name: "ClusterSeedsWithAuth", url: "redis://u:p@a:7000,b:7001", addrs: []string{"a:7000", "b:7001"}, user: "u", pass: "p"},
		{name: "AddrParam", url: "redis://a:1?addr=b:2", addrs: []string{"a:1", "b:2"}},
		{name: "IPv6", url: "redis://[::1]:6390", addrs: []string{"[::1]:6390"}},
		{name: "Unix", url: "unix:///run/redis.sock?db=2", addrs: []string{"/run/redis.sock"}, db: 2},
		{name: "Sentinel", url: "redis-sentinel://s1:26380,s2,[::1]/2?master_set=mymaster", addrs: []string{"s1:26380", "s2:26379", "[::1]:26379"}, db: 2, set: "mymaster"},
		{name: "SentinelAuth", url: "redis-sentinel://:pw@s1?master_set=m&addr=s2", addrs: []string{"s1:26379", "s2:26379"}, pass: "pw", set: "m"},
		{name: "SentinelTLS", url: "rediss-sentinel://s1,s2?master_set=m", addrs: []string{"s1:26379", "s2:26379"}, tls: true, set: "m"},
		{name: "SentinelRueidisForm", url: "redis://s1:26379,s2:26379/1?master_set=m", addrs: []string{"s1:26379", "s2:26379"}, db: 1, set: "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt, err := redisx.ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.url, err)
			}
			if !slices.Equal(opt.InitAddress, tt.addrs) {
				t.Errorf("addresses %q, want %q", opt.InitAddress, tt.addrs)
			}
			if opt.SelectDB != tt.db || opt.Username != tt.user || opt.Password != tt.pass {
				t.Errorf("db/user/pass = %d/%q/%q, want %d/%q/%q", opt.SelectDB, opt.Username, opt.Password, tt.db, tt.user, tt.pass)
			}
			if (opt.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS = %v, want %v", opt.TLSConfig != nil, tt.tls)
			}
			if opt.Sentinel.MasterSet != tt.set {
				t.Errorf("master set %q, want %q", opt.Sentinel.MasterSet, tt.set)
			}
			if tt.set == "" {
				return
			}
			// The sentinels are dialled with the URL's settings, and the
			// client keeps asking them where the master is.
			if (opt.Sentinel.TLSConfig != nil) != tt.tls {
				t.Errorf("sentinel TLS = %v, want %v", opt.Sentinel.TLSConfig != nil, tt.tls)
			}
			if tt.tls && (opt.TLSConfig.ServerName != "" || opt.Sentinel.TLSConfig.ServerName != "") {
				t.Errorf("TLS server name %q/%q fixed to one host", opt.TLSConfig.ServerName, opt.Sentinel.TLSConfig.ServerName)
			}
			if opt.Sentinel.TopologyRefreshInterval <= 0 {
				t.Errorf("sentinel topology refresh %v, want on", opt.Sentinel.TopologyRefreshInterval)
			}
		})
	}
}

func TestParseURLRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"NoScheme":                "127.0.0.1:6379",
		"UnknownScheme":           "http://h:1",
		"EmptyHost":               "redis://a:1,,b:2",
		"BadPort":                 "redis://h:notaport",
		"PortRange":               "redis://h:70000",
		"BadDB":                   "redis://h:1/x",
		"NegativeDB":              "redis://h:1?db=-1",
		"ClusterWithDB":           "redis://a:1,b:2/3",
		"UnknownParam":            "redis://h:1?pool_size=3",
		"SkipVerifyNoTLS":         "redis://h:1?skip_verify=true",
		"BadCacheParam":           "redis://h:1?client_cache=maybe",
		"BadProtocol":             "redis://h:1?protocol=4",
		"UnixNoPath":              "unix://",
		"BadAddrParam":            "redis://h:1?addr=x:y",
		"Fragment":                "redis://h:1#frag",
		"BadPath":                 "redis://h:1/1/2",
		"SentinelNoSet":           "redis-sentinel://s1:26379,s2:26379",
		"SentinelEmptySet":        "redis-sentinel://s1?master_set=",
		"SentinelTwoSets":         "redis-sentinel://s1?master_set=a&master_set=b",
		"SentinelSetSpace":        "redis-sentinel://s1?master_set=my%20master",
		"SentinelUnix":            "unix:///run/redis.sock?master_set=m",
		"SentinelBadHost":         "redis-sentinel://s1:x?master_set=m",
		"SentinelBadAddr":         "redis-sentinel://s1?master_set=m&addr=:1",
		"SentinelSkipVerifyNoTLS": "redis-sentinel://s1?master_set=m&skip_verify=true",
		"SentinelPlus":            "redis+sentinel://s1?master_set=m",
	}
	for name, u := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := redisx.ParseURL(u); !errors.Is(err, redisx.ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) = %v, want ErrInvalidURL", u, err)
			}
		})
	}
}

func TestParseURLErrorHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := redisx.ParseURL("redis://alice:hunter2@h:1?bogus=1")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v leaks the password or is nil", err)
	}
	if !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("error %v does not name the bad parameter", err)
	}
}

func TestConnectRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := redisx.Connect(ctx, "nope://x"); !errors.Is(err, redisx.ErrInvalidURL) {
		t.Errorf("bad URL: %v", err)
	}
	if _, err := redisx.Connect(ctx, "redis://127.0.0.1:1", redisx.WithMaxFlushDelay(-time.Second)); !errors.Is(err, redisx.ErrConnect) {
		t.Errorf("negative flush delay: %v", err)
	}
	if _, err := redisx.Connect(ctx, "redis://127.0.0.1:1", nil); !errors.Is(err, redisx.ErrConnect) {
		t.Errorf("nil option: %v", err)
	}
}

func TestConnectUnreachable(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback refuses at once.
	_, err := redisx.Connect(context.Background(), "redis://127.0.0.1:1?dial_timeout=1s")
	if !errors.Is(err, redisx.ErrConnect) {
		t.Fatalf("Connect to a closed port = %v, want ErrConnect", err)
	}
}

func TestConnectHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A blackhole-free way to make dialing slow: a listener that never
	// answers the handshake is not needed, a cancelled ctx must win anyway.
	_, err := redisx.Connect(ctx, "redis://127.0.0.1:1?dial_timeout=5s")
	if !errors.Is(err, redisx.ErrConnect) {
		t.Fatalf("err = %v, want ErrConnect", err)
	}
}

func TestConnectFallsBackWithoutTracking(t *testing.T) {
	t.Parallel()
	e, err := embedded.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	// miniredis lacks CLIENT TRACKING: Auto falls back, On refuses.
	c, err := redisx.Connect(ctx, e.URL())
	if err != nil {
		t.Fatalf("Connect(auto cache) to miniredis: %v", err)
	}
	defer c.Close()
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if _, err := redisx.Connect(ctx, e.URL(), redisx.WithCache(redisx.CacheOn)); !errors.Is(err, redisx.ErrConnect) || !errors.Is(err, rueidis.ErrNoCache) {
		t.Fatalf("Connect(cache on) to miniredis = %v, want ErrConnect and ErrNoCache", err)
	}
	if _, err := redisx.Connect(ctx, e.URL()+"?client_cache=1"); !errors.Is(err, rueidis.ErrNoCache) {
		t.Fatalf("client_cache=1 to miniredis = %v, want ErrNoCache", err)
	}
}

func TestConnectRealServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ backend, env, url string }{
		{redisxtest.BackendStandalone, redisxtest.EnvRedisURL, ""},
		{redisxtest.BackendCluster, redisxtest.EnvClusterAddrs, "redis://"},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			t.Parallel()
			b := redisxtest.New(t, tc.backend) // skips or fails as configured
			ctx := context.Background()
			url := tc.url + os.Getenv(tc.env)
			c, err := redisx.Connect(ctx, url, redisx.WithMaxFlushDelay(20*time.Microsecond))
			if err != nil {
				t.Fatalf("Connect(%s): %v", url, err)
			}
			defer c.Close()
			key := b.Prefix + ":{conn}:k"
			if err := c.Do(ctx, c.B().Set().Key(key).Value("v").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			// Client-side caching is on by default against real Redis:
			// the second read is served from the local cache.
			for i := range 2 {
				resp := c.DoCache(ctx, c.B().Get().Key(key).Cache(), time.Minute)
				if v, err := resp.ToString(); err != nil || v != "v" {
					t.Fatalf("GET = %q, %v", v, err)
				}
				if i == 1 && !resp.IsCacheHit() {
					t.Errorf("second cached GET was not a cache hit: caching is off")
				}
			}
			if tc.backend == redisxtest.BackendCluster && len(c.Nodes()) < 3 {
				t.Errorf("cluster client sees %d nodes, want 3", len(c.Nodes()))
			}
		})
	}
}

// FuzzParseURL checks that no input makes URL parsing panic and that every
// failure is an ErrInvalidURL without the password in it.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://h:1", "unix://", "unix:///s?db=1", "redis://a:1,b:2", "rediss://u:p@h/0?skip_verify=1",
		"redis://[::1]:1", "redis://:@", "redis://h:1?addr=", "redis://,", "redis://h:1/%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := redisx.ParseURL(raw)
		if err != nil && !errors.Is(err, redisx.ErrInvalidURL) {
			t.Fatalf("ParseURL(%q) = %v, not ErrInvalidURL", raw, err)
		}
	})
}
