package redisx

import "github.com/redis/rueidis"

// EmbeddedClientOption is the client option for a miniredis at addr:
// client-side caching off, since miniredis has no CLIENT TRACKING. The
// server itself lives in internal/redisx/embedded, so that this package,
// which every feature package imports, does not link miniredis.
func EmbeddedClientOption(addr string) rueidis.ClientOption {
	return rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true}
}
