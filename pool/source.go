package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// RefreshFromSource applies the WithSource function if no process applied
// it within the interval: it claims the interval in Redis, calls the source
// and applies the result with Assign (replace) or Extend, grouping members
// by priority and expiry. Held members stay held. It reports whether this
// call applied the source; without WithSource it returns ErrInvalidOption.
func (p *Pool[T]) RefreshFromSource(ctx context.Context) (bool, error) {
	c := p.c
	if c.cfg.source == nil {
		return false, fmt.Errorf("%w: pool %s has no source", ErrInvalidOption, c.name)
	}
	msg, err := c.run.Run(ctx, script.PoolClaim, []string{c.ns.Key("source")}, []string{c.newToken(), ms(c.cfg.srcEvery)})
	if err != nil {
		return false, fmt.Errorf("pool %s: %w", c.name, err)
	}
	if n, _ := msg.AsInt64(); n != 1 {
		return false, nil
	}
	members, err := c.cfg.source(ctx)
	if err != nil {
		return false, fmt.Errorf("pool %s: source: %w", c.name, err)
	}
	if len(members) == 0 {
		// An empty answer is more likely an outage than an empty inventory.
		return false, fmt.Errorf("pool %s: source reported no members; pool left unchanged", c.name)
	}
	type group struct {
		prio   int
		expiry time.Duration
	}
	groups := map[group][]string{}
	all := make([]string, 0, len(members))
	for _, m := range members {
		g := group{m.Priority, m.Expiry}
		groups[g] = append(groups[g], m.Key)
		all = append(all, m.Key)
	}
	if err := checkKeys(all); err != nil {
		return false, err
	}
	if c.cfg.srcAssign {
		// Assign drops what the source no longer reports; the groups then
		// set priority and expiry of what stays.
		if _, _, err := c.assign(ctx, all, nil, nil); err != nil {
			return false, err
		}
	}
	for g, keys := range groups {
		opts := []MemberOption{WithPriority(g.prio), WithoutExpiry()}
		if g.expiry > 0 {
			opts[1] = WithExpiry(g.expiry)
		}
		if _, err := c.extend(ctx, "add", keys, nil, opts); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Maintain runs GC (and RefreshFromSource when the pool has a source) every
// interval until ctx ends, then returns ctx's error. Errors of single passes
// go to onError when it is not nil and do not stop the loop. Run one
// Maintain per process at most; pools work without it, since Malloc reclaims
// lazily.
func (p *Pool[T]) Maintain(ctx context.Context, interval time.Duration, onError func(error)) error {
	if interval < time.Millisecond {
		return fmt.Errorf("%w: maintain interval %v", ErrInvalidDuration, interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if p.c.cfg.source != nil {
			if _, err := p.RefreshFromSource(ctx); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
		}
		for {
			r, err := p.GC(ctx, 1000)
			if err != nil {
				if onError != nil && ctx.Err() == nil {
					onError(err)
				}
				break
			}
			if r.Pending == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
