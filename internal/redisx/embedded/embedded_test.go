package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/embedded"
)

func TestStart(t *testing.T) {
	t.Parallel()
	e, err := embedded.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Client.Do(ctx, e.Client.B().Set().Key("k").Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Mini.Get("k"); got != "v" {
		t.Fatalf("server holds %q", got)
	}
	e.Close()
	e.Close() // idempotent
	if err := e.Client.Do(ctx, e.Client.B().Ping().Build()).Error(); err == nil {
		t.Fatal("client still works after Close")
	}
}

// TestStartClockTTL: with clockTTL, a TTL runs down when the server clock
// moves (SetTime); without it, only FastForward moves it.
func TestStartClockTTL(t *testing.T) {
	t.Parallel()
	for _, clock := range []bool{false, true} {
		e, err := embedded.Start(clock)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := e.Client.Do(ctx, e.Client.B().Set().Key("k").Value("v").Px(time.Minute).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		e.Mini.SetTime(time.Now().Add(2 * time.Minute))
		n, err := e.Client.Do(ctx, e.Client.B().Exists().Key("k").Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if gone := n == 0; gone != clock {
			t.Errorf("clockTTL %v: key gone %v after the clock moved past its TTL", clock, gone)
		}
		e.Close()
	}
}
