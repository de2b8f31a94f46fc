package pool

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// keyCodec is the suffix of the key that records the name of the codec a
// pool's values are written with. It is not among the scripts' KEYS: no
// script reads it, and tools (the redisalloc CLI's export and import) read
// it with Inspector.Codec instead of guessing.
const keyCodec = "codec"

// saveCodec records the pool's codec name under the pool's hash tag, once
// per Pool value, after values were written. Plain SET: the latest process
// to write values names the codec they are in. It is advisory: a failure
// is ignored here and tried again on the next write, so Add never fails
// for it.
func (c *core) saveCodec(ctx context.Context) {
	if c.codecSaved.Load() || c.cfg.codec == nil {
		return
	}
	if redisx.Set(ctx, c.client, c.ns.Key(keyCodec), c.cfg.codec.Name()) == nil {
		c.codecSaved.Store(true)
	}
}

// Codec returns the name of the codec (codec.Codec.Name: "cbor", "json",
// "msgpack", "zstd+cbor", ...) that the pool's values were last written
// with by Pool.Add or Pool.Assign, or "" when none recorded one (a pool
// written only by Admin.Import or AddKeys, or by an older version). Tools
// decode exported values with it. One GET.
func (a *Inspector) Codec(ctx context.Context) (string, error) {
	c := a.c
	s, _, err := redisx.Get(ctx, c.client, c.ns.Key(keyCodec))
	if err != nil {
		var re *rueidis.RedisError
		if errors.As(err, &re) && strings.HasPrefix(re.Error(), "WRONGTYPE") {
			// Hostile state: say which key, as the scripts do.
			return "", fmt.Errorf("pool %s: %w: %s is not a string", c.name, redisx.ErrCorrupt, c.ns.Key(keyCodec))
		}
		return "", fmt.Errorf("pool %s: codec: %w", c.name, err)
	}
	return string(s), nil
}
