package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// defaultIdleTimeout is how long an object of Objects stays open unused
// when WithIdleTimeout is absent (its doc says it).
const defaultIdleTimeout = 5 * time.Minute

// Errors of Objects. Match them with errors.Is.
var (
	// ErrHook: an open, close or check hook of Objects returned an error
	// or panicked. The error wraps the hook's own error (errors.Is finds
	// it too) and names the member; a panic's value is in the message.
	ErrHook = errors.New("pool: object hook failed")
	// ErrClosed: Objects.Close was called.
	ErrClosed = errors.New("pool: objects closed")
)

// objectsReleaseTimeout bounds the release of an allocation whose object
// could not be handed out; it runs even when the caller's ctx ended.
const objectsReleaseTimeout = 5 * time.Second

type objectsConfig struct {
	idle  time.Duration
	onErr func(error)
}

// ObjectsOption configures Objects in NewObjects.
type ObjectsOption func(*objectsConfig)

// WithIdleTimeout closes an object that nobody used for d (5 minutes
// when absent or 0): the next allocation of its member
// opens a new one. Objects.Run closes such objects; an allocation that
// finds one replaces it.
func WithIdleTimeout(d time.Duration) ObjectsOption {
	return func(c *objectsConfig) { c.idle = d }
}

// WithObjectErrorFunc receives the errors nobody else gets: those of the
// close hook (except the closes Objects.Close runs, which it returns) and
// the failed membership reads of Objects.Run. It may run on any goroutine
// that released, replaced or swept an object and must return quickly.
// Default: such errors are dropped.
func WithObjectErrorFunc(f func(error)) ObjectsOption {
	return func(c *objectsConfig) { c.onErr = f }
}

// Objects turns the members of a pool into live objects, as the
// reference's allocatable objects (set_config/open/close/is_healthy) and
// puddle's constructor and destructor do: an HTTP client bound to a proxy,
// a database handle for an account. Malloc allocates a member and hands
// out its object, opened once per process by the open hook and reused by
// every later allocation of that member in the process. An object is
// closed by the close hook when its member's value changed (seen by the
// next allocation), when it was idle for the idle timeout, when its member
// left the pool or was quarantined (seen by Run, or reported with
// Object.ReportUnhealthy), when its user called Object.Discard, and by
// Close. An object in use is never closed under its user: it is closed
// when its last user releases it.
//
// In exclusive mode an object has one user at a time: an allocation that
// finds its member's object still in use (by a holder whose lease lapsed
// and who has not called Release yet) waits for it. In shared mode
// (WithShared) every allocation of a member gets the same object at once,
// so O must then be safe for concurrent use.
//
// Objects is safe for concurrent use. It keeps no goroutine running; Run
// sweeps in the caller's goroutine.
type Objects[T, O any] struct {
	p         *Pool[T]
	openFunc  func(ctx context.Context, key string, value T) (O, error)
	closeFunc func(O) error
	cfg       objectsConfig
	shared    bool

	mu      sync.Mutex
	live    map[string]*liveObject[O] // by member
	count   int                       // objects opening or open, not yet closed
	closed  bool
	done    chan struct{} // closed by Close: ends Run
	drained chan struct{} // closed once closed and count is 0
}

// liveObject is the object of one member, guarded by Objects.mu.
type liveObject[O any] struct {
	key string
	obj O
	// enc is the member's value (encoded) the object was opened with.
	enc []byte
	// born is when the entry was made: the sweep leaves alone objects
	// younger than its read of the membership.
	born time.Time
	// opening is closed when the open hook has returned; nil afterwards.
	opening chan struct{}
	users   int
	lastUse time.Time
	// gone: out of the map, closed when its last user releases it.
	gone bool
	// turn is closed when users falls to 0 or the entry leaves the map:
	// exclusive allocations waiting for the object look again.
	turn chan struct{}
}

// Object is a live object handed out by Objects.Malloc with the allocation
// it came with: Key, Value, Fence, Valid, Context, Refresh and the rest
// are promoted from the Allocation. Call Object.Release (not the
// Allocation's), which gives the object back and releases the lease; the
// object must not be used after it.
type Object[T, O any] struct {
	*Allocation[T]
	// Object is the live object of the member.
	Object O

	objs     *Objects[T, O]
	e        *liveObject[O]
	released atomic.Bool
	discard  atomic.Bool
}

