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

// Provisioned is one member a scaler's provision function brings.
type Provisioned[T any] struct {
	Key      string
	Priority int
	// TTL removes the member that long after it is added; 0 keeps it.
	TTL time.Duration
	// Value is the member's value, for pools with values (HasValue).
	Value    T
	HasValue bool
}

type scalerConfig struct {
	lowWater, highWater int
	idleAfter           time.Duration
	min, max            int
	cooldown            time.Duration
	interval            time.Duration
	onEvent             func(ScaleEvent)
}

// ScalerOption configures a Scaler in NewScaler.
type ScalerOption func(*scalerConfig)

// WithWaterMarks sets when the scaler acts: it provisions when fewer than
// low members are free (or mallocs are waiting) and retires idle members
// while more than high are free. 0 <= low <= high; both 0 by default, so a
// scaler without them only provisions for waiting mallocs and retires every
// idle member above WithSizeBounds' min.
func WithWaterMarks(low, high int) ScalerOption {
	return func(c *scalerConfig) { c.lowWater, c.highWater = low, high }
}

// WithSizeBounds bounds the pool size the scaler keeps: at least min
// members and at most max (0: no bound).
func WithSizeBounds(minSize, maxSize int) ScalerOption {
	return func(c *scalerConfig) { c.min, c.max = minSize, maxSize }
}

// WithIdleAfter makes the scaler retire only members free at least d.
func WithIdleAfter(d time.Duration) ScalerOption { return func(c *scalerConfig) { c.idleAfter = d } }

// WithCooldown sets the pause after an action before the next one
// (10 s when absent or 0).
func WithCooldown(d time.Duration) ScalerOption {
	return func(c *scalerConfig) {
		if d != 0 {
			c.cooldown = d
		}
	}
}

// WithScalerInterval sets how often Run decides (1 s when absent or 0).
func WithScalerInterval(d time.Duration) ScalerOption {
	return func(c *scalerConfig) {
		if d != 0 {
			c.interval = d
		}
	}
}

// WithEvents receives the scaler's decisions and errors (see [ScaleEvent]).
// f runs on the scaler's goroutine and must return quickly.
func WithEvents(f func(ScaleEvent)) ScalerOption {
	return func(c *scalerConfig) { c.onEvent = f }
}

func newScalerConfig(opts []ScalerOption) (scalerConfig, error) {
	c := scalerConfig{cooldown: defaultScalerCooldown, interval: defaultScalerInterval}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil ScalerOption", errInvalidOption)
		}
		o(&c)
	}
	switch {
	case c.lowWater < 0 || c.highWater < c.lowWater:
		return c, fmt.Errorf("%w: water marks low %d, high %d", errInvalidOption, c.lowWater, c.highWater)
	case c.min < 0 || c.max < 0 || (c.max > 0 && c.max < c.min):
		return c, fmt.Errorf("%w: size bounds min %d, max %d", errInvalidOption, c.min, c.max)
	case c.idleAfter < 0:
		return c, fmt.Errorf("%w: idle after %v", errInvalidDuration, c.idleAfter)
	case c.cooldown < time.Millisecond || c.interval < time.Millisecond:
		return c, fmt.Errorf("%w: cooldown %v, interval %v: want at least 1ms", errInvalidDuration, c.cooldown, c.interval)
	}
	return c, nil
}

// Scaler defaults.
const (
	defaultScalerCooldown = 10 * time.Second
	defaultScalerInterval = time.Second
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
	// Err is set for Action "error".
	Err error
}

// Scaler grows a pool when free members run low (or mallocs wait) and
// retires idle surplus, within its size bounds, with a cooldown between
// actions. Across all processes only one scaler acts on a pool at a time:
// each step runs under a claim in Redis whose fencing number every change
// is checked against, so a scaler that lost its claim (paused, partitioned)
// cannot add or remove anything. Retiring never touches held members, and a
// member retired while a malloc races for it is handed to nobody, since
// both are single scripts.
type Scaler[T any] struct {
	p         *Pool[T]
	provision func(ctx context.Context, n int) ([]Provisioned[T], error)
	retire    func(ctx context.Context, keys []string) error
	cfg       scalerConfig
	token     string
	keys      []string
	mu        sync.Mutex
	last      time.Time // last action
	count     metric.Int64Counter
}

// Indexes of the scaler's two keys after the pool's in pool_scale's KEYS.
const (
	keyScalerClaim = numKeys + iota
	keyScalerFence
)

// NewScaler returns a scaler for p. provision brings n new members (proxies
// bought, GPU slots started); it may return fewer, and the scaler adds what
// it returns. retire, which may be nil, is told which members the scaler
// removed, after they left the pool, and which it provisioned but could not
// add (release them upstream). Errors match ErrInvalid.
func NewScaler[T any](p *Pool[T], provision func(ctx context.Context, n int) ([]Provisioned[T], error),
	retire func(ctx context.Context, keys []string) error, opts ...ScalerOption,
) (*Scaler[T], error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: nil pool", errInvalidOption)
	case provision == nil:
		return nil, fmt.Errorf("%w: nil provision function", errInvalidOption)
	}
	cfg, err := newScalerConfig(opts)
	if err != nil {
		return nil, err
	}
	c := p.c
	counter, _ := c.run.Providers().Meter().Int64Counter("redisallocator.pool.scaler.actions",
		metric.WithDescription("Scaler actions by kind: provision, retire, error."), metric.WithUnit("{action}"))
	keys := append(append(make([]string, 0, numKeys+2), c.keys...), c.ns.Key("scaler"), c.ns.Key("scalerfence"))
	return &Scaler[T]{p: p, provision: provision, retire: retire, cfg: cfg, token: c.newToken(), count: counter, keys: keys}, nil
}

