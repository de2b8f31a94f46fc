package redisxtest

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// SentinelFailover makes the sentinels of a BackendSentinel backend promote
// the replica: it waits (up to a minute) until one of them lists a healthy
// replica, sends it SENTINEL FAILOVER, which needs no agreement of the
// others, and waits until it names a new master. It returns the old and
// the new master's address. The demoted master becomes a replica of the
// new one a few seconds later, so the next call can fail over back.
func (b *Backend) SentinelFailover(t testing.TB) (from, to string) {
	t.Helper()
	if b.Name != BackendSentinel {
		t.Fatalf("redisxtest: SentinelFailover on the %s backend", b.Name)
	}
	opt, err := redisx.ParseURL(os.Getenv(EnvSentinelURL))
	if err != nil {
		t.Fatalf("redisxtest: %s: %v", EnvSentinelURL, err)
	}
	set := opt.Sentinel.MasterSet
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Talk to the first sentinel as to a plain server: what it says about
	// the master set is what every client of the set acts on.
	s, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       opt.InitAddress[:1],
		Username:          opt.Sentinel.Username,
		Password:          opt.Sentinel.Password,
		TLSConfig:         opt.Sentinel.TLSConfig,
		DisableCache:      true,
		ForceSingleClient: true,
	})
	if err != nil {
		t.Fatalf("redisxtest: sentinel %s: %v", opt.InitAddress[0], err)
	}
	defer s.Close()
	master := func() string {
		addr, err := s.Do(ctx, s.B().SentinelGetMasterAddrByName().Master(set).Build()).AsStrSlice()
		if err != nil || len(addr) != 2 {
			t.Fatalf("redisxtest: SENTINEL GET-MASTER-ADDR-BY-NAME %s = %q, %v", set, addr, err)
		}
		return net.JoinHostPort(addr[0], addr[1])
	}
	from = master()
	for {
		// A replica is promoted only with no flag but "slave" and a
		// working link; right after an earlier failover the demoted
		// master is not one yet.
		healthy := false
		replicas, err := s.Do(ctx, s.B().SentinelReplicas().Master(set).Build()).ToArray()
		if err != nil {
			t.Fatalf("redisxtest: SENTINEL REPLICAS %s: %v", set, err)
		}
		for _, r := range replicas {
			m, err := r.AsStrMap()
			if err == nil && m["flags"] == "slave" && m["master-link-status"] == "ok" {
				healthy = true
			}
		}
		if healthy {
			err := s.Do(ctx, s.B().SentinelFailover().Master(set).Build()).Error()
			if err == nil {
				break
			}
			// NOGOODSLAVE: the sentinel's view is a moment behind ours.
			t.Logf("redisxtest: SENTINEL FAILOVER %s: %v; retrying", set, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redisxtest: no failover of %s within a minute (no healthy replica?)", set)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		if to = master(); to != from {
			return from, to
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redisxtest: SENTINEL FAILOVER %s: master still %s after a minute", set, from)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
