package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Target is what a Checker probes: *pool.Pool[T] implements it (the
// package does not import pool; the methods use no pool types).
type Target[T any] interface {
	// Name names the pool, for events, metrics and the strike counts.
	Name() string
	// ProbeTargets lists the free and the quarantined members.
	ProbeTargets(ctx context.Context) (free, quarantined []string, err error)
	// ProbeHold holds a member for a probe (ok false: skip it) and returns
	// its value and a release that quarantines it for a positive duration or
	// returns it to rotation for zero.
	ProbeHold(ctx context.Context, key string, ttl time.Duration) (value T, ok bool, release func(ctx context.Context, quarantine time.Duration) error, err error)
}

// Result is what one CheckOnce pass found.
type Result struct {
	// Healthy members passed their probe; quarantined ones among them are
	// back in rotation.
	Healthy []string
	// Unhealthy members failed and are quarantined.
	Unhealthy []string
	// Skipped members were held by someone else or left the pool.
	Skipped []string
}

// Checker probes the members of one pool and quarantines the ones that
// fail, with exponential backoff for repeat offenders: the n-th failure in
// a row quarantines for cooldown·2^(n-1), capped; a success resets the
// count. Strike counts live in Redis, so checkers in several processes
// share them. A Checker is safe for concurrent use.
type Checker[T any] struct {
	target Target[T]
	probe  func(ctx context.Context, key string, value T) error
	cfg    checkerConfig
	run    *redisx.Runner
	strike []string
	cnt    *counters
}

// NewChecker builds a checker for target (a *pool.Pool[T]) whose strike
// counts live under prefix. probe checks one member: dial the proxy, call
// the account's API; a non-nil error (or a panic) takes the member out of
// rotation. Errors match ErrInvalid for a nil client,
// target or probe, a bad option, or a bad prefix or pool name (which also
// matches redisallocator.ErrInvalidName).
func NewChecker[T any](client rueidis.Client, prefix string, target Target[T], probe func(ctx context.Context, key string, value T) error, opts ...CheckerOption) (*Checker[T], error) {
	switch {
	case client == nil:
		return nil, fmt.Errorf("%w: client is nil", ErrInvalid)
	case target == nil:
		return nil, fmt.Errorf("%w: target is nil", ErrInvalid)
	case probe == nil:
		return nil, fmt.Errorf("%w: probe is nil", ErrInvalid)
	}
	cfg, err := newCheckerConfig(opts)
	if err != nil {
		return nil, err
	}
	ns, err := redisx.NewNamespace(prefix, "probe", target.Name())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	prov := otel.NewProviders(cfg.tp, cfg.mp)
	return &Checker[T]{
		target: target, probe: probe, cfg: cfg, cnt: newCounters(prov),
		run:    redisx.NewRunner(client, prov, scriptErrors),
		strike: []string{ns.Key("strikes")},
	}, nil
}

// CheckOnce probes every free and quarantined member once, at most
// WithConcurrency at a time, and returns what it found. Members held by
// others are never touched; a free member is held (a short lease) while it
// is probed, so nobody is handed a member under test. The error joins the
// errors of members that could not be checked or whose strike count could
// not be kept (Redis trouble; a corrupt strikes key matches
// redisallocator.ErrCorrupt); such members are in no list of the Result. A
// failing probe is not an error but an Unhealthy entry. ctx ending stops
// the pass.
func (c *Checker[T]) CheckOnce(ctx context.Context) (Result, error) {
	if err := checkCtx(ctx); err != nil {
		return Result{}, fmt.Errorf("health: check %s: %w", c.target.Name(), err)
	}
	free, quarantined, err := c.target.ProbeTargets(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("health: check %s: %w", c.target.Name(), err)
	}
	keys := append(free, quarantined...)
	wasQuarantined := make(map[string]bool, len(quarantined))
	for _, k := range quarantined {
		wasQuarantined[k] = true
	}
	var (
		mu   sync.Mutex
		res  Result
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, c.cfg.concurrency)
	)
	for _, key := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res, errors.Join(append(errs, ctx.Err())...)
		}
		wg.Go(func() {
			defer func() { <-sem }()
			outcome, err := c.checkOne(ctx, key, wasQuarantined[key])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case outcome == outcomeHealthy:
				res.Healthy = append(res.Healthy, key)
			case outcome == outcomeUnhealthy:
				res.Unhealthy = append(res.Unhealthy, key)
			default:
				res.Skipped = append(res.Skipped, key)
			}
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

type outcome int

const (
	outcomeSkipped outcome = iota
	outcomeHealthy
	outcomeUnhealthy
)

func (c *Checker[T]) checkOne(ctx context.Context, key string, quarantined bool) (outcome, error) {
	// The hold outlives the probe's timeout a little, so the member cannot
	// be handed out while the probe may still be running.
	value, ok, release, err := c.target.ProbeHold(ctx, key, c.cfg.probeTimeout+time.Second)
	if err != nil {
		return outcomeSkipped, fmt.Errorf("health: hold %s/%s: %w", c.target.Name(), key, err)
	}
	if !ok {
		return outcomeSkipped, nil
	}
	perr := c.runProbe(ctx, key, value)
	c.cnt.probe(ctx, c.target.Name(), perr == nil)
	// Bookkeeping must finish even when ctx ends now: the member is held.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if perr == nil {
		_, err := c.run.Run(bctx, script.HealthStrike, c.strike, []string{key, "clear"})
		if err := errors.Join(err, release(bctx, 0)); err != nil {
			return outcomeHealthy, fmt.Errorf("health: release %s/%s: %w", c.target.Name(), key, err)
		}
		if quarantined {
			c.cnt.event(ctx, Event{Kind: MemberRecovered, Pool: c.target.Name(), Key: key}, c.cfg.events)
		}
		return outcomeHealthy, nil
	}
	msg, err := c.run.Run(bctx, script.HealthStrike, c.strike, []string{key, "fail"})
	strikes := int64(1)
	if err == nil {
		strikes, _ = msg.AsInt64()
	}
	// Without a count (Redis trouble, a corrupt strikes key) the member
	// still goes out for the first cooldown, and the error is reported.
	d := c.cooldown(strikes)
	if rerr := release(bctx, d); rerr != nil {
		return outcomeUnhealthy, fmt.Errorf("health: quarantine %s/%s: %w", c.target.Name(), key, errors.Join(err, rerr))
	}
	c.cnt.event(ctx, Event{Kind: MemberQuarantined, Pool: c.target.Name(), Key: key, Cooldown: d, Strikes: strikes, Err: perr}, c.cfg.events)
	if err != nil {
		return outcomeUnhealthy, fmt.Errorf("health: strike %s/%s: %w", c.target.Name(), key, err)
	}
	return outcomeUnhealthy, nil
}

