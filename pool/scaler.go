package pool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Provisioned is one member a scaler's Provision function brings: the
// member (key, priority, expiry) and, for pools with values, its value.
type Provisioned[T any] struct {
	Member
	Value    T
	HasValue bool
}

// ScalerConfig says when and how a Scaler grows and shrinks a pool.
type ScalerConfig[T any] struct {
	// Provision brings n new members (proxies bought, GPU slots started).
	// It may return fewer; the scaler adds what it returns.
	Provision func(ctx context.Context, n int) ([]Provisioned[T], error)
	// Retire is told which members the scaler removed, after they left the
	// pool, and which it provisioned but could not add (release them
	// upstream). Optional.
	Retire func(ctx context.Context, keys []string) error
	// LowWater: provision when fewer members than this are free, or when
	// mallocs are waiting. HighWater: retire idle members while more than
	// this are free. 0 <= LowWater <= HighWater.
	LowWater, HighWater int
	// IdleAfter: only members free at least this long are retired.
	IdleAfter time.Duration
	// Min and Max bound the pool size (0 Max: no bound).
	Min, Max int
	// Cooldown is the pause after an action before the next one
	// (DefaultScalerCooldown).
	Cooldown time.Duration
	// Interval is how often Run decides (DefaultScalerInterval).
	Interval time.Duration
	// OnEvent receives decisions and errors; it must return quickly.
	OnEvent func(ScaleEvent)
}

// Scaler defaults.
const (
	DefaultScalerCooldown = 10 * time.Second
	DefaultScalerInterval = time.Second
)

// ScaleEvent reports one scaler decision or failure.
type ScaleEvent struct {
	// Action is "provision", "retire" or "error".
	Action string
	// Keys are the members added or removed. For an error after Provision
	// (the claim was lost meanwhile, a member was invalid) they are the
	// members provisioned and not added, which were handed to Retire.
	Keys []string
	// Counts are the pool's counts the decision was based on; Waiting the
	// mallocs that were waiting.
	Counts  Counts
	Waiting int
	// Fence is the scaler claim's fencing number.
	Fence int64
	Err   error
}

// Scaler grows a pool when free members run low (or mallocs wait) and
// retires idle surplus, within Min and Max, with a cooldown between
// actions. Across all processes only one scaler acts on a pool at a time:
// each step runs under a claim in Redis whose fencing number every change
// is checked against, so a scaler that lost its claim (paused, partitioned)
// cannot add or remove anything. Retiring never touches held members, and a
// member retired while a malloc races for it is handed to nobody, since
// both are single scripts.
type Scaler[T any] struct {
	p     *Pool[T]
	cfg   ScalerConfig[T]
	token string
	keys  []string
	mu    sync.Mutex
	last  time.Time // last action
	count metric.Int64Counter
}

// NewScaler returns a scaler for p. Errors match ErrInvalidOption.
func NewScaler[T any](p *Pool[T], cfg ScalerConfig[T]) (*Scaler[T], error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidOption)
	case cfg.Provision == nil:
		return nil, fmt.Errorf("%w: nil Provision", ErrInvalidOption)
	case cfg.LowWater < 0 || cfg.HighWater < cfg.LowWater:
		return nil, fmt.Errorf("%w: water marks low %d, high %d", ErrInvalidOption, cfg.LowWater, cfg.HighWater)
	case cfg.Min < 0 || (cfg.Max > 0 && cfg.Max < cfg.Min) || cfg.Max < 0:
		return nil, fmt.Errorf("%w: size bounds min %d, max %d", ErrInvalidOption, cfg.Min, cfg.Max)
	case cfg.IdleAfter < 0 || cfg.Cooldown < 0 || cfg.Interval < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrInvalidDuration)
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultScalerCooldown
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultScalerInterval
	}
	c := p.c
	counter, _ := c.run.Providers().Meter().Int64Counter("redisallocator.pool.scaler.actions",
		metric.WithDescription("Scaler actions by kind: provision, retire, error."), metric.WithUnit("{action}"))
	return &Scaler[T]{
		p: p, cfg: cfg, token: c.newToken(), count: counter,
		keys: append(append([]string{}, c.keys...), c.ns.Key("scaler"), c.ns.Key("scalerfence")),
	}, nil
}

func (s *Scaler[T]) scale(ctx context.Context, args ...string) (msgInt int64, list []string, err error) {
	for len(args) < 7 {
		args = append(args, "")
	}
	msg, err := s.p.c.run.Run(ctx, script.PoolScale, s.keys, args)
	if err != nil {
		return 0, nil, fmt.Errorf("pool %s: scaler: %w", s.p.c.name, err)
	}
	if msg.IsInt64() {
		n, _ := msg.AsInt64()
		return n, nil, nil
	}
	list, err = msg.AsStrSlice()
	return 0, list, err
}

