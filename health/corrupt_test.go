package health_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

// TestCorruptGroupKeys (issue 13, point 5): with a session group's key of
// the wrong type, registering, leaving, listing and reaping answer an
// error matching ErrCorrupt that names the key, and write nothing.
func TestCorruptGroupKeys(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		ops := map[string]func(ctx context.Context, prefix string, s *health.Session) error{
			"NewSession": func(ctx context.Context, prefix string, _ *health.Session) error {
				s, err := health.NewSession(ctx, b.Client, prefix, health.WithID("w2"))
				if err == nil {
					_ = s.Close(ctx)
				}
				return err
			},
			"Close": func(ctx context.Context, _ string, s *health.Session) error { return s.Close(ctx) },
			"Workers": func(ctx context.Context, prefix string, _ *health.Session) error {
				r, err := health.NewRegistry(b.Client, prefix)
				if err != nil {
					return err
				}
				_, err = r.Workers(ctx)
				return err
			},
			"Reap": func(ctx context.Context, prefix string, _ *health.Session) error {
				r, err := health.NewRegistry(b.Client, prefix)
				if err != nil {
					return err
				}
				_, err = r.Reap(ctx, 0)
				return err
			},
		}
		n := 0
		for _, k := range []string{"workers", "meta"} {
			for name, op := range ops {
				n++
				prefix := fmt.Sprintf("%s-%d", b.Prefix, n)
				s, err := health.NewSession(ctx, b.Client, prefix, health.WithID("w1"))
				if err != nil {
					t.Fatal(err)
				}
				key := prefix + ":{health:workers}:" + k
				c := b.Client
				if err := c.Do(ctx, c.B().Del().Key(key).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				if err := c.Do(ctx, c.B().Set().Key(key).Value("x").Build()).Error(); err != nil {
					t.Fatal(err)
				}
				dump := func() string {
					var out []string
					for _, kk := range []string{"workers", "meta"} {
						v, err := c.Do(ctx, c.B().Dump().Key(prefix+":{health:workers}:"+kk).Build()).ToString()
						out = append(out, fmt.Sprintf("%q %v", v, err))
					}
					return strings.Join(out, "; ")
				}
				before := dump()
				err = op(ctx, prefix, s)
				after := dump()
				switch {
				case !errors.Is(err, redisallocator.ErrCorrupt):
					t.Errorf("%s/%s: error does not match ErrCorrupt: %v", k, name, err)
				case !strings.Contains(err.Error(), key):
					t.Errorf("%s/%s: error does not name %s: %v", k, name, key, err)
				}
				if before != after {
					t.Errorf("%s/%s: wrote: %s -> %s", k, name, before, after)
				}
			}
		}
	})
}
