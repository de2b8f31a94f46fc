package redisxtest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/rueidis"
)

// ReadKeys reads each key's type, content and whether it expires, in a form
// that compares equal exactly when nothing was written to them; keys maps a
// name of the caller's choice to the Redis key. It reads contents with
// plain commands rather than DUMP, which miniredis supports for strings
// only, so tests of "hostile state writes nothing" run on every backend.
func ReadKeys(t testing.TB, ctx context.Context, c rueidis.Client, keys map[string]string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(keys))
	for name, k := range keys {
		typ, err := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "none":
		case "string":
			v, err = c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
		case "hash":
			v, err = c.Do(ctx, c.B().Hgetall().Key(k).Build()).AsStrMap()
		case "set":
			var m []string
			m, err = c.Do(ctx, c.B().Smembers().Key(k).Build()).AsStrSlice()
			slices.Sort(m)
			v = m
		case "zset":
			v, err = c.Do(ctx, c.B().Zrange().Key(k).Min("0").Max("-1").Withscores().Build()).AsStrSlice()
		case "list":
			v, err = c.Do(ctx, c.B().Lrange().Key(k).Start(0).Stop(-1).Build()).AsStrSlice()
		default:
			t.Fatalf("redisxtest: key %s has type %s", k, typ)
		}
		if err != nil {
			t.Fatalf("redisxtest: reading %s: %v", k, err)
		}
		ttl, err := c.Do(ctx, c.B().Pttl().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = fmt.Sprintf("%s %v expires=%v", typ, v, ttl >= 0)
	}
	return out
}
