package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// These methods let a health checker probe the pool's members without the
// health package importing this one (they use no pool types): *Pool[T]
// satisfies health.Target[T].

// ProbeTargets lists the members worth probing: the free ones and the
// quarantined ones. Held members are left to their holders.
func (p *Pool[T]) ProbeTargets(ctx context.Context) (free, quarantined []string, err error) {
	msg, err := p.c.runScript(ctx, script.PoolInspect, []string{"keys", ""})
	if err != nil {
		return nil, nil, err
	}
	parts, err := msg.ToArray()
	if err != nil || len(parts) != 3 {
		return nil, nil, fmt.Errorf("pool %s: keys: unexpected reply: %w", p.c.name, err)
	}
	if free, err = parts[0].AsStrSlice(); err != nil {
		return nil, nil, err
	}
	quarantined, err = parts[2].AsStrSlice()
	return free, quarantined, err
}

// ProbeHold prepares one member for a probe. A free member is taken under
// a lease of ttl (in exclusive mode), so nobody is handed a member under
// test; a quarantined member is not handed out anyway. ok is false when
// the member is held by someone else or gone: skip it. release ends the
// probe: a positive quarantine takes the member out of rotation for that
// long, zero returns it to rotation (ending a quarantine early).
func (p *Pool[T]) ProbeHold(ctx context.Context, key string, ttl time.Duration) (value T, ok bool, release func(ctx context.Context, quarantine time.Duration) error, err error) {
	var zero T
	if !p.c.cfg.shared {
		a, err := p.MallocMember(ctx, key, LeaseTTL(ttl))
		switch {
		case err == nil:
			return a.Value, true, func(ctx context.Context, q time.Duration) error {
				if q > 0 {
					if err := a.ReportUnhealthy(ctx, q); err != nil {
						return err
					}
				}
				return a.Release(ctx)
			}, nil
		case errors.Is(err, ErrNotMember):
			return zero, false, nil, nil
		case !errors.Is(err, ErrEmpty):
			return zero, false, nil, err
		}
	}
	st, err := p.c.state(ctx, key)
	if errors.Is(err, ErrNotMember) || (err == nil && st == StateHeld) {
		return zero, false, nil, nil
	}
	if err != nil {
		return zero, false, nil, err
	}
	v, err := p.rawValue(ctx, key)
	if err != nil {
		return zero, false, nil, err
	}
	return v, true, func(ctx context.Context, q time.Duration) error {
		if q > 0 || st == StateUnhealthy {
			return p.c.quarantine(ctx, key, q) // 0 ends the quarantine
		}
		return nil
	}, nil
}

// rawValue reads a member's value straight from Redis (not the cache): the
// zero T when it has none.
func (p *Pool[T]) rawValue(ctx context.Context, key string) (T, error) {
	var zero T
	b, found, err := redisx.HGet(ctx, p.c.client, p.c.keys[keyValues], key)
	if err != nil {
		return zero, fmt.Errorf("pool %s: value of %q: %w", p.c.name, key, err)
	}
	if !found {
		return zero, nil
	}
	return p.decode(key, b)
}
