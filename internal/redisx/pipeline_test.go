package redisx_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/internal/script"
)

// appendArg appends ARGV[1] to the string at KEYS[1] and returns it.
var appendArg = &script.Script{
	Name:   "test_append",
	Keys:   []string{"a string"},
	Args:   []string{"what to append"},
	Source: `redis.call('APPEND', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])`,
}

// TestRunPipelineInOrder: the calls run in order, each reply is its own,
// errors are mapped per call, and a script unknown to the server (after
// SCRIPT FLUSH) is loaded, with the calls after it run again in order.
func TestRunPipelineInOrder(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := context.Background()
		r := redisx.NewRunner(b.Client, nil, map[script.Code]error{"NOT_HELD": errTestNotHeld})
		ns, _ := redisx.NewNamespace(b.Prefix, "test", "pipeline")
		keys := []string{ns.Key("s")}
		call := func(arg string) redisx.Call { return redisx.Call{Script: appendArg, Keys: keys, Args: []string{arg}} }
		for round, want := range []string{"abc", "abcabc"} {
			if round == 1 {
				for _, n := range b.Client.Nodes() {
					if err := n.Do(ctx, n.B().ScriptFlush().Build()).Error(); err != nil {
						t.Fatalf("SCRIPT FLUSH: %v", err)
					}
				}
			}
			rep := r.RunPipeline(ctx, call("a"), call("b"), call("c"))
			if len(rep) != 3 {
				t.Fatalf("%d replies", len(rep))
			}
			if v, err := rep[2].Msg.ToString(); rep[2].Err != nil || err != nil || v != want {
				t.Fatalf("round %d: last reply %q, %v, %v; want %q", round, v, rep[2].Err, err, want)
			}
			if v, _ := rep[0].Msg.ToString(); v != want[:len(want)-2] {
				t.Fatalf("round %d: first reply %q", round, v)
			}
		}
		rep := r.RunPipeline(ctx,
			redisx.Call{Script: failing, Keys: keys, Args: []string{"mapped"}},
			redisx.Call{Script: failing, Keys: keys, Args: []string{"ok"}})
		if !errors.Is(rep[0].Err, errTestNotHeld) || rep[1].Err != nil {
			t.Fatalf("errors %v, %v", rep[0].Err, rep[1].Err)
		}
		// Calls in different slots are refused before sending.
		other, _ := redisx.NewNamespace(b.Prefix, "test", "pipeline-other")
		rep = r.RunPipeline(ctx, call("x"), redisx.Call{Script: appendArg, Keys: []string{other.Key("s")}, Args: []string{"y"}})
		if !errors.Is(rep[0].Err, redisx.ErrCrossSlot) || !errors.Is(rep[1].Err, redisx.ErrCrossSlot) {
			t.Fatalf("cross-slot: %v, %v", rep[0].Err, rep[1].Err)
		}
	})
}
