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
// timeout passes (server side; at least 10ms). It reports whether it
// popped one. Keep timeout inside ctx's deadline: a blocking call aborted by
// ctx closes its pooled connection.
func WaitList(ctx context.Context, c rueidis.Client, key string, timeout time.Duration) (bool, error) {
	timeout = max(timeout, 10*time.Millisecond)
	err := c.Do(ctx, c.B().Blpop().Key(key).Timeout(timeout.Seconds()).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	return err == nil, err
}
