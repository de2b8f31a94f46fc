package redisx

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/redis/rueidis"
)

// ErrNoTracking means the caller must poll: the server cannot track, or
// too many connections are tracking already.
var ErrNoTracking = errors.New("redisallocator: key tracking unavailable")

// maxTrackConns bounds the dedicated connections one tracker holds; more
// distinct cluster slots than this with waiters at the same time poll.
const maxTrackConns = 64

// Tracker turns Redis client-side caching invalidations into wake-ups.
//
// rueidislock reads the lock key inside its acquire script on a client
// whose own tracking is switched to OPTOUT, and listens with the client's
// OnInvalidations hook. We are handed the caller's client, already built:
// its tracking mode (OPTIN by default, or none) and its hook are the
// caller's. So a read inside our scripts would not be tracked for us, and
// we could not hear the invalidation if it were. Instead the tracker
// borrows a dedicated connection from the client (Dedicate), switches
// CLIENT TRACKING on for that connection alone, installs its own
// invalidation hook there, and reads each watched key with a plain GET on
// it. Redis then pushes an invalidation on that connection when the key is
// next written, deleted or expired, by anyone, scripts included. This works
// whether or not the client caches, and costs one connection per cluster
// slot that has watchers (one in total for a single server), returned to
// the client's pool as soon as nobody watches.
//
// Servers without CLIENT TRACKING (miniredis, managed services that deny
// it) and RESP2 connections are detected at the first watch; the tracker
// then reports ErrNoTracking for good and callers poll.
// A Tracker is safe for concurrent use.
type Tracker struct {
	client  rueidis.Client
	cluster bool

	mu    sync.Mutex
	off   bool
	conns map[uint16]*trackConn
}

// NewTracker returns a tracker borrowing its connections from client.
func NewTracker(client rueidis.Client) *Tracker {
	return &Tracker{
		client:  client,
		cluster: client.Mode() == rueidis.ClientModeCluster,
		conns:   map[uint16]*trackConn{},
	}
}

// trackConn is one dedicated connection with tracking on.
type trackConn struct {
	t    *Tracker
	slot uint16
	refs int // guarded by t.mu

	setupMu sync.Mutex
	dc      rueidis.DedicatedClient // borrowed at the first read
	release func()                  // gives dc back; nil once given back
	done    chan struct{}           // closed when watchHooks ends
	ready   bool                    // CLIENT TRACKING is on

	mu   sync.Mutex
	dead bool
	subs map[string]map[*Watch]struct{}
}

// Watch is one registration for one key: its notify channel gets one
// non-blocking send when the key changes (or the connection fails), after
// which the registration is spent.
type Watch struct {
	c       *trackConn
	key     string
	notify  chan<- struct{}
	stopped bool // guarded by c.mu
}

// Watch registers notify for changes of key and reads the key on the
// tracking connection, which makes the server track it. It returns the
// key's value (present false when the key does not exist). Every
// successful watch must be stopped. Errors: ErrNoTracking (poll instead),
// or the read's error.
func (t *Tracker) Watch(ctx context.Context, key string, notify chan<- struct{}) (w *Watch, val string, present bool, err error) {
	c, err := t.conn(key)
	if err != nil {
		return nil, "", false, err
	}
	w = &Watch{c: c, key: key, notify: notify}
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		t.unref(c)
		return nil, "", false, ErrNoTracking
	}
	set := c.subs[key]
	if set == nil {
		set = map[*Watch]struct{}{}
		c.subs[key] = set
	}
	set[w] = struct{}{}
	c.mu.Unlock()

	val, present, err = c.get(ctx, key)
	if err != nil {
		w.Stop()
		return nil, "", false, err
	}
	return w, val, present, nil
}

// Stop ends the registration and gives the connection back when it was
// the last user. It is safe to call more than once.
func (w *Watch) Stop() {
	if w == nil {
		return
	}
	c := w.c
	c.mu.Lock()
	if w.stopped {
		c.mu.Unlock()
		return
	}
	w.stopped = true
	if set := c.subs[w.key]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(c.subs, w.key)
		}
	}
	c.mu.Unlock()
	c.t.unref(c)
}