// cooldown is the quarantine after the n-th failure in a row.
func (c *Checker[T]) cooldown(n int64) time.Duration {
	d := c.cfg.cooldown
	for i := int64(1); i < n && d < c.cfg.maxCooldown; i++ {
		d *= 2
	}
	return min(d, c.cfg.maxCooldown)
}

// runProbe calls the probe with its timeout, turning a panic into an error.
func (c *Checker[T]) runProbe(ctx context.Context, key string, value T) (err error) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.probeTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("health: probe panicked: %s: %v", key, r)
		}
	}()
	if err := c.probe(pctx, key, value); err != nil {
		return err
	}
	// A probe that ignores its ctx and returns late still failed the
	// deadline: the member is too slow to keep in rotation.
	return pctx.Err()
}

// Run probes the pool every WithProbeInterval until ctx ends, then returns
// ctx's error. Errors of single passes go to WithErrorFunc.
func (c *Checker[T]) Run(ctx context.Context) error {
	if err := checkCtx(ctx); err != nil {
		return fmt.Errorf("health: checker of %s: %w", c.target.Name(), err)
	}
	t := time.NewTicker(c.cfg.interval)
	defer t.Stop()
	for {
		if _, err := c.CheckOnce(ctx); err != nil && c.cfg.onErr != nil && ctx.Err() == nil {
			c.cfg.onErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
