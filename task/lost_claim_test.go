package task_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestSupersededClaimAfterLostWrite: Redis loses a claim (the AOF tail
// lost in a crash, a failover to a lagging replica) and the same worker
// claims the task again, with the same attempt number. The run of the lost
// claim must not be able to record an outcome, renew or report progress as
// if it were the current one. Issue 13, point 8: (worker, attempt) went
// back with the lost write, so the superseded run's finish was accepted.
func TestSupersededClaimAfterLostWrite(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		q, err := task.New[job, *res](b.Client, b.Prefix, "lost")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Submit(ctx, "t1", job{N: 1}, task.NoWait()); err != nil {
			t.Fatal(err)
		}
		saved := dumpKeys(ctx, t, b)
		first, err := q.ClaimForTest(ctx, "w1", 1, time.Minute)
		if err != nil || len(first) != 1 {
			t.Fatalf("claim: %+v, %v", first, err)
		}
		// The server comes back without the claim.
		restoreKeys(ctx, t, b, saved)
		time.Sleep(5 * time.Millisecond) // the next claim is in a later millisecond
		second, err := q.ClaimForTest(ctx, "w1", 1, time.Minute)
		if err != nil || len(second) != 1 || second[0].ID != first[0].ID || second[0].Attempt != first[0].Attempt {
			t.Fatalf("second claim: %+v, %v; first %+v", second, err, first)
		}
		codes, err := q.BeatForTest(ctx, "w1", time.Second, time.Minute, []task.Claim{first[0], second[0]})
		if err != nil || len(codes) != 2 || codes[0] != 0 || codes[1] != 1 {
			t.Fatalf("heartbeat codes %v, %v; want [0 1]: only the current claim is held", codes, err)
		}
		if err := q.FinishForTest(ctx, "w1", first[0], "fatal", "stale\nfrom the lost claim", 0); !errors.Is(err, task.ErrLost) {
			t.Fatalf("finish of the lost claim = %v, want ErrLost", err)
		}
		if err := q.FinishForTest(ctx, "w1", second[0], "fatal", "current\nfrom the current claim", 0); err != nil {
			t.Fatalf("finish of the current claim: %v", err)
		}
		in, err := task.InspectorOf(q)
		if err != nil {
			t.Fatal(err)
		}
		info, err := in.Info(ctx, "t1")
		if err != nil || info.Status != task.StatusFailed || info.ErrorKind != "current" {
			t.Fatalf("info %+v, %v; want failed by the current claim", info, err)
		}
	})
}

// dumped is one saved key: its type, its contents as a command's
// arguments, and its TTL (ms, 0 none). DUMP would do, but the embedded
// server dumps strings only.
type dumped struct {
	key, typ string
	args     []string
	pttl     int64
}

// dumpKeys saves every key of the test.
func dumpKeys(ctx context.Context, t *testing.T, b *redisxtest.Backend) []dumped {
	t.Helper()
	c := b.Client
	var out []dumped
	for _, k := range b.Keys(t) {
		typ, err := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		d := dumped{key: k, typ: typ}
		switch typ {
		case "string":
			v, err := c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
			if err != nil {
				t.Fatal(err)
			}
			d.args = []string{v}
		case "hash":
			m, err := c.Do(ctx, c.B().Hgetall().Key(k).Build()).AsStrMap()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range m {
				d.args = append(d.args, f, v)
			}
		case "zset":
			zs, err := c.Do(ctx, c.B().Zrange().Key(k).Min("0").Max("-1").Withscores().Build()).AsZScores()
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range zs {
				d.args = append(d.args, strconv.FormatFloat(z.Score, 'f', -1, 64), z.Member)
			}
		case "list":
			if d.args, err = c.Do(ctx, c.B().Lrange().Key(k).Start(0).Stop(-1).Build()).AsStrSlice(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("key %s of type %s", k, typ)
		}
		ttl, err := c.Do(ctx, c.B().Pttl().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		d.pttl = max(ttl, 0)
		out = append(out, d)
	}
	return out
}

// restoreKeys puts the test's keys back as dumpKeys saved them: what a
// server that lost every write since then holds.
func restoreKeys(ctx context.Context, t *testing.T, b *redisxtest.Backend, saved []dumped) {
	t.Helper()
	c := b.Client
	for _, k := range b.Keys(t) {
		if err := c.Do(ctx, c.B().Del().Key(k).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range saved {
		cmd := map[string]string{"string": "SET", "hash": "HSET", "zset": "ZADD", "list": "RPUSH"}[d.typ]
		if err := c.Do(ctx, c.B().Arbitrary(cmd).Keys(d.key).Args(d.args...).Build()).Error(); err != nil {
			t.Fatalf("%s %s: %v", cmd, d.key, err)
		}
		if d.pttl > 0 {
			if err := c.Do(ctx, c.B().Pexpire().Key(d.key).Milliseconds(d.pttl).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