// conn returns the tracking connection for key's slot, creating it.
func (t *Tracker) conn(key string) (*trackConn, error) {
	var slot uint16
	if t.cluster {
		slot = KeySlot(key)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.off {
		return nil, ErrNoTracking
	}
	c := t.conns[slot]
	if c == nil {
		if len(t.conns) >= maxTrackConns {
			return nil, ErrNoTracking
		}
		// The connection itself is borrowed at the first read, outside
		// t.mu: borrowing may dial.
		c = &trackConn{t: t, slot: slot, subs: map[string]map[*Watch]struct{}{}}
		t.conns[slot] = c
	}
	c.refs++
	return c, nil
}

// unref drops one user of c and closes it after the last.
func (t *Tracker) unref(c *trackConn) {
	t.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last && t.conns[c.slot] == c {
		delete(t.conns, c.slot)
	}
	t.mu.Unlock()
	if last {
		c.close()
	}
}

// close gives the connection back to the client's pool, which sends
// CLIENT TRACKING OFF and closes the hook channel, ending watchHooks. It
// runs after the last user is gone, so no read is in flight.
func (c *trackConn) close() {
	c.setupMu.Lock()
	release, done := c.release, c.done
	c.release = nil
	c.setupMu.Unlock()
	if release != nil {
		release()
		<-done
	}
}

// disable turns tracking off for good: the server cannot do it.
func (t *Tracker) disable() {
	t.mu.Lock()
	t.off = true
	t.mu.Unlock()
}

// forget removes c from the tracker so that the next watch dials afresh.
func (t *Tracker) forget(c *trackConn) {
	t.mu.Lock()
	if t.conns[c.slot] == c {
		delete(t.conns, c.slot)
	}
	t.mu.Unlock()
}

// watchHooks waits for the hook channel, which reports connection errors
// and is closed when the connection is given back.
func (c *trackConn) watchHooks(hooks <-chan error) {
	defer close(c.done)
	if hooks == nil {
		return
	}
	for range hooks {
		c.kill()
	}
	c.kill()
}

// kill marks c unusable and wakes everyone watching through it, so that
// they read again (over a new connection) or poll.
func (c *trackConn) kill() {
	c.t.forget(c)
	c.mu.Lock()
	c.dead = true
	c.signalAllLocked()
	c.mu.Unlock()
}

func (c *trackConn) signalAllLocked() {
	for key, set := range c.subs {
		for w := range set {
			signal(w.notify)
		}
		delete(c.subs, key)
	}
}

// invalidate is the connection's invalidation hook. nil means the server
// flushed everything (or the connection is gone).
func (c *trackConn) invalidate(keys []rueidis.RedisMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keys == nil {
		c.signalAllLocked()
		return
	}
	for _, m := range keys {
		k, err := m.ToString()
		if err != nil {
			continue
		}
		for w := range c.subs[k] {
			signal(w.notify)
		}
		delete(c.subs, k)
	}
}

func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// get reads key on the connection; the first read also switches tracking
// on (in the same round trip, and with a key, which pins a cluster
// connection to the key's slot).
func (c *trackConn) get(ctx context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead {
		return "", false, ErrNoTracking
	}
	c.setupMu.Lock()
	if !c.ready {
		defer c.setupMu.Unlock()
		return c.setup(ctx, key)
	}
	c.setupMu.Unlock()
	return c.read(c.dc.Do(ctx, c.dc.B().Get().Key(key).Build()))
}

func (c *trackConn) setup(ctx context.Context, key string) (string, bool, error) {
	if c.dc == nil {
		c.dc, c.release = c.t.client.Dedicate()
		c.done = make(chan struct{})
		go c.watchHooks(c.dc.SetOnInvalidations(c.invalidate))
	}
	b := c.dc.B()
	res := c.dc.DoMulti(ctx,
		b.ClientTracking().Off().Build(),
		b.ClientTracking().On().Build(),
		b.ClientInfo().Build(),
		b.Get().Key(key).Build(),
	)
	for _, r := range res[:2] {
		if err := r.Error(); err != nil {
			if _, ok := rueidis.IsRedisErr(err); ok {
				// The server refuses tracking: unknown command, ACL, ...
				c.t.disable()
				c.kill()
				return "", false, ErrNoTracking
			}
			c.kill()
			return "", false, err
		}
	}
	// Invalidations reach a RESP2 connection only through a redirect we
	// do not set up; such a client polls. CLIENT INFO is Redis >= 6.2: an
	// error there says nothing about the protocol.
	if info, err := res[2].ToString(); err == nil && strings.Contains(info, " resp=2") {
		c.t.disable()
		c.kill()
		return "", false, ErrNoTracking
	}
	c.ready = true
	return c.read(res[3])
}

func (c *trackConn) read(r rueidis.RedisResult) (string, bool, error) {
	v, err := r.ToString()
	switch {
	case err == nil:
		return v, true, nil
	case rueidis.IsRedisNil(err):
		return "", false, nil
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if _, moved := re.IsMoved(); !moved {
			if _, ask := re.IsAsk(); !ask {
				// WRONGTYPE and the like: the connection is fine, the key
				// just cannot be watched this way.
				return "", false, err
			}
		}
	}
	// A failed read leaves the tracking state unknown (a cancelled call may
	// still be answered later), and a redirect means the slot moved: never
	// reuse the connection.
	c.kill()
	return "", false, err
}

// Conns returns how many dedicated tracking connections t holds.
func (t *Tracker) Conns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Off reports whether t found that its server cannot track keys.
func (t *Tracker) Off() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.off
}

// Kill marks t's tracking connections broken, as a dropped connection
// would, waking everyone watching through them. For tests.
func (t *Tracker) Kill() {
	t.mu.Lock()
	conns := make([]*trackConn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}