// NewObjects returns the live objects of p's members. openFunc builds the
// object of a member from its key and value (the zero T for a member
// without one); ctx bounds the open call only, since the object outlives
// the allocation that opened it. closeFunc (nil: nothing to do) ends an
// object; it is called once per opened object, never while the object is
// in use, and never for an object whose open returned an error. The hooks
// are the open, close and check hooks of the other docs; their errors and
// panics come back matching ErrHook. Errors match ErrInvalid (a nil pool
// or openFunc, a bad option).
func NewObjects[T, O any](p *Pool[T], openFunc func(ctx context.Context, key string, value T) (O, error), closeFunc func(O) error, opts ...ObjectsOption) (*Objects[T, O], error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: nil pool", errInvalidOption)
	case openFunc == nil:
		return nil, fmt.Errorf("%w: nil open hook", errInvalidOption)
	}
	var cfg objectsConfig
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil ObjectsOption", errInvalidOption)
		}
		o(&cfg)
	}
	if cfg.idle == 0 {
		cfg.idle = defaultIdleTimeout
	}
	if cfg.idle < time.Millisecond || cfg.idle > maxTTL {
		return nil, fmt.Errorf("%w: idle timeout %v", errInvalidDuration, cfg.idle)
	}
	if closeFunc == nil {
		closeFunc = func(O) error { return nil }
	}
	return &Objects[T, O]{
		p: p, openFunc: openFunc, closeFunc: closeFunc, cfg: cfg, shared: p.c.cfg.shared,
		live: map[string]*liveObject[O]{}, done: make(chan struct{}), drained: make(chan struct{}),
	}, nil
}

// Malloc allocates a member as Pool.Malloc does (opts are Pool.Malloc's)
// and returns it with its object: the one this process already has for
// the member, or a new one from the open hook. An object opened with an
// older value of the member is replaced (and closed once unused).
//
// When the open hook fails (an error or a panic, matching ErrHook) the
// member is released at once, so it stays allocatable by others, and
// Malloc returns the hook's error; it does not quarantine the member:
// run a health.Checker with Objects.Probe to take members whose objects
// cannot be opened out of rotation. In exclusive mode, when the member's
// object is still in use in this process (its last holder's lease lapsed
// before it released), Malloc waits for it until ctx ends or the new
// lease is lost, then releases the member and returns an error matching
// ctx.Err() or ErrNotHeld. After Close it returns ErrClosed and allocates
// nothing.
func (o *Objects[T, O]) Malloc(ctx context.Context, opts ...MallocOption) (*Object[T, O], error) {
	if o.isClosed() {
		return nil, o.errClosed()
	}
	a, err := o.p.Malloc(ctx, opts...)
	if err != nil {
		return nil, err
	}
	enc, err := o.encode(a.Key, a.Value)
	if err == nil {
		var e *liveObject[O]
		if e, err = o.acquire(ctx, a.Context().Done(), a.Key, enc, a.Value); err == nil {
			return &Object[T, O]{Allocation: a, Object: e.obj, objs: o, e: e}, nil
		}
	}
	// The caller gets nothing, so the member goes back now, even when ctx
	// ended: others may allocate it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), objectsReleaseTimeout)
	defer cancel()
	if rerr := a.Release(rctx); rerr != nil && !errors.Is(rerr, ErrNotHeld) {
		err = errors.Join(err, rerr)
	}
	return nil, err
}

