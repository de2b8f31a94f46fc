package pool_test

import (
	"errors"
	"testing"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestInspectorCodec: Add and Assign record the pool's codec name, which
// tools read with Inspector.Codec without knowing T; a pool nobody wrote
// values to has none; a foreign key where the name belongs is ErrCorrupt.
func TestInspectorCodec(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		zstd, err := codec.Compressed(codec.MsgPack)
		if err != nil {
			t.Fatal(err)
		}
		codecOf := func(t *testing.T, name string) string {
			t.Helper()
			in, err := pool.NewInspector(b.Client, b.Prefix, name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := in.Codec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		for name, c := range map[string]codec.Codec{"default": nil, "json": codec.JSON, "msgpack": codec.MsgPack, "zstd": zstd} {
			var opts []pool.Option
			want := "cbor"
			if c != nil {
				opts, want = append(opts, pool.WithCodec(c)), c.Name()
			}
			p, err := pool.New[proxy](b.Client, b.Prefix, name, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := codecOf(t, name); got != "" {
				t.Errorf("%s before any write: codec %q, want none", name, got)
			}
			if name == "zstd" {
				_, _, err = p.Assign(ctx, map[string]proxy{"m1": {Addr: "a"}})
			} else {
				_, err = p.Add(ctx, map[string]proxy{"m1": {Addr: "a"}})
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := codecOf(t, name); got != want {
				t.Errorf("%s: codec %q, want %q", name, got, want)
			}
		}
		if err := b.Client.Do(ctx, b.Client.B().Hset().Key(b.Prefix+":{pool:bad}:codec").FieldValue().FieldValue("x", "y").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		in, err := pool.NewInspector(b.Client, b.Prefix, "bad")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Codec(ctx); !errors.Is(err, redisallocator.ErrCorrupt) {
			t.Errorf("codec key of the wrong type: %v, want ErrCorrupt", err)
		}
	})
}
