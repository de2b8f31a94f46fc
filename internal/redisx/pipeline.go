package redisx

import (
	"context"
	"crypto/sha1" //nolint:gosec // EVALSHA names scripts by their SHA-1; not a security use
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Call is one script run of a pipeline.
type Call struct {
	Script *script.Script
	Keys   []string
	Args   []string
}

// Reply is the outcome of one Call, as Run would return it.
type Reply struct {
	Msg rueidis.RedisMessage
	Err error
}

var shaCache sync.Map // *script.Script -> string

func shaOf(s *script.Script) string {
	if v, ok := shaCache.Load(s); ok {
		return v.(string)
	}
	sum := sha1.Sum([]byte(s.Source)) //nolint:gosec // see the import
	sha := hex.EncodeToString(sum[:])
	shaCache.Store(s, sha)
	return sha
}

// RunPipeline runs calls in one round trip: their EVALSHA commands are
// sent together, and a server runs them one after the other in the given
// order when all their keys share a slot (commands of other clients may
// run between two of them). A call the server does not know yet (NOSCRIPT)
// is run again with Run, and so is every call after it, in order, so that
// no call acts on state an earlier one was meant to change first.
// Read-only scripts go out as ordinary EVALSHA. Each call gets its own
// span; the replies and errors are those Run gives, one per call.
func (r *Runner) RunPipeline(ctx context.Context, calls ...Call) []Reply {
	out := make([]Reply, len(calls))
	for i, c := range calls {
		if err := checkCall(c.Script, c.Keys, c.Args); err != nil {
			return fill(out, err)
		}
		if err := SameSlot(c.Keys); err != nil {
			return fill(out, fmt.Errorf("script %s: %w", c.Script.Name, err))
		}
		if i > 0 && len(c.Keys) > 0 && len(calls[0].Keys) > 0 && KeySlot(c.Keys[0]) != KeySlot(calls[0].Keys[0]) {
			return fill(out, fmt.Errorf("script %s: %w", c.Script.Name, ErrCrossSlot))
		}
	}
	tracer := r.prov.Tracer()
	cmds := make(rueidis.Commands, len(calls))
	spans := make([]trace.Span, len(calls))
	for i, c := range calls {
		cmds[i] = r.client.B().Evalsha().Sha1(shaOf(c.Script)).Numkeys(int64(len(c.Keys))).Key(c.Keys...).Arg(c.Args...).Build()
		_, spans[i] = otel.StartScript(ctx, tracer, c.Script.Name, false, r.serverInfo())
		if len(r.attrs) > 0 && spans[i].IsRecording() {
			spans[i].SetAttributes(r.attrs...)
		}
	}
	res := r.client.DoMulti(ctx, cmds...)
	for i, c := range calls {
		if re, ok := rueidis.IsRedisErr(res[i].Error()); ok && re.IsNoScript() {
			// Run loads the script (EVAL) and runs it, in a span of its
			// own; every later call is repeated after it, in order.
			for j := i; j < len(calls); j++ {
				spans[j].End()
				out[j].Msg, out[j].Err = r.Run(ctx, calls[j].Script, calls[j].Keys, calls[j].Args)
			}
			return out
		}
		msg, err := res[i].ToMessage()
		if err != nil && rueidis.IsRedisNil(err) {
			err = nil
		}
		var f otel.Failure
		if err != nil {
			f, err = r.mapError(ctx, c.Script, err)
		}
		otel.EndScript(spans[i], err, f)
		out[i] = Reply{Msg: msg, Err: err}
	}
	return out
}

func fill(out []Reply, err error) []Reply {
	for i := range out {
		out[i].Err = err
	}
	return out
}
