package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

const defaultMaintainInterval = 10 * time.Second

type maintainerConfig struct {
	every     time.Duration
	onError   func(error)
	source    func(ctx context.Context) ([]Record, error)
	srcEvery  time.Duration
	srcAssign bool
}

// MaintainerOption configures a Maintainer in NewMaintainer.
type MaintainerOption func(*maintainerConfig)

// WithMaintainInterval sets how often the Maintainer runs GC (and looks at
// its source); 10 s when absent.
func WithMaintainInterval(d time.Duration) MaintainerOption {
	return func(c *maintainerConfig) { c.every = d }
}

// WithErrorFunc receives the errors of single passes, which do not stop
// the loop. It runs on the loop's goroutine and must return quickly.
// Default: errors are dropped.
func WithErrorFunc(f func(error)) MaintainerOption {
	return func(c *maintainerConfig) { c.onError = f }
}

// WithSource feeds the pool from src, an inventory (a proxy provider's
// API, a config service), at most once per every across all processes.
// Each record gives a member's key, priority and TTL (0: no expiry; Expiry
// is ignored) and, with HasValue, its value encoded with the pool's codec,
// as [Inspector.Export] gives it (so another pool's export can be a
// source); without HasValue a member keeps its value. With replace the
// reported members become the whole membership (AssignKeys); without it
// they are added (AddKeys). Held members stay held either way, and an
// empty answer changes nothing (it is more likely an outage than an empty
// inventory).
func WithSource(src func(ctx context.Context) ([]Record, error), every time.Duration, replace bool) MaintainerOption {
	return func(c *maintainerConfig) { c.source, c.srcEvery, c.srcAssign = src, every, replace }
}

func newMaintainerConfig(opts []MaintainerOption) (maintainerConfig, error) {
	c := maintainerConfig{every: defaultMaintainInterval}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil MaintainerOption", errInvalidOption)
		}
		o(&c)
	}
	switch {
	case c.every < time.Millisecond:
		return c, fmt.Errorf("%w: maintain interval %v", errInvalidDuration, c.every)
	case c.source != nil && c.srcEvery < time.Millisecond:
		return c, fmt.Errorf("%w: source interval %v", errInvalidDuration, c.srcEvery)
	}
	return c, nil
}

// Maintainer is a pool's background upkeep: every interval it runs GC
// until no due timer is left and, with WithSource, applies the source.
// Pools work without one, since each Malloc handles a few due timers
// first; a Maintainer keeps idle pools tidy and their GC metrics current.
// Run one per process at most (several are safe, only wasteful).
type Maintainer struct {
	c   *core
	cfg maintainerConfig
}

// NewMaintainer returns a Maintainer for the pool a administers (Pool.Admin
// or NewAdmin). Errors match ErrInvalid.
func NewMaintainer(a *Admin, opts ...MaintainerOption) (*Maintainer, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: nil Admin", errInvalidOption)
	}
	cfg, err := newMaintainerConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Maintainer{c: a.c, cfg: cfg}, nil
}

// runCtx is the first check of a Run loop: a nil ctx is ErrInvalid, an
// ended one returns its error at once, as the loop does when it ends.
func runCtx(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", errInvalidOption)
	}
	return ctx.Err()
}

// Run maintains the pool until ctx ends, then returns ctx's error. The
// first pass runs at once. Errors of single passes go to WithErrorFunc
// and do not stop the loop.
func (m *Maintainer) Run(ctx context.Context) error {
	if err := runCtx(ctx); err != nil {
		return err
	}
	t := time.NewTicker(m.cfg.every)
	defer t.Stop()
	for {
		m.pass(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (m *Maintainer) report(ctx context.Context, err error) {
	if err != nil && m.cfg.onError != nil && ctx.Err() == nil {
		m.cfg.onError(err)
	}
}

// pass is one round: the source (when due), then GC until nothing is due.
func (m *Maintainer) pass(ctx context.Context) {
	if m.cfg.source != nil {
		_, err := m.refreshFromSource(ctx)
		m.report(ctx, err)
	}
	for {
		r, err := m.c.gcPass(ctx, 1000)
		if err != nil {
			m.report(ctx, err)
			return
		}
		if r.Pending == 0 {
			return
		}
	}
}

// refreshFromSource applies the source if no process applied it within
// its interval: it claims the interval in Redis, calls the source and
// applies the result with AssignKeys (replace) or AddKeys, grouping members
// by priority and TTL. It reports whether this call applied the source.
func (m *Maintainer) refreshFromSource(ctx context.Context) (bool, error) {
	c, cfg := m.c, m.cfg
	msg, err := c.run.Run(ctx, script.PoolClaim, []string{c.ns.Key("source")}, []string{c.newToken(), ms(cfg.srcEvery)})
	if err != nil {
		return false, fmt.Errorf("pool %s: %w", c.name, err)
	}
	if n, _ := msg.AsInt64(); n != 1 {
		return false, nil
	}
	members, err := cfg.source(ctx)
	if err != nil {
		return false, fmt.Errorf("pool %s: source: %w", c.name, err)
	}
	if len(members) == 0 {
		// An empty answer is more likely an outage than an empty inventory.
		return false, fmt.Errorf("pool %s: source reported no members; pool left unchanged", c.name)
	}
	type group struct {
		prio   int
		ttl    time.Duration
		values bool
	}
	type batch struct {
		keys   []string
		values [][]byte
	}
	groups := map[group]*batch{}
	all := make([]string, 0, len(members))
	for _, mb := range members {
		g := group{mb.Priority, mb.TTL, mb.HasValue}
		b := groups[g]
		if b == nil {
			b = &batch{}
			groups[g] = b
		}
		b.keys = append(b.keys, mb.Key)
		if mb.HasValue {
			b.values = append(b.values, mb.Value)
		}
		all = append(all, mb.Key)
	}
	if err := checkKeys(all); err != nil {
		return false, err
	}
	if cfg.srcAssign {
		// Assign drops what the source no longer reports; the groups then
		// set priority and expiry of what stays.
		if _, _, err := c.assign(ctx, all, nil, nil); err != nil {
			return false, err
		}
	}
	for g, b := range groups {
		if _, err := c.extend(ctx, "add", b.keys, b.values, []MemberOption{Priority(g.prio), MemberTTL(g.ttl)}); err != nil {
			return false, err
		}
	}
	return true, nil
}
