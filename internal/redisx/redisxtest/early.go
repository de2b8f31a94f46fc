package redisxtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"testing"
)

// EndsEarly checks calls that must end before they touch Redis: each call
// is made with a nil ctx (it must return an error matching invalid, not
// panic) and with an already-cancelled ctx (an error matching
// context.Canceled), and none of them may change anything under the
// backend's prefix (KeyDump before and after).
func EndsEarly(t *testing.T, b *Backend, invalid error, calls map[string]func(ctx context.Context) error) {
	t.Helper()
	before := b.KeyDump(t)
	var nilCtx context.Context // what a caller passes by mistake
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		call := calls[name]
		if err := safeCall(nilCtx, call); !errors.Is(err, invalid) {
			t.Errorf("%s(nil ctx) = %v, want an error matching %v", name, err, invalid)
		}
		if err := safeCall(cancelled, call); !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled ctx) = %v, want an error matching context.Canceled", name, err)
		}
	}
	if after := b.KeyDump(t); !maps.Equal(before, after) {
		t.Errorf("calls with a nil or cancelled ctx wrote to Redis:\nbefore %q\nafter  %q", before, after)
	}
}

// safeCall runs call(ctx), turning a panic into an error.
func safeCall(ctx context.Context, call func(ctx context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return call(ctx)
}
