package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// single is the backend of a Mutex on one Redis (standalone, cluster or
// sentinel: one lock key in one slot).
type single struct {
	r       *redisx.Runner
	track   *redisx.Tracker
	k       lockKeys
	ttl     time.Duration
	ttlMs   string
	cleanup time.Duration // bound of the clean-up after a failed attempt
}

func newSingle(r *redisx.Runner, track *redisx.Tracker, k lockKeys, o options) *single {
	return &single{r: r, track: track, k: k, ttl: o.ttl, ttlMs: redisx.MSArg(o.ttl), cleanup: o.quorumTimeout}
}

func (s *single) need() int { return 1 }

// try makes one attempt. When it fails without an answer (ctx ended, the
// connection broke), Redis may still have run the script, so it deletes
// the lock again if it holds our token: an abandoned attempt leaves
// nothing behind.
func (s *single) try(ctx context.Context, token string) (attempt, error) {
	a, err := s.attempt(ctx, token)
	if err != nil && !errors.Is(err, ErrInvalid) {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cleanup)
		_ = s.release(c, token) // best effort; the TTL ends it otherwise
		cancel()
	}
	return a, err
}

// attempt is try without the clean-up (the quorum cleans up itself).
func (s *single) attempt(ctx context.Context, token string) (attempt, error) {
	start := time.Now()
	msg, err := s.r.Run(ctx, script.LockAcquire, s.k.acquire, []string{token, s.ttlMs})
	if err != nil {
		return attempt{}, err
	}
	return parseAttempt(msg, start)
}

// parseAttempt reads lock_acquire's {1, fence} or {0, pttl}.
func parseAttempt(msg rueidis.RedisMessage, sent time.Time) (attempt, error) {
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 2 {
		return attempt{}, fmt.Errorf("lock_acquire: unexpected reply %v: %w", msg, err)
	}
	ok, err1 := arr[0].AsInt64()
	n, err2 := arr[1].AsInt64()
	if err1 != nil || err2 != nil {
		return attempt{}, fmt.Errorf("lock_acquire: unexpected reply %v", msg)
	}
	if ok == 1 {
		return attempt{ok: true, fence: n, sent: sent}, nil
	}
	wait := time.Duration(-1)
	if n >= 0 {
		wait = time.Duration(n) * time.Millisecond
	}
	return attempt{wait: wait}, nil
}

func (s *single) refresh(ctx context.Context, token string) error {
	_, err := s.r.Run(ctx, script.LockUpdate, s.k.pair, []string{token, s.ttlMs})
	return err
}

func (s *single) release(ctx context.Context, token string) error {
	return releaseReply(s.r.Run(ctx, script.LockRelease, s.k.release, []string{token}))
}

// releaseReply reads lock_release's reply: 1 when it deleted the lock.
func releaseReply(msg rueidis.RedisMessage, err error) error {
	if err != nil {
		return err
	}
	if n, err := msg.AsInt64(); err != nil || n != 1 {
		return ErrNotHeld
	}
	return nil
}

func (s *single) check(ctx context.Context, token string) (bool, error) {
	msg, err := s.r.Run(ctx, script.LockInspect, s.k.pair, nil)
	if err != nil {
		return false, err
	}
	in, err := parseInfo(s.k.lock, msg)
	return err == nil && in.Holds > 0 && in.Owner == token, err
}

func (s *single) watch(ctx context.Context, token string, notify chan<- struct{}) watchState {
	w, val, present, err := s.track.Watch(ctx, s.k.lock, notify)
	if err != nil {
		return watchState{unknown: 1}
	}
	ws := watchState{end: w.Stop, tracked: true}
	switch {
	case !present:
		ws.free = 1
	case val == token:
		ws.ours = 1
	}
	return ws
}

// handoff releases token and acquires for nextToken in one round trip:
// both scripts are pipelined on one connection and run in this order,
// unless next is not a plain Mutex storage of the same lock on the same
// runner (then two round trips).
func (s *single) handoff(ctx context.Context, token string, next backend, nextToken string) (a attempt, relErr, err error) {
	ns, ok := next.(*single)
	if !ok || ns.r != s.r || ns.k.lock != s.k.lock {
		return sequentialHandoff(ctx, s, token, next, nextToken)
	}
	start := time.Now()
	rep := s.r.RunPipeline(ctx,
		redisx.Call{Script: script.LockRelease, Keys: s.k.release, Args: []string{token}},
		redisx.Call{Script: script.LockAcquire, Keys: ns.k.acquire, Args: []string{nextToken, ns.ttlMs}},
	)
	relErr = releaseReply(rep[0].Msg, rep[0].Err)
	if err = rep[1].Err; err == nil {
		a, err = parseAttempt(rep[1].Msg, start)
	}
	if err != nil && !errors.Is(err, ErrInvalid) {
		// As in try: Redis may have run the attempt all the same.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), ns.cleanup)
		_ = ns.release(c, nextToken) // best effort; the TTL ends it otherwise
		cancel()
	}
	return a, relErr, err
}
