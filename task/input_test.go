package task_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/redisallocatortest"
	"github.com/redisallocator/redisallocator/task"
)

// Bad input returns a clear error and writes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		bare, err := task.New[job, *res](b.Client, b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		anyQ, err := task.New[any, int](b.Client, b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		ctx := tb.ctx
		long := strings.Repeat("x", 2000)
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"EmptyID", func() error { _, err := tb.q.Submit(ctx, "", job{}); return err }, task.ErrInvalid},
			{"LongID", func() error { _, err := tb.q.Submit(ctx, long, job{}); return err }, task.ErrInvalid},
			{"NULInID", func() error { _, err := tb.q.Submit(ctx, "a\x00b", job{}); return err }, task.ErrInvalid},
			{"EmptyName", func() error { _, err := task.New[job, *res](b.Client, b.Prefix, ""); return err }, redisallocator.ErrInvalidName},
			{"BraceInName", func() error { _, err := task.New[job, *res](b.Client, b.Prefix, "a{b}"); return err }, task.ErrInvalid},
			{"InspectorBadName", func() error { _, err := task.NewInspector(b.Client, b.Prefix, "a{b}"); return err }, task.ErrInvalid},
			{"Unencodable", func() error { _, err := anyQ.Submit(ctx, "x", make(chan int)); return err }, codec.ErrEncode},
			{"UnencodableQuery", func() error { _, err := anyQ.Query(ctx, "x", func() {}, task.Remote()); return err }, task.ErrInvalid},
			{"NoHandlerLocal", func() error { _, err := bare.Query(ctx, "x", job{}, task.Local()); return err }, task.ErrInvalid},
			{"NoHandlerLocalFirst", func() error { _, err := bare.Query(ctx, "x", job{}, task.LocalFirst()); return err }, task.ErrInvalid},
			{"NoHandlerRemoteFirst", func() error { _, err := bare.Query(ctx, "x", job{}, task.RemoteFirst()); return err }, task.ErrInvalid},
			{"NilHandlerRun", func() error { return bare.Run(ctx, nil) }, task.ErrInvalid},
			{"NilTypedHandlerRun", func() error { return bare.Run(ctx, task.Handler[job, *res](nil)) }, task.ErrInvalid},
			{"NilLocalHandler", func() error { return bare.HandleLocally(nil) }, task.ErrInvalid},
			{"NegativeTimeout", func() error { _, err := tb.q.Submit(ctx, "x", job{}, task.Timeout(-time.Second)); return err }, task.ErrInvalid},
			{"SubMillisecondTimeout", func() error {
				_, err := tb.q.Submit(ctx, "x", job{}, task.Timeout(time.Microsecond))
				return err
			}, task.ErrInvalid},
			{"Priority", func() error {
				_, err := tb.q.Submit(ctx, "x", job{}, task.Priority(task.MaxPriority+1))
				return err
			}, task.ErrInvalid},
			{"Attempts", func() error { _, err := tb.q.Submit(ctx, "x", job{}, task.MaxAttempts(-1)); return err }, task.ErrInvalid},
			{"SubmitLocal", func() error { _, err := tb.q.Submit(ctx, "x", job{}, task.Local()); return err }, task.ErrInvalid},
			{"QueryNoWait", func() error { _, err := tb.q.Query(ctx, "x", job{}, task.NoWait()); return err }, task.ErrInvalid},
			{"NilQueryOption", func() error { _, err := tb.q.Query(ctx, "x", job{}, nil); return err }, task.ErrInvalid},
			{"ListenWorkers", func() error { return tb.q.Run(ctx, tb.h.Handle, task.Workers(-1)) }, task.ErrInvalid},
			// The cut-off, 5 heartbeats − 2 heartbeats, must outlast a
			// heartbeat after the keeper's margin (1% + 2ms).
			{"ListenHeartbeatTooShort", func() error {
				return tb.q.Run(ctx, tb.h.Handle, task.Heartbeat(time.Millisecond))
			}, task.ErrInvalid},
			{"ListenGrace", func() error { return tb.q.Run(ctx, tb.h.Handle, task.Grace(-time.Second)) }, task.ErrInvalid},
			{"ListenWorkerID", func() error { return tb.q.Run(ctx, tb.h.Handle, task.WorkerID("a b")) }, task.ErrInvalid},
			{"ListenNilOption", func() error { return tb.q.Run(ctx, tb.h.Handle, nil) }, task.ErrInvalid},
			{"HandleEmptyID", func() error { _, err := tb.q.Handle(""); return err }, task.ErrInvalid},
			{"RequeueBadID", func() error { _, err := tb.insp("work").Requeue(ctx, "ok", ""); return err }, task.ErrInvalid},
			{"DeadLettersCount", func() error { _, err := tb.insp("work").DeadLetters(ctx, 0, 0); return err }, task.ErrInvalid},
		}
		for _, tt := range tests {
			err := tt.call()
			if !errors.Is(err, tt.want) || !errors.Is(err, task.ErrInvalid) {
				t.Errorf("%s: %v, want %v (and ErrInvalid)", tt.name, err, tt.want)
			}
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Errorf("bad input wrote %q", keys)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	r, err := redisallocatortest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := r.Client()
	tests := []struct {
		name string
		new  func() error
		want error
	}{
		{"NilClient", func() error { _, err := task.New[job, *res](nil, "p", "q"); return err }, task.ErrInvalid},
		{"EmptyPrefix", func() error { _, err := task.New[job, *res](c, "", "q"); return err }, task.ErrInvalid},
		{"NilOption", func() error { _, err := task.New[job, *res](c, "p", "q", nil); return err }, task.ErrInvalid},
		{"NilCodec", func() error { _, err := task.New[job, *res](c, "p", "q", task.WithCodec(nil)); return err }, task.ErrInvalid},
		{"NegativeRetention", func() error { _, err := task.New[job, *res](c, "p", "q", task.WithRetention(-1, 0)); return err }, task.ErrInvalid},
		{"NegativeFailedRetention", func() error { _, err := task.New[job, *res](c, "p", "q", task.WithRetention(0, -1)); return err }, task.ErrInvalid},
		{"Attempts", func() error {
			_, err := task.New[job, *res](c, "p", "q", task.WithMaxAttempts(task.MaxAttemptsLimit+1))
			return err
		}, task.ErrInvalid},
		{"NilBackoff", func() error { _, err := task.New[job, *res](c, "p", "q", task.WithBackoff(nil)); return err }, task.ErrInvalid},
		{"Housekeeping", func() error { _, err := task.New[job, *res](c, "p", "q", task.WithHousekeeping(-1)); return err }, task.ErrInvalid},
		{"InspectorNilClient", func() error { _, err := task.NewInspector(nil, "p", "q"); return err }, task.ErrInvalid},
	}
	for _, tt := range tests {
		if err := tt.new(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// Params a worker cannot decode fail the task at once (kind KindDecode, in
// the dead-letter set); the worker keeps going.
func TestUndecodableParams(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		tb.worker(t, "worker", "work")
		// A producer that checks no shape (Queue[any, any]) sends params
		// the worker cannot decode.
		other, err := task.New[any, any](b.Client, b.Prefix, "work")
		if err != nil {
			t.Fatal(err)
		}
		h, err := other.Submit(tb.ctx, "garbage", "not a job", task.MaxAttempts(5))
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Wait(tb.ctx)
		var he *task.HandlerError
		if !errors.As(err, &he) || he.Kind != task.KindDecode || he.Attempt != 1 {
			t.Fatalf("Wait: %v, want kind %s on attempt 1", err, task.KindDecode)
		}
		if dead, _ := tb.insp("work").DeadLetters(tb.ctx, 0, 10); len(dead) != 1 || dead[0].ErrorKind != task.KindDecode {
			t.Errorf("dead letters %+v", dead)
		}
		if r, err := tb.q.Query(tb.ctx, "fine", job{N: 4}, task.Remote()); err != nil || r.N != 8 {
			t.Errorf("the worker after a bad task: %+v, %v", r, err)
		}
		// A caller expecting another result type is refused at once.
		wrong, _ := task.New[job, string](b.Client, b.Prefix, "work")
		_, err = wrong.Query(tb.ctx, "fine2", job{N: 4}, task.Remote())
		if !errors.Is(err, task.ErrShape) {
			t.Errorf("wrong result type: %v, want ErrShape", err)
		}
		// A result that does not decode (a worker that checks no shape
		// answered) is a queue error, not a handler failure.
		loose, _ := task.New[any, any](b.Client, b.Prefix, "loose")
		stop := listenAny(t, loose, task.Handler[any, any](func(context.Context, *task.Task[any]) (any, error) {
			return "a string", nil
		}))
		defer stop()
		strict, _ := task.New[job, *res](b.Client, b.Prefix, "loose")
		_, err = strict.Query(tb.ctx, "fine3", job{N: 4}, task.Remote())
		if !errors.Is(err, codec.ErrDecode) {
			t.Errorf("undecodable result: %v", err)
		}
		checkOutcome(t, err, task.ErrQueue)
	})
}

// Nil handles and handles on missing tasks answer ErrNotFound.
func TestHandleNotFound(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		var nilHandle *task.Handle[*res]
		if _, err := nilHandle.Wait(tb.ctx); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("nil handle Wait: %v", err)
		}
		h, _ := tb.q.Handle("missing")
		if _, err := h.Wait(tb.ctx); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Wait: %v", err)
		}
		if _, err := h.Progress(tb.ctx, -1); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Progress: %v", err)
		}
		if _, err := h.Progress(tb.ctx, 0); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Progress(0): %v", err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Errorf("reads wrote %q", keys)
		}
	})
}