// Probe returns a probe for health.NewChecker that checks a member through
// its object: it takes the member's object (opening one if this process
// has none, and keeping it for later allocations) and runs check on it.
// The member is healthy when the object opens and check (nil: none)
// returns nil; a failing or panicking check (matching ErrHook) also closes
// the object. In exclusive mode a probe waits for an object still in use
// by a holder whose lease lapsed, until its ctx (the checker's probe
// timeout) ends, which counts as a failure. After Close the probe opens a
// throwaway object, checks it
// and closes it, so a checker still running does not quarantine members
// because this process is shutting down.
func (o *Objects[T, O]) Probe(check func(ctx context.Context, obj O) error) func(ctx context.Context, key string, value T) error {
	return func(ctx context.Context, key string, value T) error {
		if err := o.p.c.checkCtx(ctx); err != nil {
			return err
		}
		if err := checkKey(key); err != nil {
			return err
		}
		enc, err := o.encode(key, value)
		if err != nil {
			return err
		}
		e, err := o.acquire(ctx, nil, key, enc, value)
		if errors.Is(err, ErrClosed) {
			obj, err := o.callOpen(ctx, key, value)
			if err != nil {
				return err
			}
			return errors.Join(o.callCheck(ctx, key, check, obj), o.callClose(key, obj))
		}
		if err != nil {
			return err
		}
		err = o.callCheck(ctx, key, check, e.obj)
		o.closeQuiet(o.put(e, err != nil))
		return err
	}
}

// Run sweeps the objects until ctx ends (it returns ctx.Err()) or Close is
// called (it returns ErrClosed): every half idle timeout, at most every
// minute, it closes the unused objects idle for the idle timeout and those
// whose member left the pool or is quarantined, read with Pool.Keys and
// Pool.ProbeTargets (skipped while no object is open); objects in use are
// closed when released. Failed reads go to WithObjectErrorFunc and the
// loop goes on. Without Run, objects of members that are never allocated
// again stay open until Close.
func (o *Objects[T, O]) Run(ctx context.Context) error {
	if err := o.p.c.checkCtx(ctx); err != nil {
		return err
	}
	t := time.NewTicker(min(max(o.cfg.idle/2, time.Millisecond), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.done:
			return o.errClosed()
		case <-t.C:
		}
		if err := o.sweep(ctx); err != nil && ctx.Err() == nil {
			o.report(err)
		}
	}
}

// Close closes every unused object now and each object in use when its
// user releases it, and waits for that until ctx ends. Afterwards Malloc
// returns ErrClosed and Run returns. The error joins the close hooks'
// errors of the objects closed here and, when ctx ended first, an error
// matching ctx.Err() (the objects still in use are closed on release,
// their errors going to WithObjectErrorFunc). Close may be called again,
// to wait again.
func (o *Objects[T, O]) Close(ctx context.Context) error {
	if ctx == nil {
		return o.p.c.checkCtx(ctx)
	}
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.done)
	}
	var idle []*liveObject[O]
	for _, e := range o.live {
		if e := o.unlinkLocked(e); e != nil {
			idle = append(idle, e)
		}
	}
	o.drainLocked()
	o.mu.Unlock()
	var errs []error
	for _, e := range idle {
		errs = append(errs, o.closeObject(e))
	}
	select {
	case <-o.drained:
		return errors.Join(errs...)
	default:
	}
	select {
	case <-o.drained:
	case <-ctx.Done():
		o.mu.Lock()
		n := o.count
		o.mu.Unlock()
		errs = append(errs, fmt.Errorf("pool %s: close objects: %d still in use: %w", o.p.c.name, n, ctx.Err()))
	}
	return errors.Join(errs...)
}

// Release gives the object back (closing it if it must go: see Objects)
// and releases the allocation, returning the allocation's error. A nil or
// ended ctx gives nothing back (call Release again); a second Release, or
// a Release of a nil Object, returns ErrNotHeld.
func (x *Object[T, O]) Release(ctx context.Context) error {
	if x == nil || x.Allocation == nil || x.objs == nil {
		return ErrNotHeld
	}
	if err := x.objs.p.c.checkCtx(ctx); err != nil {
		return err // nothing given back: Release may be called again
	}
	if !x.released.CompareAndSwap(false, true) {
		return fmt.Errorf("pool %s: release %q: object already released: %w", x.objs.p.c.name, x.Key, ErrNotHeld)
	}
	done := x.objs.put(x.e, x.discard.Load())
	err := x.Allocation.Release(ctx)
	// Closed after the lease went back: a slow close hook does not keep
	// the member from others.
	x.objs.closeQuiet(done)
	return err
}

// ReportUnhealthy is Lease.ReportUnhealthy; when it succeeds the object is
// also discarded (see Discard), since the member is on its way to
// quarantine.
func (x *Object[T, O]) ReportUnhealthy(ctx context.Context, d time.Duration) error {
	if x == nil || x.Allocation == nil {
		return ErrNotHeld
	}
	err := x.Allocation.ReportUnhealthy(ctx, d)
	if err == nil {
		x.Discard()
	}
	return err
}

