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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

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
	ns, err := redisx.NewNamespace(prefix, "health", group)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return []string{ns.Key("workers"), ns.Key("meta")}, nil
}

// Session is one worker's registration: it heartbeats in the background,
// keeps the leases it took in pools alive (pool.InSession), and ends its
// Context when it cannot renew its heartbeat in time, so the worker stops
// using what it holds before anyone else is given it.
//
// Timing is drift-safe: the local deadline is the start (monotonic clock) of
// the last heartbeat round that fully succeeded plus the timeout, which is
// never later than the deadlines Redis recorded; a stalled process finds its
// Context cancelled when it wakes. A Session is safe for concurrent use.
type Session struct {
	id    string
	inc   string // this registration's incarnation (see Incarnation)
	cfg   config
	run   *redisx.Runner
	keys  []string
	cnt   *counters
	ctx   context.Context
	stop  context.CancelCauseFunc
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	beats map[string]func(context.Context) error
	local time.Time
	timer *time.Timer
	// frozen stops heartbeats (tests simulate a killed process with it).
	frozen atomic.Bool
}

// NewSession registers a worker session in prefix's group and starts its
// heartbeat. It reads WithGroup, WithID (default: random), WithInterval,
// WithTimeout, WithLabels, WithEvents and the providers. Errors:
// ErrSessionExists when a live session has the id, ErrInvalidName,
// ErrInvalidOption; ctx bounds the registration only.
func NewSession(ctx context.Context, client rueidis.Client, prefix string, opts ...Option) (*Session, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	cfg, err := newConfig(opts)
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
		return nil, fmt.Errorf("%w: session id %q: 1 to 64 letters, digits, '-', '_', '.' or ':'", ErrInvalidName, cfg.id)
	}
	host, _ := os.Hostname()
	meta, err := json.Marshal(workerMeta{
		Host: host, PID: os.Getpid(), Started: time.Now().UTC(), Labels: cfg.labels,
		IntervalMS: cfg.interval.Milliseconds(), TimeoutMS: cfg.timeout.Milliseconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: labels: %w", ErrInvalidName, err)
	}
	prov := otel.NewProviders(cfg.tp, cfg.mp)
	var inc [8]byte
	_, _ = rand.Read(inc[:])
	s := &Session{
		id: cfg.id, inc: hex.EncodeToString(inc[:]), cfg: cfg, keys: keys, cnt: newCounters(prov),
		run:   redisx.NewRunner(client, prov, scriptErrors),
		beats: map[string]func(context.Context) error{},
		done:  make(chan struct{}),
	}
	start := time.Now()
	if _, err := s.run.Run(ctx, script.HealthRegister, keys, []string{cfg.id, ms(cfg.timeout), string(meta)}); err != nil {
		return nil, fmt.Errorf("health: register session %s: %w", cfg.id, err)
	}
	s.ctx, s.stop = context.WithCancelCause(context.Background())
	s.local = start.Add(cfg.timeout)
	s.timer = time.AfterFunc(cfg.timeout, s.expire)
	go s.loop()
	return s, nil
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

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
// ErrSessionLost) or closed (cause matches ErrClosed).
func (s *Session) Context() context.Context { return s.ctx }

// Track makes every heartbeat also call beat, once per key (a later Track
// with the same key replaces it). Pools use it to keep leases taken under
// the session alive. A beat that fails counts as a missed heartbeat.
func (s *Session) Track(key string, beat func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beats[key] = beat
}

// expire runs when the local deadline passes without a renewal.
func (s *Session) expire() {
	err := fmt.Errorf("%w: %s: no heartbeat renewed within %v", ErrSessionLost, s.id, s.cfg.timeout)
	s.lose(err)
}

func (s *Session) lose(err error) {
	if s.ctx.Err() != nil {
		return
	}
	s.stop(err)
	s.cnt.event(context.Background(), Event{Kind: SessionLost, Key: s.id, Err: err}, s.cfg.events)
}

func (s *Session) loop() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if s.frozen.Load() {
				continue
			}
			if err := s.heartbeat(); errors.Is(err, errNotRegistered) {
				// Redis already counts the session dead: what it held is
				// being reclaimed, so it must not carry on.
				s.lose(fmt.Errorf("%w: %w", ErrSessionLost, err))
				return
			}
		}
	}
}

// heartbeat renews the registration and every tracked target, all within
// the local deadline; only a full round moves the deadline on.
func (s *Session) heartbeat() error {
	start := time.Now()
	s.mu.Lock()
	deadline := s.local
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
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() == nil {
		s.local = start.Add(s.cfg.timeout)
		s.timer.Reset(time.Until(s.local))
	}
	return nil
}

// Close stops the heartbeat, deregisters the session and cancels Context
// with ErrClosed. Pools reclaim leases still taken under it once its
// timeout passes. Close is idempotent; ctx bounds the deregistration.
func (s *Session) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.timer.Stop()
		s.stop(fmt.Errorf("%w: session %s", ErrClosed, s.id))
		<-s.done
		_, err = s.run.Run(ctx, script.HealthLeave, s.keys, []string{s.id})
	})
	return err
}
