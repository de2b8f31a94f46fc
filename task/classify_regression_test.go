package task

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestClassifyForeignDeadline: rueidis hands one caller's ctx deadline to
// every command on the same connection (pipe.failSync stores
// context.DeadlineExceeded as the pipe's error), so a Redis call may fail
// with context.DeadlineExceeded while the caller's own ctx is fine. That is
// a transport failure (ErrQueue), not the task's timeout: the torture run
// (benchmarks/torture) saw Wait return ErrTimeout 2.5 s into a 16-minute
// task that then succeeded.
func TestClassifyForeignDeadline(t *testing.T) {
	for _, foreign := range []error{context.DeadlineExceeded, context.Canceled} {
		err := classify(context.Background(), foreign)
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrCanceled) || !errors.Is(err, ErrQueue) {
			t.Errorf("classify(live ctx, %v) = %v; want ErrQueue only", foreign, err)
		}
	}
}

// A ctx that really ended keeps its own outcome, whatever the error says.
func TestClassifyOwnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := classify(ctx, errors.New("io: closed")); !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("classify(cancelled ctx) = %v; want ErrCanceled and context.Canceled", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(time.Millisecond))
	defer dcancel()
	// rueidis may report the deadline a moment before ctx.Err() does.
	if err := classify(dctx, context.DeadlineExceeded); !errors.Is(err, ErrTimeout) {
		t.Fatalf("classify(ctx at its deadline, DeadlineExceeded) = %v; want ErrTimeout", err)
	}
	if err := classify(context.Background(), context.DeadlineExceeded); errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("classify(live ctx, foreign deadline) = %v; must not match the caller's own context error", err)
	}
}