// Discard makes Release close the object instead of keeping it for the
// next allocation of the member (a connection that broke, say); the member
// itself stays healthy. Objects already handed to others in shared mode
// keep it until they release it.
func (x *Object[T, O]) Discard() {
	if x != nil {
		x.discard.Store(true)
	}
}

// acquire takes the member's object for one user, opening it when there
// is none (or when the one there was opened with another value or was idle
// too long). lost, when it fires, ends a wait for a busy object.
func (o *Objects[T, O]) acquire(ctx context.Context, lost <-chan struct{}, key string, enc []byte, v T) (*liveObject[O], error) {
	for {
		var wait chan struct{}
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return nil, o.errClosed()
		}
		e := o.live[key]
		if e != nil && e.opening == nil && (!bytes.Equal(e.enc, enc) || e.users == 0 && time.Since(e.lastUse) >= o.cfg.idle) {
			old := o.unlinkLocked(e)
			e = &liveObject[O]{key: key, enc: enc, born: time.Now(), opening: make(chan struct{}), users: 1}
			o.live[key] = e
			o.count++
			o.mu.Unlock()
			o.closeQuiet(old)
			return o.openEntry(ctx, e, v)
		}
		switch {
		case e == nil:
			e = &liveObject[O]{key: key, enc: enc, born: time.Now(), opening: make(chan struct{}), users: 1}
			o.live[key] = e
			o.count++
			o.mu.Unlock()
			return o.openEntry(ctx, e, v)
		case e.opening != nil:
			wait = e.opening
		case o.shared || e.users == 0:
			e.users++
			o.mu.Unlock()
			return e, nil
		default:
			if e.turn == nil {
				e.turn = make(chan struct{})
			}
			wait = e.turn
		}
		o.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("pool %s: object of %q busy", o.p.c.name, key), ctx.Err())
		case <-lost:
			return nil, fmt.Errorf("pool %s: object of %q: lease lost while its object was busy: %w", o.p.c.name, key, ErrNotHeld)
		}
	}
}

// openEntry runs the open hook for a new entry whose one user is the
// caller.
func (o *Objects[T, O]) openEntry(ctx context.Context, e *liveObject[O], v T) (*liveObject[O], error) {
	obj, err := o.callOpen(ctx, e.key, v)
	o.mu.Lock()
	close(e.opening)
	e.opening = nil
	if err != nil {
		o.unlinkLocked(e)
		e.users = 0
		o.count--
		o.drainLocked()
		o.mu.Unlock()
		return nil, err
	}
	e.obj = obj
	if e.gone { // Close ran meanwhile
		e.users = 0
		o.mu.Unlock()
		o.closeQuiet(e)
		return nil, o.errClosed()
	}
	o.mu.Unlock()
	return e, nil
}

// put gives back one use of e and returns e when it must now be closed
// (nil otherwise); discard takes it out of the map.
func (o *Objects[T, O]) put(e *liveObject[O], discard bool) *liveObject[O] {
	o.mu.Lock()
	defer o.mu.Unlock()
	e.users--
	if e.users < 0 {
		panic("bug: pool objects: more releases than uses")
	}
	e.lastUse = time.Now()
	if discard {
		o.unlinkLocked(e)
	}
	if e.users > 0 {
		return nil
	}
	if e.turn != nil {
		close(e.turn)
		e.turn = nil
	}
	if e.gone {
		return e
	}
	return nil
}

// unlinkLocked takes e out of the map, once, and returns it when nobody
// uses it, for the caller to close (outside the lock).
func (o *Objects[T, O]) unlinkLocked(e *liveObject[O]) *liveObject[O] {
	if e.gone {
		return nil
	}
	e.gone = true
	if o.live[e.key] == e {
		delete(o.live, e.key)
	}
	if e.turn != nil { // waiters look again: they will find another entry
		close(e.turn)
		e.turn = nil
	}
	if e.users == 0 && e.opening == nil {
		return e
	}
	return nil
}

