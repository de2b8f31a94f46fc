package redisx_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/internal/script"
)

// TestSynctestClock checks the synctest backend: an hour of fake time
// passes at once, and both TTLs and the TIME command follow it.
func TestSynctestClock(t *testing.T) {
	t.Parallel()
	redisxtest.Synctest(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		r := redisx.NewRunner(b.Client, nil, nil)
		key := b.Prefix + ":{s}:lease"
		if err := b.Client.Do(ctx, b.Client.B().Set().Key(key).Value("1").Px(time.Hour).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		before, err := r.Run(ctx, script.Ping, []string{key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour + time.Second)
		after, err := r.Run(ctx, script.Ping, []string{key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b0, _ := before.AsIntSlice()
		a0, _ := after.AsIntSlice()
		if d := a0[0] - b0[0]; d < 3600 || d > 3602 {
			t.Errorf("TIME moved %d s, want about 3601", d)
		}
		if n, _ := b.Client.Do(ctx, b.Client.B().Exists().Key(key).Build()).AsInt64(); n != 0 {
			t.Errorf("one-hour key still exists after an hour of fake time")
		}
	})
}

func TestBackendKeysAndCleanup(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		// Keys in three different slots, all under the test prefix.
		for _, tag := range []string{"a", "b", "c"} {
			k := b.Prefix + ":{" + tag + "}:k"
			if err := b.Client.Do(ctx, b.Client.B().Set().Key(k).Value("1").Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		if got := b.Keys(t); len(got) != 3 {
			t.Fatalf("Keys = %q, want 3 keys", got)
		}
	})
}
