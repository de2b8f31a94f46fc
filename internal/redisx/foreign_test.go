package redisx

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestForeignContextError(t *testing.T) {
	live := context.Background()
	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()
	near, cancelNear := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelNear()
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	wrapped := fmt.Errorf("pipe: %w", context.DeadlineExceeded)
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil error", live, nil, false},
		{"plain error", live, errors.New("EOF"), false},
		{"deadline, ctx without deadline", live, wrapped, true},
		{"deadline, ctx deadline far", far, wrapped, true},
		{"deadline, ctx deadline now", near, wrapped, false},
		{"canceled, live ctx", far, context.Canceled, true},
		{"canceled, ctx done", done, context.Canceled, false},
	} {
		if got := ForeignContextError(c.ctx, c.err); got != c.want {
			t.Errorf("%s: ForeignContextError = %v, want %v", c.name, got, c.want)
		}
	}
}
