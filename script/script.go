package script

import (
	"crypto/sha1" //nolint:gosec // SHA1 is how Redis names a script (SCRIPT LOAD, EVALSHA), not a security measure
	"encoding/hex"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Script is one atomic operation of the module: the Lua text Redis runs and
// the name Redis knows it by.
type Script struct {
	// Name is the operation, for example "pool_malloc". Spans name the
	// script run "EVALSHA <Name>".
	Name string
	// SHA1 is the hex digest of Source: what SCRIPT LOAD returns and
	// EVALSHA sends.
	SHA1 string
	// Source is the Lua text with its shared helpers already included.
	Source string
	// ReadOnly scripts run with EVALSHA_RO and may go to replicas.
	ReadOnly bool
}

// All returns every script of the module, sorted by name. Operators who
// preload scripts (SCRIPT LOAD on every node, for example after a failover)
// load each Source and may check the SHA1 Redis answers against it.
func All() []Script {
	all := script.All()
	out := make([]Script, len(all))
	for i, s := range all {
		sum := sha1.Sum([]byte(s.Source)) //nolint:gosec // see the import
		out[i] = Script{Name: s.Name, SHA1: hex.EncodeToString(sum[:]), Source: s.Source, ReadOnly: s.ReadOnly}
	}
	return out
}
