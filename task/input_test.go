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
		bare, err := task.New[job, *res](b.Client, b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		anyQ, err := task.New[any, int](b.Client, b.Prefix)
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
			{"EmptyID", func() error { _, err := tb.q.Submit(ctx, "", "work", job{}); return err }, task.ErrInvalidName},
			{"LongID", func() error { _, err := tb.q.Submit(ctx, long, "work", job{}); return err }, task.ErrInvalidName},
			{"NULInID", func() error { _, err := tb.q.Submit(ctx, "a\x00b", "work", job{}); return err }, task.ErrInvalidName},
			{"EmptyName", func() error { _, err := tb.q.Query(ctx, "x", "", job{}); return err }, redisallocator.ErrInvalidName},
			{"BraceInName", func() error { _, err := tb.q.Query(ctx, "x", "a{b}", job{}); return err }, task.ErrInvalidName},
			{"Unencodable", func() error { _, err := anyQ.Submit(ctx, "x", "work", make(chan int)); return err }, codec.ErrEncode},
			{"UnencodableQuery", func() error { _, err := anyQ.Query(ctx, "x", "work", func() {}, task.Via(task.Remote)); return err }, task.ErrInvalidParams},
			{"NoHandlerLocal", func() error { _, err := bare.Query(ctx, "x", "work", job{}, task.Via(task.Local)); return err }, task.ErrNoHandler},
			{"NoHandlerLocalFirst", func() error { _, err := bare.Query(ctx, "x", "work", job{}, task.Via(task.LocalFirst)); return err }, task.ErrNoHandler},
			{"NoHandlerRemoteFirst", func() error { _, err := bare.Query(ctx, "x", "work", job{}, task.Via(task.RemoteFirst)); return err }, task.ErrNoHandler},
			{"NoHandlerListen", func() error { return bare.Listen(ctx, []string{"work"}) }, task.ErrNoHandler},
			{"NegativeTimeout", func() error { _, err := tb.q.Submit(ctx, "x", "work", job{}, task.Timeout(-time.Second)); return err }, task.ErrInvalidDuration},
			{"NegativeDelay", func() error { _, err := tb.q.Submit(ctx, "x", "work", job{}, task.Delay(-time.Second)); return err }, task.ErrInvalidDuration},
			{"SubMillisecondTimeout", func() error {
				_, err := tb.q.Submit(ctx, "x", "work", job{}, task.Timeout(time.Microsecond))
				return err
			}, task.ErrInvalidDuration},
			{"DelayAndAt", func() error {
				_, err := tb.q.Submit(ctx, "x", "work", job{}, task.Delay(time.Second), task.At(time.Now()))
				return err
			}, task.ErrInvalidOption},
			{"Priority", func() error {
				_, err := tb.q.Submit(ctx, "x", "work", job{}, task.Priority(task.MaxPriority+1))
				return err
			}, task.ErrInvalidOption},
			{"Attempts", func() error { _, err := tb.q.Submit(ctx, "x", "work", job{}, task.MaxAttempts(-1)); return err }, task.ErrInvalidOption},
			{"UnknownPolicy", func() error { _, err := tb.q.Query(ctx, "x", "work", job{}, task.Via(task.Policy(42))); return err }, task.ErrInvalidOption},
			{"SubmitLocal", func() error { _, err := tb.q.Submit(ctx, "x", "work", job{}, task.Via(task.Local)); return err }, task.ErrInvalidOption},
			{"NilQueryOption", func() error { _, err := tb.q.Query(ctx, "x", "work", job{}, nil); return err }, task.ErrInvalidOption},
			{"ListenNoNames", func() error { return tb.q.Listen(ctx, nil) }, task.ErrInvalidName},
			{"ListenBadName", func() error { return tb.q.Listen(ctx, []string{"ok", ""}) }, task.ErrInvalidName},
			{"ListenWorkers", func() error { return tb.q.Listen(ctx, []string{"work"}, task.Workers(-1)) }, task.ErrInvalidOption},
			{"ListenLease", func() error {
				return tb.q.Listen(ctx, []string{"work"}, task.Heartbeat(time.Second), task.LeaseTTL(time.Second))
			}, task.ErrInvalidDuration},
			{"ListenGrace", func() error { return tb.q.Listen(ctx, []string{"work"}, task.Grace(-time.Second)) }, task.ErrInvalidDuration},
			{"ListenWorkerID", func() error { return tb.q.Listen(ctx, []string{"work"}, task.WorkerID("a b")) }, task.ErrInvalidOption},
			{"ListenNilOption", func() error { return tb.q.Listen(ctx, []string{"work"}, nil) }, task.ErrInvalidOption},
			{"HandleEmptyID", func() error { _, err := tb.q.Handle("work", ""); return err }, task.ErrInvalidName},
			{"RequeueBadID", func() error { _, err := tb.q.Requeue(ctx, "work", "ok", ""); return err }, task.ErrInvalidName},
			{"DeadLettersCount", func() error { _, err := tb.q.DeadLetters(ctx, "work", 0, 0); return err }, task.ErrInvalidOption},
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
	wrongTypes := task.WithHandlerFunc(func(context.Context, *task.Task[string]) (int, error) { return 0, nil })
	tests := []struct {
		name string
		new  func() error
		want error
	}{
		{"NilClient", func() error { _, err := task.New[job, *res](nil, "p"); return err }, task.ErrInvalidOption},
		{"EmptyPrefix", func() error { _, err := task.New[job, *res](c, ""); return err }, task.ErrInvalidName},
		{"NilOption", func() error { _, err := task.New[job, *res](c, "p", nil); return err }, task.ErrInvalidOption},
		{"NilCodec", func() error { _, err := task.New[job, *res](c, "p", task.WithCodec(nil)); return err }, task.ErrInvalidOption},
		{"HandlerTypes", func() error { _, err := task.New[job, *res](c, "p", wrongTypes); return err }, task.ErrInvalidOption},
		{"NilHandlerFunc", func() error {
			_, err := task.New[job, *res](c, "p", task.WithHandlerFunc[job, *res](nil))
			return err
		}, task.ErrInvalidOption},
		{"NegativeRetention", func() error { _, err := task.New[job, *res](c, "p", task.WithRetention(-1)); return err }, task.ErrInvalidDuration},
		{"Attempts", func() error {
			_, err := task.New[job, *res](c, "p", task.WithMaxAttempts(task.MaxAttemptsLimit+1))
			return err
		}, task.ErrInvalidOption},
		{"NilBackoff", func() error { _, err := task.New[job, *res](c, "p", task.WithBackoff(nil)); return err }, task.ErrInvalidOption},
		{"Housekeeping", func() error { _, err := task.New[job, *res](c, "p", task.WithHousekeeping(-1)); return err }, task.ErrInvalidOption},
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
		tb.worker(t, "worker", []string{"work"})
		// A producer with other types shares the queue by mistake.
		other, err := task.New[string, *res](b.Client, b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		h, err := other.Submit(tb.ctx, "garbage", "work", "not a job", task.MaxAttempts(5))
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Wait(tb.ctx)
		var he *task.HandlerError
		if !errors.As(err, &he) || he.Kind != task.KindDecode || he.Attempt != 1 {
			t.Fatalf("Wait: %v, want kind %s on attempt 1", err, task.KindDecode)
		}
		if dead, _ := tb.q.DeadLetters(tb.ctx, "work", 0, 10); len(dead) != 1 || dead[0].ErrorKind != task.KindDecode {
			t.Errorf("dead letters %+v", dead)
		}
		if r, err := tb.q.Query(tb.ctx, "fine", "work", job{N: 4}, task.Via(task.Remote)); err != nil || r.N != 8 {
			t.Errorf("the worker after a bad task: %+v, %v", r, err)
		}
		// A result the caller cannot decode is a queue error, not a
		// handler failure.
		wrong, _ := task.New[job, string](b.Client, b.Prefix)
		_, err = wrong.Query(tb.ctx, "fine2", "work", job{N: 4}, task.Via(task.Remote))
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
		h, _ := tb.q.Handle("work", "missing")
		if _, err := h.Wait(tb.ctx); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Wait: %v", err)
		}
		if _, err := h.Progress(tb.ctx); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("Progress: %v", err)
		}
		if _, err := h.WaitProgress(tb.ctx, 0); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("WaitProgress: %v", err)
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Errorf("reads wrote %q", keys)
		}
	})
}
