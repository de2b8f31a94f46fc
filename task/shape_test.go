package task_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// Email is what a mail queue gets; issue 12's caller sent it to the
// thumbnail queue (whose workers expect Resize, see example_test.go) by
// mistake.
type Email struct {
	To, Subject string
}

// A queue used with the wrong params type fails at once with ErrShape, in
// Submit and Query, and writes no task; a worker of another shape claims
// nothing and cannot join live workers of the recorded shape.
func TestWrongShapeFailsAtOnce(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		ran := make(chan Email, 1)
		worker, err := task.New[Resize, Thumb](secondClient(t, b), b.Prefix, "thumbs")
		if err != nil {
			t.Fatal(err)
		}
		listenAny(t, worker, task.Handler[Resize, Thumb](func(_ context.Context, tk *task.Task[Resize]) (Thumb, error) {
			return Thumb{Name: tk.Params.Image}, nil
		}))
		wrong, err := task.New[Email, Thumb](b.Client, b.Prefix, "thumbs")
		if err != nil {
			t.Fatal(err)
		}
		in := inspectorOf(t, wrong)
		if _, err := wrong.Submit(ctx, "e1", Email{To: "a@b.c"}); !errors.Is(err, task.ErrShape) {
			t.Fatalf("Submit with the wrong params type: %v, want ErrShape", err)
		}
		if _, err := wrong.Query(ctx, "e2", Email{To: "a@b.c"}, task.Remote()); !errors.Is(err, task.ErrShape) {
			t.Fatalf("Query with the wrong params type: %v, want ErrShape", err)
		}
		if _, err := wrong.Query(ctx, "e3", Email{To: "a@b.c"}); !errors.Is(err, task.ErrShape) {
			t.Fatalf("Query (Auto) with the wrong params type: %v, want ErrShape", err)
		}
		if st, err := in.Stats(ctx); err != nil || st.Records != 0 {
			t.Fatalf("after refused submissions: %+v, %v; want no record", st, err)
		}
		// A worker of the wrong shape cannot join the live ones...
		err = wrong.Run(ctx, task.Handler[Email, Thumb](func(_ context.Context, tk *task.Task[Email]) (Thumb, error) {
			ran <- tk.Params
			return Thumb{}, nil
		}))
		if !errors.Is(err, task.ErrShape) {
			t.Fatalf("Run of the wrong shape beside live workers: %v, want ErrShape", err)
		}
		// ... and claims nothing (the second line, for one that raced in).
		if _, err := wrong.ClaimForTest(ctx, "w-wrong", 1, task.DefaultLeaseTTL); !errors.Is(err, task.ErrShape) {
			t.Fatalf("claim of the wrong shape: %v, want ErrShape", err)
		}
		// The right shape still works, also from a program whose struct
		// has the same fields under another name.
		type myResize struct {
			Image string `json:"image" msgpack:"image" cbor:"image"`
			Width int    `json:"width" msgpack:"width" cbor:"width"`
		}
		right, err := task.New[myResize, *Thumb](b.Client, b.Prefix, "thumbs")
		if err != nil {
			t.Fatal(err)
		}
		th, err := right.Query(ctx, "r1", myResize{Image: "cat.png"}, task.Remote())
		if err != nil || th.Name != "cat.png" {
			t.Fatalf("Query of the right shape: %+v, %v", th, err)
		}
		select {
		case p := <-ran:
			t.Fatalf("a wrong-shape handler ran with %+v", p)
		default:
		}
	})
}

// With no live worker, a worker of a new shape takes the name over (a
// deploy that changes the params type), and submitters of the old shape
// are refused from then on.
func TestShapeTakeoverWithoutLiveWorkers(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		old, err := task.New[Email, Thumb](b.Client, b.Prefix, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		pending, err := old.Submit(ctx, "o1", Email{To: "x"})
		if err != nil {
			t.Fatal(err) // the first submitter records its shape
		}
		next, err := task.New[Resize, Thumb](secondClient(t, b), b.Prefix, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		ran := make(chan Resize, 1)
		stop := listenAny(t, next, task.Handler[Resize, Thumb](func(_ context.Context, tk *task.Task[Resize]) (Thumb, error) {
			ran <- tk.Params
			return Thumb{}, nil
		}))
		defer stop()
		// The task queued under the old shape fails (kind "shape") instead
		// of running on zero values.
		_, err = pending.Wait(ctx)
		var he *task.HandlerError
		if !errors.As(err, &he) || he.Kind != "shape" || he.Attempt != 1 {
			t.Fatalf("old-shape task after the takeover: %v, want kind shape", err)
		}
		select {
		case p := <-ran:
			t.Fatalf("the new worker ran an old-shape task with %+v", p)
		default:
		}
		if _, err := old.Submit(ctx, "o2", Email{To: "y"}); !errors.Is(err, task.ErrShape) {
			t.Fatalf("old-shape Submit after the takeover: %v, want ErrShape", err)
		}
	})
}

func TestShapeFingerprint(t *testing.T) {
	t.Parallel()
	type node struct {
		Val  int
		Next *node
	}
	type tagged struct {
		Image string `cbor:"img"`
		Width int    `cbor:"width"`
	}
	type hidden struct {
		Image string `json:"image" msgpack:"image" cbor:"image"`
		Width int    `json:"width" msgpack:"width" cbor:"width"`
		cache []byte //nolint:unused // not encoded, so not part of the shape
	}
	shape := func(q interface{ Shape() string }, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return q.Shape()
	}
	c := redisxtest.New(t, redisxtest.BackendMini).Client
	base := shape(task.New[Resize, Thumb](c, "p", "q"))
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"PointerResult", shape(task.New[Resize, *Thumb](c, "p", "q")), true},
		{"UnexportedFieldIgnored", shape(task.New[hidden, Thumb](c, "p", "q")), true},
		{"OtherParams", shape(task.New[Email, Thumb](c, "p", "q")), false},
		{"OtherTags", shape(task.New[tagged, Thumb](c, "p", "q")), false},
		{"OtherCodec", shape(task.New[Resize, Thumb](c, "p", "q", task.WithCodec(codec.JSON))), false},
		{"SwappedTypes", shape(task.New[Thumb, Resize](c, "p", "q")), false},
		{"Recursive", shape(task.New[node, []node](c, "p", "q")), false},
	}
	for _, tt := range tests {
		if (tt.got == base) != tt.same {
			t.Errorf("%s: shape %q, base %q, want same=%v", tt.name, tt.got, base, tt.same)
		}
	}
	if s := shape(task.New[any, any](c, "p", "q")); s != "" {
		t.Errorf("Queue[any, any] has shape %q, want none", s)
	}
}
