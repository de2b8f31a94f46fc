package redisxtest

import (
	"context"
	"sort"
	"testing"
	"time"
)

// KeyDump returns the backend's data under the test's prefix, to compare
// before and after a call that must write nothing: miniredis's whole text
// dump under "*", or each key's DUMP on a real server (TTLs are left out:
// they count down by themselves).
func (b *Backend) KeyDump(t testing.TB) map[string]string {
	t.Helper()
	if !b.Real() {
		return map[string]string{"*": b.Mini.Dump()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := b.Keys(t)
	sort.Strings(keys)
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := b.Client.Do(ctx, b.Client.B().Dump().Key(k).Build()).ToString()
		if err != nil {
			t.Fatalf("redisxtest: DUMP %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}
