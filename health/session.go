package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/lease"
	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Worker describes a session as the registry lists it.
type Worker struct {
	ID       string
	Group    string
	Host     string
	PID      int
	Started  time.Time
	Labels   map[string]string
	Interval time.Duration
	Timeout  time.Duration
	// Deadline is when the session counts as dead without a heartbeat, by
	// the Redis server's clock.
	Deadline time.Time
	// Alive reports Deadline is in the future at the moment of listing.
	Alive bool
}

type workerMeta struct {
	Host       string            `json:"host"`
	PID        int               `json:"pid"`
	Started    time.Time         `json:"started"`
	Labels     map[string]string `json:"labels,omitempty"`
	IntervalMS int64             `json:"interval_ms"`
	TimeoutMS  int64             `json:"timeout_ms"`
}

// groupKeys returns the registry keys of prefix/group.
func groupKeys(prefix, group string) ([]string, error) {
	// The group is checked by itself first so that the message says "group".
	err := redisx.ValidateName("prefix", prefix)
	if err == nil {
		err = redisx.ValidateName("group", group)
	}
	var ns redisx.Namespace
	if err == nil {
		ns, err = redisx.NewNamespace(prefix, "health", group)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return []string{ns.Key("workers"), ns.Key("meta")}, nil
}

// Session is one worker's registration, a lease on the worker's liveness
// kept by [Session.Run]: each heartbeat renews it, keeps the leases the
// worker took in pools alive (pool.InSession), and [Session.Context] ends
// when the heartbeat could not be renewed in time, so the worker stops
// using what it holds before anyone else is given it.
//
// Timing is drift-safe, with the module's one lease rule: the local
// deadline is the monotonic time the last fully successful heartbeat was
// sent, plus the timeout, less a margin of 1% + 2ms; it is never later than
// the deadlines Redis recorded, and a stalled process finds [Session.Valid]
// false and its Context cancelled when it wakes. A Session is safe for
// concurrent use.
type Session struct {
	id    string
	inc   string // this registration's incarnation (see Incarnation)
	cfg   sessionConfig
	run   *redisx.Runner
	keys  []string
	cnt   *counters
	keep  *lease.Keeper
	ctx   context.Context
	runs  sync.WaitGroup
	once  sync.Once
	mu    sync.Mutex
	beats map[string]func(context.Context) error
}

// NewSession registers a worker session in prefix's group; [Session.Run]
// then keeps it alive. Until Run runs, the session lives one timeout.
// Errors: ErrSessionExists when a live session has the id, ErrInvalid for
// bad input; ctx bounds the registration only.
func NewSession(ctx context.Context, client rueidis.Client, prefix string, opts ...SessionOption) (*Session, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalid)
	}
	cfg, err := newSessionConfig(opts)
	if err != nil {
		return nil, err
	}
	keys, err := groupKeys(prefix, cfg.group)
	if err != nil {
		return nil, err
	}
	if cfg.id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		cfg.id = hex.EncodeToString(b[:])
	}
	if !idRE.MatchString(cfg.id) {
		return nil, fmt.Errorf("%w: session id %q: want 1 to 64 letters, digits, '-', '_', '.' or ':'", ErrInvalid, cfg.id)
	}
	host, _ := os.Hostname()
	meta, err := json.Marshal(workerMeta{
		Host: host, PID: os.Getpid(), Started: time.Now().UTC(), Labels: cfg.labels,
		IntervalMS: redisx.CeilMS(cfg.interval), TimeoutMS: redisx.CeilMS(cfg.timeout),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: labels: %w", ErrInvalid, err)
	}
	prov := otel.NewProviders(cfg.tp, cfg.mp)
	var inc [8]byte
	_, _ = rand.Read(inc[:])
	s := &Session{
		id: cfg.id, inc: hex.EncodeToString(inc[:]), cfg: cfg, keys: keys, cnt: newCounters(prov),
		run:   redisx.NewRunner(client, prov, scriptErrors),
		beats: map[string]func(context.Context) error{},
	}
	sent := time.Now()
	if _, err := s.run.Run(ctx, script.HealthRegister, keys, []string{cfg.id, ms(cfg.timeout), string(meta)}); err != nil {
		return nil, fmt.Errorf("health: register session %s: %w", cfg.id, err)
	}
	s.keep, err = lease.New(sent, lease.Config{
		TTL:     cfg.timeout,
		Every:   cfg.interval,
		Retry:   cfg.interval,
		Renew:   s.heartbeat,
		IsLost:  func(err error) bool { return errors.Is(err, errNotRegistered) },
		Expired: fmt.Errorf("%w: %s: no heartbeat renewed within %v", ErrSessionLost, s.id, cfg.timeout),
		// Redis already counts the session dead: what it held is being
		// reclaimed, so it must not carry on.
		Lost:  func(err error) error { return fmt.Errorf("%w: %w", ErrSessionLost, err) },
		OnEnd: s.lost,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s.ctx = s.keep.Context() // armed now: pools hang their leases on it
	return s, nil
}

// ms renders d for the scripts by the module's one rounding rule (whole
// milliseconds, rounded up).
func ms(d time.Duration) string { return redisx.MSArg(d) }

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Incarnation is random and new with every NewSession, also for the same
// ID: pools record leases under ID and incarnation, so a worker restarted
// under its old ID (allowed once the old session closed) never takes over
// the leases of the one before, which its pools reclaim when that one's
// timeout passes.
func (s *Session) Incarnation() string { return s.inc }

// Timeout returns how long the session lives after a heartbeat.
func (s *Session) Timeout() time.Duration { return s.cfg.timeout }

// Context is cancelled when the session is lost (cause matches
// ErrSessionLost) or closed (cause matches ErrClosed). Its Err reads the
// clock as Valid does, so it is non-nil from the local deadline on even
// when the timer that closes Done runs late.
func (s *Session) Context() context.Context { return s.ctx }

// Valid reports whether the session is still alive as far as this process
// can know: not closed or lost, and its local deadline not passed. It reads
// the monotonic clock, so it is right the moment a stalled process
// resumes, before any timer has run: call it right before acting on what
// the session vouches for.
func (s *Session) Valid() bool { return s.keep.Valid() }

// Track makes every heartbeat also call beat, once per key (a later Track
// with the same key replaces it). Pools use it to keep leases taken under
// the session alive. A beat that fails counts as a missed heartbeat.
func (s *Session) Track(key string, beat func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beats[key] = beat
}

// lost reports the session's end by expiry or loss.
func (s *Session) lost(cause error) {
	s.cnt.event(context.Background(), Event{Kind: SessionLost, Key: s.id, Err: cause}, s.cfg.events)
}

// Run heartbeats every interval (WithInterval) until ctx ends (it returns
// ctx.Err(); the session then lapses after its timeout unless closed) or
// the session ends (it returns the cause, matching ErrSessionLost or
// ErrClosed). A failed heartbeat goes to WithErrorFunc and is retried every
// interval until the deadline. Run at most one Run at a time per session.
func (s *Session) Run(ctx context.Context) error {
	if err := checkCtx(ctx); err != nil {
		return fmt.Errorf("health: session %s: %w", s.id, err)
	}
	s.runs.Add(1)
	defer s.runs.Done()
	return s.keep.Run(ctx)
}

// heartbeat renews the registration and every tracked target, all within
// the local deadline (ctx ends there); only a full round moves the
// deadline on.
func (s *Session) heartbeat(ctx context.Context, _ time.Duration) error {
	s.mu.Lock()
	keys := make([]string, 0, len(s.beats))
	for k := range s.beats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	beats := make([]func(context.Context) error, len(keys))
	for i, k := range keys {
		beats[i] = s.beats[k]
	}
	s.mu.Unlock()
	err := s.beat(ctx, beats)
	if err != nil && !errors.Is(err, errNotRegistered) && s.cfg.onErr != nil {
		s.cfg.onErr(fmt.Errorf("health: heartbeat of session %s: %w", s.id, err))
	}
	return err
}

func (s *Session) beat(ctx context.Context, beats []func(context.Context) error) error {
	if _, err := s.run.Run(ctx, script.HealthBeat, s.keys[:1], []string{s.id, ms(s.cfg.timeout)}); err != nil {
		return err
	}
	// Any failed beat is a missed heartbeat: the local deadline stays, and
	// no target can have declared the session dead before it passes.
	for _, b := range beats {
		if err := b(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the session: it cancels Context with ErrClosed, waits for Run
// to return and deregisters the session. Pools reclaim leases still taken
// under it once its timeout passes. Close is idempotent; ctx bounds the
// deregistration.
func (s *Session) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.keep.End(fmt.Errorf("%w: session %s", ErrClosed, s.id))
		s.runs.Wait()
		_, err = s.run.Run(ctx, script.HealthLeave, s.keys, []string{s.id})
	})
	return err
}
