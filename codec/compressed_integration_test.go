package codec_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// TestCompressedPool stores a large (compressed) and a small (plain) member
// through Pool[T] on every backend, reads values stored before the wrapper
// was introduced, and checks that the large value really is compressed in
// Redis: a pool without the wrapper cannot read it.
func TestCompressedPool(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		zc := mustCompressed(t, codec.CBOR)

		// Values written by a deployment that did not compress yet.
		old, err := pool.New[Large](b.Client, b.Prefix, "items", pool.WithCodec(codec.CBOR))
		if err != nil {
			t.Fatal(err)
		}
		oldValue := largeValue()
		oldValue.ID = "old"
		if _, err := old.Add(ctx, map[string]Large{"old": oldValue}); err != nil {
			t.Fatal(err)
		}

		p, err := pool.New[Large](b.Client, b.Prefix, "items", pool.WithCodec(zc))
		if err != nil {
			t.Fatal(err)
		}
		large := largeValue()
		small := Large{ID: "small", Names: []string{"a"}}
		if _, err := p.Add(ctx, map[string]Large{"large": large, "small": small}); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]Large{"old": oldValue, "large": large, "small": small} {
			got, err := p.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get(%s): %v", key, err)
			}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Get(%s) (-want +got):\n%s", key, diff)
			}
		}

		// Malloc decodes through the codec too.
		a, err := p.MallocMember(ctx, "large", pool.LeaseTTL(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(large, a.Value, cmpOpts); diff != "" {
			t.Errorf("MallocMember(large) (-want +got):\n%s", diff)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}

		// The plain pool still reads the small value, not the compressed one.
		if got, err := old.Get(ctx, "small"); err != nil || got.ID != "small" {
			t.Errorf("plain codec Get(small) = %q, %v", got.ID, err)
		}
		if _, err := old.Get(ctx, "large"); !errors.Is(err, codec.ErrDecode) {
			t.Errorf("plain codec Get(large) error = %v, want ErrDecode (value not compressed?)", err)
		}
	})
}

// TestCompressedQueue runs a task whose params and result are large, so
// both travel compressed, from a caller to a worker with its own client.
func TestCompressedQueue(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		zc := mustCompressed(t, codec.MsgPack)

		worker, err := task.New[Large, Large](b.NewClient(t), b.Prefix, "big", task.WithCodec(zc))
		if err != nil {
			t.Fatal(err)
		}
		in, err := task.NewInspector(b.Client, b.Prefix, "big")
		if err != nil {
			t.Fatal(err)
		}
		stop := listenLarge(t, worker, in, task.Handler[Large, Large](func(_ context.Context, tk *task.Task[Large]) (Large, error) {
			out := tk.Params
			out.ID = "done:" + out.ID
			out.Names = append(out.Names, "worker")
			return out, nil
		}))
		defer stop()

		caller, err := task.New[Large, Large](b.Client, b.Prefix, "big", task.WithCodec(zc))
		if err != nil {
			t.Fatal(err)
		}
		for i, params := range []Large{largeValue(), {ID: "small"}} {
			params.ID = fmt.Sprint(params.ID, "-", i)
			got, err := caller.Query(ctx, fmt.Sprint("job-", i), params, task.Remote())
			if err != nil {
				t.Fatalf("Query %d: %v", i, err)
			}
			want := params
			want.ID = "done:" + params.ID
			want.Names = append(want.Names, "worker")
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Query %d result (-want +got):\n%s", i, diff)
			}
		}
	})
}

// listenLarge runs q.Run with h until stop and returns once the worker is
// registered (in is an inspector of q's queue).
func listenLarge(t *testing.T, q *task.Queue[Large, Large], in *task.Inspector, h task.Handler[Large, Large]) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Run(ctx, h, task.Heartbeat(50*time.Millisecond), task.Grace(5*time.Second))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := in.Stats(context.Background())
		if err == nil && st.Workers > 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("worker did not register: %v (Run: %v)", err, <-done)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}
}