// Step decides once: it claims the pool (or finds another scaler holding
// it and does nothing), reads the counts and provisions or retires. It
// returns the action taken, or nil.
func (s *Scaler[T]) Step(ctx context.Context) (*ScaleEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && time.Since(s.last) < s.cfg.Cooldown {
		return nil, nil
	}
	// The claim outlives one decision comfortably; losing it mid-step
	// makes the next write fail with ErrNotHeld.
	claimTTL := max(2*s.cfg.Interval, 5*time.Second)
	fence, _, err := s.scale(ctx, "claim", s.token, ms(claimTTL))
	if err != nil || fence == 0 {
		return nil, s.fail(err)
	}
	fs := strconv.FormatInt(fence, 10)
	msg, err := s.p.c.runScript(ctx, script.PoolInspect, []string{"load", ""})
	if err != nil {
		return nil, s.fail(err)
	}
	r, err := msg.AsIntSlice()
	if err != nil || len(r) != 4 {
		return nil, s.fail(fmt.Errorf("pool %s: scaler: unexpected reply: %w", s.p.c.name, err))
	}
	counts, waiting := Counts{Free: int(r[0]), Held: int(r[1]), Unhealthy: int(r[2])}, int(r[3])
	total := counts.Total()
	ev := &ScaleEvent{Counts: counts, Waiting: waiting, Fence: fence}
	switch {
	case total < s.cfg.Min || counts.Free < s.cfg.LowWater || waiting > 0:
		want := max(s.cfg.LowWater-counts.Free, 0) + waiting
		want = max(want, s.cfg.Min-total, 1)
		if s.cfg.Max > 0 {
			want = min(want, s.cfg.Max-total)
		}
		if want <= 0 {
			return nil, nil
		}
		ev.Action = "provision"
		ev.Keys, err = s.provision(ctx, fs, want, claimTTL)
	case counts.Free > s.cfg.HighWater && total > s.cfg.Min:
		n := min(counts.Free-s.cfg.HighWater, total-s.cfg.Min)
		ev.Action = "retire"
		_, ev.Keys, err = s.scale(ctx, "retire", s.token, fs, strconv.Itoa(n), ms(s.cfg.IdleAfter), strconv.Itoa(s.cfg.Min), "1000")
		if err == nil && len(ev.Keys) > 0 && s.cfg.Retire != nil {
			err = s.cfg.Retire(ctx, ev.Keys)
		}
	default:
		return nil, nil
	}
	if err != nil {
		ev.Action, ev.Err = "error", err
	}
	if len(ev.Keys) == 0 && err == nil {
		return nil, nil
	}
	s.last = time.Now()
	s.count.Add(ctx, 1, metric.WithAttributes(otel.AttrPoolName.String(s.p.c.name),
		attribute.String("redisallocator.pool.scaler.action", ev.Action)))
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(*ev)
	}
	return ev, err
}

// fail reports an error that stopped a step before any action.
func (s *Scaler[T]) fail(err error) error {
	if err != nil && s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ScaleEvent{Action: "error", Err: err})
	}
	return err
}

func (s *Scaler[T]) provision(ctx context.Context, fence string, n int, claimTTL time.Duration) ([]string, error) {
	// Provisioning may outlast the claim (buying a VM takes a while): the
	// claim is renewed meanwhile, so no other scaler provisions too and the
	// add below is still ours.
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(claimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				// A claim lost anyway shows as NOT_HELD at the add.
				_, _, _ = s.scale(renewCtx, "claim", s.token, ms(claimTTL))
			}
		}
	}()
	got, err := s.cfg.Provision(ctx, n)
	stopRenew()
	<-renewed
	if err != nil {
		return nil, fmt.Errorf("pool %s: provision: %w", s.p.c.name, err)
	}
	if len(got) > n {
		got = got[:n]
	}
	keys, err := s.add(ctx, fence, got)
	if err != nil && len(got) > 0 {
		// What was bought and is not in the pool would leak: release it.
		keys = make([]string, len(got))
		for i, m := range got {
			keys[i] = m.Key
		}
		if s.cfg.Retire != nil {
			if rerr := s.cfg.Retire(context.WithoutCancel(ctx), keys); rerr != nil {
				err = errors.Join(err, fmt.Errorf("pool %s: retiring what could not be added: %w", s.p.c.name, rerr))
			}
		}
	}
	return keys, err
}

// add puts provisioned members into the pool under the claim's fence.
func (s *Scaler[T]) add(ctx context.Context, fence string, got []Provisioned[T]) ([]string, error) {
	args := []string{"add", s.token, fence, "", "", "", ""}
	keys := make([]string, 0, len(got))
	for _, m := range got {
		if err := checkKey(m.Key); err != nil {
			return nil, err
		}
		mc, err := newMemberConfig([]MemberOption{WithPriority(m.Priority), WithoutExpiry()})
		if m.Expiry > 0 {
			mc, err = newMemberConfig([]MemberOption{WithPriority(m.Priority), WithExpiry(m.Expiry)})
		}
		if err != nil {
			return nil, err
		}
		var values [][]byte
		if m.HasValue {
			b, err := s.p.c.cfg.codec.Marshal(m.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: value of %q: %w", ErrInvalid, m.Key, err)
			}
			values = [][]byte{b}
		}
		args = append(args, memberArgs([]string{m.Key}, values, mc)...)
		keys = append(keys, m.Key)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if _, _, err := s.scale(ctx, args...); err != nil {
		return nil, err
	}
	return keys, nil
}

// Run decides every Interval until ctx ends, then gives up its claim and
// returns ctx's error. Errors of single steps go to OnEvent.
func (s *Scaler[T]) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		_, _ = s.Step(ctx) // errors went to OnEvent
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_, _, _ = s.scale(rctx, "release", s.token, "")
			cancel()
			return ctx.Err()
		case <-t.C:
		}
	}
}
