package redisallocator_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// TestConnectClientOptionLast: the settings that have no option of their
// own (caching, flush delay, auto-pipelining) are reached through
// WithClientOption, which runs after the URL was applied.
func TestConnectClientOptionLast(t *testing.T) {
	t.Parallel()
	srv := redisallocatortest.NewServer(t)
	ctx := context.Background()
	// miniredis has no CLIENT TRACKING: client_cache=1 requires it.
	if _, err := redisallocator.Connect(ctx, srv.URL()+"?client_cache=1"); !errors.Is(err, redisallocator.ErrConnect) {
		t.Fatalf("client_cache=1 on miniredis: %v, want ErrConnect", err)
	}
	var seen rueidis.ClientOption
	c, err := redisallocator.Connect(ctx, srv.URL()+"?client_cache=1", redisallocator.WithClientOption(func(o *rueidis.ClientOption) {
		o.DisableCache = true
		o.DisableAutoPipelining = true
		seen = *o
	}))
	if err != nil {
		t.Fatalf("client_cache=1 overridden by WithClientOption: %v", err)
	}
	defer c.Close()
	if len(seen.InitAddress) != 1 || seen.InitAddress[0] != srv.Miniredis().Addr() {
		t.Errorf("WithClientOption saw InitAddress %q, want the URL's %q", seen.InitAddress, srv.Miniredis().Addr())
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		t.Fatal(err)
	}
}