// scaleArgs names the ARGV of pool_scale; args lays them out in the order
// of the script's contract.
type scaleArgs struct {
	op      string        // ARGV[1] claim, add, retire or release
	token   string        // ARGV[2] the scaler's token
	ttl     time.Duration // ARGV[3] for claim: the claim's TTL
	fence   int64         // ARGV[3] for add and retire: the claim's fence
	n       int           // ARGV[4] retire at most this many
	idle    time.Duration // ARGV[5] retire members free at least this long
	keep    int           // ARGV[6] keep at least this many members
	scan    int           // ARGV[7] scan at most this many free members
	members []string      // ARGV[8...] for add: 5-entry member records
}

func (a scaleArgs) args() []string {
	third := ""
	switch a.op {
	case "claim":
		third = ms(a.ttl)
	case "add", "retire":
		third = strconv.FormatInt(a.fence, 10)
	}
	out := make([]string, 7, 7+len(a.members))
	out[0], out[1], out[2] = a.op, a.token, third
	if a.op == "retire" {
		out[3], out[4], out[5], out[6] = strconv.Itoa(a.n), ms(a.idle), strconv.Itoa(a.keep), strconv.Itoa(a.scan)
	}
	return append(out, a.members...)
}

// retireScan bounds the free members one retire step looks at.
const retireScan = 1000

func (s *Scaler[T]) scale(ctx context.Context, a scaleArgs) (msgInt int64, list []string, err error) {
	a.token = s.token
	msg, err := s.p.c.run.Run(ctx, script.PoolScale, s.keys, a.args())
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

// step decides once: it claims the pool (or finds another scaler holding
// it and does nothing), reads the counts and provisions or retires. It
// returns the action taken, or nil.
func (s *Scaler[T]) step(ctx context.Context) (*ScaleEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && time.Since(s.last) < s.cfg.cooldown {
		return nil, nil
	}
	// The claim outlives one decision comfortably; losing it mid-step
	// makes the next write fail with ErrNotHeld.
	claimTTL := max(2*s.cfg.interval, 5*time.Second)
	fence, _, err := s.scale(ctx, scaleArgs{op: "claim", ttl: claimTTL})
	if err != nil || fence == 0 {
		return nil, s.fail(err)
	}
	counts, waiting, err := s.p.c.load(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	total := counts.total()
	ev := &ScaleEvent{Counts: counts, Waiting: waiting, Fence: fence}
	switch {
	case total < s.cfg.min || counts.Free < s.cfg.lowWater || waiting > 0:
		want := max(s.cfg.lowWater-counts.Free, 0) + waiting
		want = max(want, s.cfg.min-total, 1)
		if s.cfg.max > 0 {
			want = min(want, s.cfg.max-total)
		}
		if want <= 0 {
			return nil, nil
		}
		ev.Action = "provision"
		ev.Keys, err = s.grow(ctx, fence, want, claimTTL)
	case counts.Free > s.cfg.highWater && total > s.cfg.min:
		n := min(counts.Free-s.cfg.highWater, total-s.cfg.min)
		ev.Action = "retire"
		_, ev.Keys, err = s.scale(ctx, scaleArgs{op: "retire", fence: fence, n: n, idle: s.cfg.idleAfter, keep: s.cfg.min, scan: retireScan})
		if err == nil && len(ev.Keys) > 0 && s.retire != nil {
			err = s.retire(ctx, ev.Keys)
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
	if s.cfg.onEvent != nil {
		s.cfg.onEvent(*ev)
	}
	return ev, err
}

// fail reports an error that stopped a step before any action.
func (s *Scaler[T]) fail(err error) error {
	if err != nil && s.cfg.onEvent != nil {
		s.cfg.onEvent(ScaleEvent{Action: "error", Err: err})
	}
	return err
}

func (s *Scaler[T]) grow(ctx context.Context, fence int64, n int, claimTTL time.Duration) ([]string, error) {
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
				_, _, _ = s.scale(renewCtx, scaleArgs{op: "claim", ttl: claimTTL})
			}
		}
	}()
	got, err := s.provision(ctx, n)
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
		if s.retire != nil {
			if rerr := s.retire(context.WithoutCancel(ctx), keys); rerr != nil {
				err = errors.Join(err, fmt.Errorf("pool %s: retiring what could not be added: %w", s.p.c.name, rerr))
			}
		}
	}
	return keys, err
}

// add puts provisioned members into the pool under the claim's fence.
func (s *Scaler[T]) add(ctx context.Context, fence int64, got []Provisioned[T]) ([]string, error) {
	a := scaleArgs{op: "add", fence: fence}
	keys := make([]string, 0, len(got))
	for _, m := range got {
		if err := checkKey(m.Key); err != nil {
			return nil, err
		}
		mc, err := newMemberConfig([]MemberOption{Priority(m.Priority), MemberTTL(m.TTL)})
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
		a.members = append(a.members, memberArgs([]string{m.Key}, values, mc)...)
		keys = append(keys, m.Key)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if _, _, err := s.scale(ctx, a); err != nil {
		return nil, err
	}
	return keys, nil
}

// Run decides every WithScalerInterval until ctx ends, then gives up its
// claim and returns ctx's error. Errors of single steps go to
// WithEvents.
func (s *Scaler[T]) Run(ctx context.Context) error {
	if err := runCtx(ctx); err != nil {
		return err
	}
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		_, _ = s.step(ctx) // errors went to the event handler
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_, _, _ = s.scale(rctx, scaleArgs{op: "release"})
			cancel()
			return ctx.Err()
		case <-t.C:
		}
	}
}
