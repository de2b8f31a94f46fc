package redisx_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"
	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/embedded"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/internal/script"
)

var errTestNotHeld = errors.New("test: not held")

// failing raises a mapped code, an unmapped code and a Redis error on demand.
var failing = &script.Script{
	Name: "test_failing",
	Keys: []string{"a key"},
	Args: []string{"which failure"},
	Source: `
if ARGV[1] == 'mapped' then return redis.error_reply('NOT_HELD held by someone else') end
if ARGV[1] == 'unmapped' then return redis.error_reply('WEIRD thing') end
if ARGV[1] == 'wrongtype' then redis.call('SET', KEYS[1], 'x'); return redis.call('HGET', KEYS[1], 'f') end
if ARGV[1] == 'nil' then return false end
return 'ok'`,
	Errors: []script.Code{"NOT_HELD", "WEIRD"},
}

func recorder() (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	sr := tracetest.NewSpanRecorder()
	return sr, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestRunnerRunsScripts(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		r := redisx.NewRunner(b.Client, nil, nil)
		ns, _ := redisx.NewNamespace(b.Prefix, "test", "runner")
		msg, err := r.Run(ctx, script.Ceiling, []string{ns.Key("k")}, nil)
		if err != nil {
			t.Fatalf("ceiling: %v", err)
		}
		if n, err := msg.AsInt64(); err != nil || n != 1 {
			t.Fatalf("ceiling = %d, %v; want 1", n, err)
		}
		msg, err = r.Run(ctx, script.Ping, []string{ns.Key("k")}, nil)
		if err != nil {
			t.Fatalf("ping (read-only): %v", err)
		}
		if ts, err := msg.AsIntSlice(); err != nil || len(ts) != 2 || ts[0] < 1_600_000_000 {
			t.Fatalf("ping = %v, %v; want server time", ts, err)
		}
	})
}

func TestRunnerRecoversFromScriptFlush(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		r := redisx.NewRunner(b.Client, nil, nil)
		ns, _ := redisx.NewNamespace(b.Prefix, "test", "flush")
		if _, err := r.Run(ctx, script.Ceiling, []string{ns.Key("k")}, nil); err != nil {
			t.Fatal(err)
		}
		for _, n := range b.Client.Nodes() {
			if err := n.Do(ctx, n.B().ScriptFlush().Build()).Error(); err != nil {
				t.Fatalf("SCRIPT FLUSH: %v", err)
			}
		}
		// EVALSHA now gets NOSCRIPT and must fall back to EVAL.
		if _, err := r.Run(ctx, script.Ceiling, []string{ns.Key("k")}, nil); err != nil {
			t.Fatalf("after SCRIPT FLUSH: %v", err)
		}
	})
}

func TestRunnerMapsErrors(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		r := redisx.NewRunner(b.Client, nil, map[script.Code]error{"NOT_HELD": errTestNotHeld})
		ns, _ := redisx.NewNamespace(b.Prefix, "test", "errors")
		keys := []string{ns.Key("k")}

		_, err := r.Run(ctx, failing, keys, []string{"mapped"})
		var se *redisx.ScriptError
		if !errors.Is(err, errTestNotHeld) || !errors.As(err, &se) || se.Code != "NOT_HELD" || se.Message != "held by someone else" || se.Script != "test_failing" {
			t.Fatalf("mapped code: %v (%#v)", err, se)
		}

		_, err = r.Run(ctx, failing, keys, []string{"unmapped"})
		var re *rueidis.RedisError
		if !errors.As(err, &se) || se.Code != "WEIRD" || !errors.As(err, &re) || errors.Is(err, errTestNotHeld) {
			t.Fatalf("unmapped code: %v", err)
		}

		_, err = r.Run(ctx, failing, keys, []string{"wrongtype"})
		if !errors.As(err, &re) {
			t.Fatalf("redis error: %v", err)
		}

		msg, err := r.Run(ctx, failing, keys, []string{"nil"})
		if err != nil || !msg.IsNil() {
			t.Fatalf("nil reply: %v, IsNil=%v", err, msg.IsNil())
		}
	})
}

func TestRunnerChecksCallShape(t *testing.T) {
	t.Parallel()
	e, err := embedded.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := redisx.NewRunner(e.Client, nil, nil)
	ctx := context.Background()
	if _, err := r.Run(ctx, script.Ceiling, nil, nil); err == nil {
		t.Error("missing key accepted")
	}
	if _, err := r.Run(ctx, failing, []string{"{a}k"}, nil); err == nil {
		t.Error("missing arg accepted")
	}
	if _, err := r.Run(ctx, nil, nil, nil); err == nil {
		t.Error("nil script accepted")
	}
}

