package redisx

import (
	"time"

	"github.com/redis/rueidis"
)

// EmbeddedClientOption is the client option for a miniredis at addr:
// client-side caching off, since miniredis has no CLIENT TRACKING. The
// server itself lives in internal/redisx/embedded, so that this package,
// which every feature package imports, does not link miniredis.
func EmbeddedClientOption(addr string) rueidis.ClientOption {
	// miniredis runs scripts in gopher-lua, two orders of magnitude slower
	// than Redis: a 10,000-member batch, checked member by member before
	// its first write, takes over rueidis's 10 s read timeout under -race
	// on a loaded machine. The embedded server is for tests and demos,
	// where a slow reply is not a dead connection.
	return rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ConnWriteTimeout: time.Minute}
}