// sweep closes the unused objects idle too long, then those whose member
// left the pool or is quarantined.
func (o *Objects[T, O]) sweep(ctx context.Context) error {
	now := time.Now()
	var out []*liveObject[O]
	o.mu.Lock()
	for _, e := range o.live {
		if e.opening == nil && e.users == 0 && now.Sub(e.lastUse) >= o.cfg.idle {
			out = append(out, o.unlinkLocked(e))
		}
	}
	n := len(o.live)
	o.mu.Unlock()
	for _, e := range out {
		o.closeQuiet(e)
	}
	if n == 0 {
		return nil
	}
	start := time.Now()
	keys, err := o.p.Keys(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: sweep objects: %w", o.p.c.name, err)
	}
	_, quarantined, err := o.p.ProbeTargets(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: sweep objects: %w", o.p.c.name, err)
	}
	keep := make(map[string]bool, len(keys))
	for _, k := range keys {
		keep[k] = true
	}
	for _, k := range quarantined {
		delete(keep, k)
	}
	out = out[:0]
	o.mu.Lock()
	for _, e := range o.live {
		// An entry made after the read may be of a member added since.
		if e.opening == nil && e.born.Before(start) && !keep[e.key] {
			if e := o.unlinkLocked(e); e != nil {
				out = append(out, e)
			}
		}
	}
	o.mu.Unlock()
	for _, e := range out {
		o.closeQuiet(e)
	}
	return nil
}

// closeObject runs the close hook of an unlinked, unused object.
func (o *Objects[T, O]) closeObject(e *liveObject[O]) error {
	err := o.callClose(e.key, e.obj)
	o.mu.Lock()
	o.count--
	o.drainLocked()
	o.mu.Unlock()
	return err
}

// closeQuiet closes e (nil: nothing to do), reporting a failure to
// WithObjectErrorFunc.
func (o *Objects[T, O]) closeQuiet(e *liveObject[O]) {
	if e == nil {
		return
	}
	if err := o.closeObject(e); err != nil {
		o.report(err)
	}
}

func (o *Objects[T, O]) drainLocked() {
	if o.closed && o.count == 0 {
		select {
		case <-o.drained:
		default:
			close(o.drained)
		}
	}
}

func (o *Objects[T, O]) report(err error) {
	if o.cfg.onErr != nil {
		o.cfg.onErr(err)
	}
}

func (o *Objects[T, O]) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

func (o *Objects[T, O]) errClosed() error {
	return fmt.Errorf("pool %s: %w", o.p.c.name, ErrClosed)
}

// encode is the version of a value an object is opened with: its encoding
// with the pool's codec, so objects compare values as the pool stores
// them (the codecs encode deterministically).
func (o *Objects[T, O]) encode(key string, v T) ([]byte, error) {
	b, err := o.p.c.cfg.codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: pool %s: value of %q: %w", ErrInvalid, o.p.c.name, key, err)
	}
	return b, nil
}

func (o *Objects[T, O]) callOpen(ctx context.Context, key string, v T) (obj O, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero O
			obj, err = zero, fmt.Errorf("%w: pool %s: open %q panicked: %v", ErrHook, o.p.c.name, key, r)
		}
	}()
	obj, err = o.openFunc(ctx, key, v)
	if err != nil {
		var zero O
		return zero, fmt.Errorf("%w: pool %s: open %q: %w", ErrHook, o.p.c.name, key, err)
	}
	return obj, nil
}

func (o *Objects[T, O]) callClose(key string, obj O) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: pool %s: close %q panicked: %v", ErrHook, o.p.c.name, key, r)
		}
	}()
	if err := o.closeFunc(obj); err != nil {
		return fmt.Errorf("%w: pool %s: close %q: %w", ErrHook, o.p.c.name, key, err)
	}
	return nil
}

func (o *Objects[T, O]) callCheck(ctx context.Context, key string, check func(context.Context, O) error, obj O) (err error) {
	if check == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: pool %s: check %q panicked: %v", ErrHook, o.p.c.name, key, r)
		}
	}()
	if err := check(ctx, obj); err != nil {
		return fmt.Errorf("%w: pool %s: check %q: %w", ErrHook, o.p.c.name, key, err)
	}
	return nil
}
