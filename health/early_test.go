package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestCallsEndingEarlyRunNothing: every call of the health package with a
// nil ctx returns an ErrInvalid error (no panic), and with an
// already-cancelled ctx the ctx's error; neither runs a script: no
// session registered, beaten or removed, no member probed or quarantined
// (every key's DUMP is unchanged).
func TestCallsEndingEarlyRunNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		p, err := pool.New[string](b.Client, b.Prefix, "p")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"a"}); err != nil {
			t.Fatal(err)
		}
		s, err := health.NewSession(ctx, b.Client, b.Prefix, health.WithTimeout(time.Hour), health.WithInterval(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close(ctx) }()
		r, err := health.NewRegistry(b.Client, b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		c, err := health.NewChecker[string](b.Client, b.Prefix, p, func(context.Context, string, string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		err2 := func(_ any, err error) error { return err }
		redisxtest.EndsEarly(t, b, health.ErrInvalid, map[string]func(ctx context.Context) error{
			"NewSession": func(ctx context.Context) error { return err2(health.NewSession(ctx, b.Client, b.Prefix)) },
			"SessionRun": func(ctx context.Context) error { return s.Run(ctx) },
			"Workers":    func(ctx context.Context) error { return err2(r.Workers(ctx)) },
			"Reap":       func(ctx context.Context) error { return err2(r.Reap(ctx, 0)) },
			"RunReaper":  func(ctx context.Context) error { return r.RunReaper(ctx) },
			"CheckOnce":  func(ctx context.Context) error { return err2(c.CheckOnce(ctx)) },
			"CheckerRun": func(ctx context.Context) error { return c.Run(ctx) },
		})
		if !s.Valid() {
			t.Fatal("a call that ended early ended the session")
		}
		// Close with an ended ctx ends the session locally (documented)
		// but sends nothing; the registration then lapses by itself.
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		before := b.KeyDump(t)
		if err := s.Close(cancelled); err == nil {
			t.Error("Close(cancelled ctx) = nil, want the ctx's error")
		}
		if after := b.KeyDump(t); len(after) != len(before) {
			t.Error("Close with a cancelled ctx wrote to Redis")
		}
	})
}
