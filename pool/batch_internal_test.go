package pool

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/internal/script"
)

func spanCtx(b byte, sampled bool) trace.SpanContext {
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{b}, SpanID: trace.SpanID{b}, TraceFlags: flags,
	})
}

// TestBatchContextParent: a batched run's span hangs under the first
// sampled caller, else the first traced one, and without any traced caller
// the run's context carries nothing.
func TestBatchContextParent(t *testing.T) {
	calls := func(scs ...trace.SpanContext) []*batchCall[int, int] {
		out := make([]*batchCall[int, int], len(scs))
		for i, sc := range scs {
			out[i] = &batchCall[int, int]{span: sc}
		}
		return out
	}
	unsampled, sampled := spanCtx(1, false), spanCtx(2, true)
	for name, tt := range map[string]struct {
		calls []*batchCall[int, int]
		want  trace.SpanContext
	}{
		"FirstSampled":    {calls(trace.SpanContext{}, unsampled, sampled), sampled},
		"FirstTraced":     {calls(trace.SpanContext{}, unsampled, trace.SpanContext{}), unsampled},
		"NoTracing":       {calls(trace.SpanContext{}, trace.SpanContext{}), trace.SpanContext{}},
		"FirstIsSampled":  {calls(sampled, unsampled), sampled},
		"UnsampledFirsts": {calls(unsampled, spanCtx(3, false), sampled), sampled},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := batchContext(tt.calls)
			if got := trace.SpanContextFromContext(ctx); !got.Equal(tt.want) {
				t.Fatalf("parent %v, want %v", got, tt.want)
			}
			if !tt.want.IsValid() && ctx != context.Background() {
				t.Fatal("a batch without tracing got a context of its own")
			}
		})
	}
}

// TestFreeScriptRejectsOddArguments: a member without its token is
// malformed input, refused before anything changes.
func TestFreeScriptRejectsOddArguments(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		p, err := New[string](b.Client, b.Prefix, "odd")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(t.Context(), []string{"a"}); err != nil {
			t.Fatal(err)
		}
		l, err := p.Malloc(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.c.runScript(t.Context(), script.PoolFree, []string{"a", "", "a"})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("pool_free with an odd argument count = %v, want ErrInvalid", err)
		}
		if s, err := p.Admin().State(t.Context(), l.Key); err != nil || s != StateHeld {
			t.Fatalf("member after the refused free: %s, %v; want held", s, err)
		}
	})
}

// TestWaitBound: one wait never outlasts maxWait, whatever WithWaitPoll
// says (the scripts drop a waiter silent for 60 s and owe it no wake-ups),
// and ends when the next timer is due.
func TestWaitBound(t *testing.T) {
	for _, tc := range []struct{ poll, hint, want time.Duration }{
		{2 * time.Second, 0, 2 * time.Second},
		{2 * time.Minute, 0, maxWait},
		{2 * time.Minute, -1, maxWait},
		{2 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond},
		{2 * time.Minute, time.Minute, maxWait},
	} {
		if got := waitBound(tc.poll, tc.hint); got != tc.want {
			t.Errorf("waitBound(%v, %v) = %v, want %v", tc.poll, tc.hint, got, tc.want)
		}
	}
	if maxWait >= 60*time.Second {
		t.Errorf("maxWait %v must stay well under the scripts' 60 s waiter staleness", maxWait)
	}
}

// TestMillisecondsRoundUp: every duration sent to the scripts is rounded
// up, so a TTL of 1.5ms is a 2ms lease, never a 1ms one (and a positive
// duration never becomes 0, which the scripts read as "permanent").
func TestMillisecondsRoundUp(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Millisecond:                "1",
		1500 * time.Microsecond:         "2",
		time.Microsecond:                "1",
		2*time.Second + time.Nanosecond: "2001",
		0:                               "0",
	} {
		if got := ms(d); got != want {
			t.Errorf("ms(%v) = %s, want %s", d, got, want)
		}
	}
	mc := mallocConfig{ttl: 1500 * time.Microsecond, bindTTL: time.Microsecond}
	args := mallocArgs{n: 1, token: "t", mc: mc}.args()
	if args[2] != "2" || args[6] != "1" {
		t.Errorf("malloc args %q: lease TTL and binding TTL not rounded up", args)
	}
}
