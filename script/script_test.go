package script_test

import (
	"crypto/sha1" //nolint:gosec // Redis names scripts by SHA1
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/redisallocator/redisallocator/script"
)

func TestAll(t *testing.T) {
	t.Parallel()
	all := script.All()
	if len(all) < 40 {
		t.Fatalf("All() = %d scripts, want every script of the module", len(all))
	}
	if !slices.IsSortedFunc(all, func(a, b script.Script) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("All() is not sorted by name")
	}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
		sum := sha1.Sum([]byte(s.Source)) //nolint:gosec // see the import
		if s.SHA1 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: SHA1 %s does not match its source", s.Name, s.SHA1)
		}
		if strings.Contains(s.Source, "-- @include") {
			t.Errorf("%s: source still holds an include marker", s.Name)
		}
	}
	for _, name := range []string{"pool_malloc", "lock_acquire", "task_enqueue"} {
		if !seen[name] {
			t.Errorf("%s missing", name)
		}
	}
	for _, s := range all {
		if s.Name == "ping" && !s.ReadOnly {
			t.Error("ping is read-only")
		}
	}
}
