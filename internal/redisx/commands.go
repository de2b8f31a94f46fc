package redisx

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// The few plain commands feature packages need besides scripts. Each
// returns found=false (and no error) for a missing key or field.

// HGet reads one hash field from Redis.
func HGet(ctx context.Context, c rueidis.Client, key, field string) (val []byte, found bool, err error) {
	return bytesReply(c.Do(ctx, c.B().Hget().Key(key).Field(field).Build()))
}

// Get reads a string key from Redis.
func Get(ctx context.Context, c rueidis.Client, key string) (val []byte, found bool, err error) {
	return bytesReply(c.Do(ctx, c.B().Get().Key(key).Build()))
}

// Set writes a string key (of any type before: SET replaces it).
func Set(ctx context.Context, c rueidis.Client, key, value string) error {
	return c.Do(ctx, c.B().Set().Key(key).Value(value).Build()).Error()
}

// HGetCached reads one hash field through client-side caching (when the
// client has it) for up to ttl. Cached reads may trail a write by a few
// milliseconds: use them for display, never for allocation decisions.
func HGetCached(ctx context.Context, c rueidis.Client, key, field string, ttl time.Duration) (val []byte, found bool, err error) {
	return bytesReply(c.DoCache(ctx, c.B().Hget().Key(key).Field(field).Cache(), ttl))
}

func bytesReply(r rueidis.RedisResult) ([]byte, bool, error) {
	b, err := r.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// WaitList blocks until an element can be popped from the list at key or
// timeout passes (server side; at least 10ms), and reports whether it
// popped one. The server-side timeout is kept inside ctx's deadline, so the
// call ends on its own instead of being aborted (which closes its pooled
// connection). rueidis does not abort a blocking call when a ctx without a
// deadline is cancelled, so when ctx can be cancelled the call also waits
// on abortKey — a key unique to this call, in key's slot — and a
// cancellation pushes a token there. It returns ctx.Err() once ctx ended.
func WaitList(ctx context.Context, c rueidis.Client, key, abortKey string, timeout time.Duration) (bool, error) {
	_, popped, err := PopList(ctx, c, key, abortKey, timeout)
	return popped, err
}

// PopList is WaitList returning the element it popped ("" when none; an
// element popped from abortKey comes back as well).
func PopList(ctx context.Context, c rueidis.Client, key, abortKey string, timeout time.Duration) (string, bool, error) {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - 5*time.Millisecond; left < timeout {
			timeout = left
		}
	}
	timeout = max(timeout, 10*time.Millisecond)
	cmd := c.B().Blpop().Key(key)
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		if err := SameSlot([]string{key, abortKey}); err != nil {
			return "", false, err
		}
		cmd = cmd.Key(abortKey)
		stop := context.AfterFunc(ctx, func() {
			actx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = PushTokens(actx, c, abortKey, 1, time.Second)
		})
		defer stop()
	}
	kv, err := c.Do(ctx, cmd.Timeout(timeout.Seconds()).Build()).AsStrSlice()
	if ctx.Err() != nil {
		return "", false, ctx.Err()
	}
	if rueidis.IsRedisNil(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if len(kv) != 2 {
		return "", true, nil
	}
	return kv[1], true, nil
}

// PushTokens pushes n wake-up tokens to the list at key, which expires ttl
// after the last push (tokens nobody took must not pile up).
func PushTokens(ctx context.Context, c rueidis.Client, key string, n int, ttl time.Duration) error {
	if n < 1 {
		return nil
	}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = "1"
	}
	for _, r := range c.DoMulti(ctx,
		c.B().Lpush().Key(key).Element(tokens...).Build(),
		c.B().Pexpire().Key(key).Milliseconds(CeilMS(ttl)).Build()) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}