// TestRunnerCrossSlot proves a cross-slot call returns ErrCrossSlot and
// sends nothing, where rueidis alone would panic on a cluster client.
func TestRunnerCrossSlot(t *testing.T) {
	t.Parallel()
	twoKeys := &script.Script{
		Name: "test_two_keys", Keys: []string{"a", "b"},
		Source: "redis.call('SET', KEYS[1], '1'); redis.call('SET', KEYS[2], '1'); return 1",
	}
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		r := redisx.NewRunner(b.Client, nil, nil)
		keys := []string{b.Prefix + ":{a}:x", b.Prefix + ":{b}:y"}
		if redisx.KeySlot(keys[0]) == redisx.KeySlot(keys[1]) {
			t.Fatal("test keys share a slot")
		}
		_, err := r.Run(context.Background(), twoKeys, keys, nil)
		if !errors.Is(err, redisx.ErrCrossSlot) {
			t.Fatalf("err = %v, want ErrCrossSlot", err)
		}
		if ks := b.Keys(t); len(ks) != 0 {
			t.Fatalf("cross-slot call wrote %q", ks)
		}
	})
}

func TestRunnerSpans(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		sr, tp := recorder()
		r := redisx.NewRunner(b.Client, otel.NewProviders(tp, nil), map[script.Code]error{"NOT_HELD": errTestNotHeld})
		ns, _ := redisx.NewNamespace(b.Prefix, "test", "spans")
		keys := []string{ns.Key("k")}

		ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
		if _, err := r.Run(ctx, script.Ceiling, keys, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(ctx, script.Ping, keys, nil); err != nil {
			t.Fatal(err)
		}
		_, _ = r.Run(ctx, failing, keys, []string{"mapped"})
		_, _ = r.Run(ctx, failing, keys, []string{"wrongtype"})
		parent.End()

		spans := sr.Ended()
		if len(spans) != 5 {
			t.Fatalf("got %d spans, want 5", len(spans))
		}
		want := []struct {
			name, op, proc string
			errType        string
		}{
			{"EVALSHA ceiling", "EVALSHA", "ceiling", ""},
			{"EVALSHA_RO ping", "EVALSHA_RO", "ping", ""},
			{"EVALSHA test_failing", "EVALSHA", "test_failing", "NOT_HELD"},
			{"EVALSHA test_failing", "EVALSHA", "test_failing", "WRONGTYPE"},
		}
		for i, w := range want {
			s := spans[i]
			a := attrs(s)
			if s.Name() != w.name || s.SpanKind() != trace.SpanKindClient {
				t.Errorf("span %d: %q kind %v, want %q client", i, s.Name(), s.SpanKind(), w.name)
			}
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %q is not a child of the caller's span", s.Name())
			}
			if a["db.system.name"].AsString() != "redis" || a["db.operation.name"].AsString() != w.op || a["db.stored_procedure.name"].AsString() != w.proc {
				t.Errorf("span %q attributes %v", s.Name(), a)
			}
			if s.InstrumentationScope().Name != otel.ScopeName {
				t.Errorf("scope %q", s.InstrumentationScope().Name)
			}
			if b.Name != redisxtest.BackendCluster {
				if a["server.address"].AsString() == "" || a["server.port"].AsInt64() == 0 {
					t.Errorf("span %q lacks server.address/port: %v", s.Name(), a)
				}
			}
			if w.errType == "" {
				if s.Status().Code == codes.Error {
					t.Errorf("span %q has error status", s.Name())
				}
				if _, ok := a["error.type"]; ok {
					t.Errorf("successful span %q has error.type", s.Name())
				}
				continue
			}
			if s.Status().Code != codes.Error || a["error.type"].AsString() != w.errType || a["db.response.status_code"].AsString() != w.errType {
				t.Errorf("failed span %q: status %v, attributes %v", s.Name(), s.Status(), a)
			}
			if len(s.Events()) == 0 || s.Events()[0].Name != "exception" {
				t.Errorf("failed span %q records no exception event", s.Name())
			}
		}
	})
}

