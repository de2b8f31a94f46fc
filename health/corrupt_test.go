package health_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
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

// TestCorruptStrikes (issue 13, point 5): with the checker's strike counts
// of the wrong type, or garbage where a failing member's count belongs,
// CheckOnce answers an error matching ErrCorrupt that names the strikes key
// and writes nothing to it; a good probe clears a member's count without
// reading it, so garbage there may go but is never rewritten.
func TestCorruptStrikes(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := testCtx(t)
		c := b.Client
		cases := []struct {
			name   string
			member string // the one member of the pool
			bad    bool   // its probe fails
			apply  func(key string) rueidis.Completed
			// cleared: a good probe may delete the garbage.
			cleared bool
		}{
			{name: "WrongType/fail", member: "c", bad: true, apply: func(key string) rueidis.Completed {
				return c.B().Set().Key(key).Value("x").Build()
			}},
			{name: "WrongType/clear", member: "a", apply: func(key string) rueidis.Completed {
				return c.B().Set().Key(key).Value("x").Build()
			}},
			{name: "Garbage/fail", member: "c", bad: true, apply: func(key string) rueidis.Completed {
				return c.B().Hset().Key(key).FieldValue().FieldValue("c", "lots").FieldValue("z", "2").Build()
			}},
			{name: "Garbage/clear", member: "a", cleared: true, apply: func(key string) rueidis.Completed {
				return c.B().Hset().Key(key).FieldValue().FieldValue("a", "lots").FieldValue("z", "2").Build()
			}},
		}
		for i, tc := range cases {
			name := fmt.Sprintf("strikes%d", i)
			p, err := pool.New[string](c, b.Prefix, name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Add(ctx, map[string]string{tc.member: "10.0.0.1"}); err != nil {
				t.Fatal(err)
			}
			probe := func(context.Context, string, string) error {
				if tc.bad {
					return errors.New("refused")
				}
				return nil
			}
			ck, err := health.NewChecker(c, b.Prefix, p, probe, health.WithCooldown(time.Second, 3*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			key := b.Prefix + ":{probe:" + name + "}:strikes"
			if err := c.Do(ctx, tc.apply(key)).Error(); err != nil {
				t.Fatal(err)
			}
			dump := func() string {
				v, err := c.Do(ctx, c.B().Dump().Key(key).Build()).ToString()
				return fmt.Sprintf("%q %v", v, err)
			}
			before := dump()
			res, err := ck.CheckOnce(ctx)
			after := dump()
			if tc.cleared {
				n, herr := c.Do(ctx, c.B().Hget().Key(key).Field("z").Build()).ToString()
				if err != nil || herr != nil || n != "2" {
					t.Errorf("%s: CheckOnce = %+v, %v; the other count %q, %v", tc.name, res, err, n, herr)
				}
				continue
			}
			switch {
			case !errors.Is(err, redisallocator.ErrCorrupt):
				t.Errorf("%s: CheckOnce = %+v, %v: error does not match ErrCorrupt", tc.name, res, err)
			case !strings.Contains(err.Error(), key):
				t.Errorf("%s: error does not name %s: %v", tc.name, key, err)
			}
			if before != after {
				t.Errorf("%s: wrote: %s -> %s", tc.name, before, after)
			}
		}
	})
}
