package redisxtest

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx/embedded"
)

// Synctest runs fn inside a testing/synctest bubble against a miniredis
// reached through in-memory pipes, with TTLs and the TIME command following
// the bubble's fake clock. A time.Sleep(time.Hour) in fn returns at once and
// expires a one-hour lease, so lease and TTL logic is tested without waits.
func Synctest(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		c, err := rueidis.NewClient(embedded.Dial(m))
		if err != nil {
			t.Fatalf("redisxtest: synctest client: %v", err)
		}
		b := &Backend{Name: BackendMini, Client: c, Mini: m, Prefix: NewPrefix()}
		defer func() {
			c.Close()
			m.Close()
			// Let goroutines that rueidis ends after a delay finish inside
			// the bubble (fake time: this returns at once).
			time.Sleep(time.Minute)
		}()
		fn(t, b)
	})
}

// DialEmbedded returns client options that reach m through in-memory pipes,
// for a second client inside a [Synctest] bubble (see embedded.Dial).
func DialEmbedded(m *miniredis.Miniredis) rueidis.ClientOption { return embedded.Dial(m) }