// TestRunnerBatchSpans checks a run that serves several callers: its span
// is the first caller's child, carries the batch size and links to the
// others; every other sampled caller gets an internal span of its own,
// linked to the run's span, with its outcome.
func TestRunnerBatchSpans(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		sr, tp := recorder()
		r := redisx.NewRunner(b.Client, otel.NewProviders(tp, nil), map[script.Code]error{"NOT_HELD": errTestNotHeld})
		r.SetSpanAttributes(attribute.String("redisallocator.pool.name", "p"))
		ns, _ := redisx.NewNamespace(b.Prefix, "test", "batch")
		keys := []string{ns.Key("k")}
		tr := tp.Tracer("test")
		_, first := tr.Start(context.Background(), "first")
		_, second := tr.Start(context.Background(), "second")
		_, third := tr.Start(context.Background(), "third")
		callers := []trace.SpanContext{first.SpanContext(), second.SpanContext(), {}, third.SpanContext()}

		for _, arg := range []string{"ok", "mapped"} {
			sr.Reset()
			ctx := redisx.WithBatch(trace.ContextWithSpanContext(context.Background(), callers[0]), callers)
			_, err := r.Run(ctx, failing, keys, []string{arg})
			if (arg == "mapped") != errors.Is(err, errTestNotHeld) {
				t.Fatalf("%s: err = %v", arg, err)
			}
			spans := sr.Ended()
			if len(spans) != 3 {
				t.Fatalf("%s: %d spans, want the run's and two followers'", arg, len(spans))
			}
			run := spans[0]
			if run.SpanKind() != trace.SpanKindClient || run.Parent().SpanID() != first.SpanContext().SpanID() {
				t.Fatalf("run span: kind %v parent %v", run.SpanKind(), run.Parent().SpanID())
			}
			if got := attrs(run)["db.operation.batch.size"].AsInt64(); got != 4 {
				t.Errorf("run span batch size %d, want 4", got)
			}
			var linked []trace.SpanID
			for _, l := range run.Links() {
				linked = append(linked, l.SpanContext.SpanID())
			}
			if !slices.Equal(linked, []trace.SpanID{second.SpanContext().SpanID(), third.SpanContext().SpanID()}) {
				t.Errorf("run span links %v, want the second and third callers", linked)
			}
			for i, want := range []trace.Span{second, third} {
				f := spans[1+i]
				a := attrs(f)
				if f.Name() != run.Name() || f.SpanKind() != trace.SpanKindInternal {
					t.Errorf("follower %d: %q kind %v", i, f.Name(), f.SpanKind())
				}
				if f.Parent().SpanID() != want.SpanContext().SpanID() || f.SpanContext().TraceID() != want.SpanContext().TraceID() {
					t.Errorf("follower %d is not in its caller's trace", i)
				}
				if len(f.Links()) != 1 || f.Links()[0].SpanContext.SpanID() != run.SpanContext().SpanID() {
					t.Errorf("follower %d links %v, want the run's span", i, f.Links())
				}
				if !f.StartTime().Equal(run.StartTime()) || !f.EndTime().Equal(run.EndTime()) {
					t.Errorf("follower %d times differ from the run's", i)
				}
				if a["db.stored_procedure.name"].AsString() != "test_failing" || a["redisallocator.pool.name"].AsString() != "p" ||
					a["db.operation.batch.size"].AsInt64() != 4 {
					t.Errorf("follower %d attributes %v", i, a)
				}
				if failed := f.Status().Code == codes.Error; failed != (arg == "mapped") || (failed && a["error.type"].AsString() != "NOT_HELD") {
					t.Errorf("%s: follower %d status %v, attributes %v", arg, i, f.Status(), a)
				}
			}
		}
		first.End()
		second.End()
		third.End()

		// One caller is no batch: no attribute, no links.
		sr.Reset()
		ctx := redisx.WithBatch(trace.ContextWithSpanContext(context.Background(), callers[0]), callers[:1])
		if _, err := r.Run(ctx, failing, keys, []string{"ok"}); err != nil {
			t.Fatal(err)
		}
		s := sr.Ended()
		if len(s) != 1 {
			t.Fatalf("a lone call made %d spans", len(s))
		}
		if _, ok := attrs(s[0])["db.operation.batch.size"]; ok || len(s[0].Links()) != 0 {
			t.Fatal("a lone call traced as a batch")
		}
	})
}

func TestRunnerSpanOnTimeout(t *testing.T) {
	t.Parallel()
	e, err := embedded.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sr, tp := recorder()
	r := redisx.NewRunner(e.Client, otel.NewProviders(tp, nil), nil)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = r.Run(ctx, script.Ceiling, []string{"{x}k"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	a := attrs(spans[0])
	if a["error.type"].AsString() != "timeout" {
		t.Errorf("error.type = %q, want timeout", a["error.type"].AsString())
	}
	if _, ok := a["db.response.status_code"]; ok {
		t.Errorf("a client-side timeout has db.response.status_code")
	}
}

// TestRunnerFollowsGlobalProvider checks that a runner built before the
// application sets its tracer provider still reports to it. It changes the
// global provider, so it does not run in parallel.
func TestRunnerFollowsGlobalProvider(t *testing.T) {
	e, err := embedded.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	old := gotel.GetTracerProvider()
	defer gotel.SetTracerProvider(old)

	r := redisx.NewRunner(e.Client, nil, nil) // nil: global, resolved later
	sr1, tp1 := recorder()
	gotel.SetTracerProvider(tp1)
	if _, err := r.Run(context.Background(), script.Ceiling, []string{"{g}k"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(sr1.Ended()) != 1 {
		t.Fatalf("provider set after construction got %d spans, want 1", len(sr1.Ended()))
	}
	sr2, tp2 := recorder()
	gotel.SetTracerProvider(tp2)
	if _, err := r.Run(context.Background(), script.Ceiling, []string{"{g}k"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(sr2.Ended()) != 1 || len(sr1.Ended()) != 1 {
		t.Fatalf("after replacing the global provider: old %d, new %d spans; want 1, 1", len(sr1.Ended()), len(sr2.Ended()))
	}
}

// TestAllScriptsCompile loads every registered script on every node, so a
// Lua syntax error fails here rather than at first use.
func TestAllScriptsCompile(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		for _, s := range script.All() {
			for addr, n := range b.Client.Nodes() {
				if err := n.Do(ctx, n.B().ScriptLoad().Script(s.Source).Build()).Error(); err != nil {
					t.Errorf("%s on %s: %v", s.Name, addr, err)
				}
			}
		}
	})
}
