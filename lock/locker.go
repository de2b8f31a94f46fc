package lock

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Locker is the reference's RedisLock in Go form: named locks with owners
// and millisecond TTLs, the conditional set/delete family, and the
// [Mutex] factory. It keeps no state of its own between calls besides the
// connection used for tracking (see the package doc), so one Locker can
// serve a whole process. It is safe for concurrent use.
type Locker struct {
	r     *redisx.Runner
	space space
	opts  options
	track *redisx.Tracker
	inst  *instruments
	q     *queues
}

// New returns a Locker whose keys start with prefix. The caller keeps
// ownership of client and must not close it while the Locker is in use.
// Errors: ErrInvalid for a nil client, a bad prefix or a bad option.
// New sends nothing to Redis.
func New(client rueidis.Client, prefix string, opts ...Option) (*Locker, error) {
	if client == nil {
		return nil, errNilClient
	}
	if err := redisx.ValidateName("prefix", prefix); err != nil {
		return nil, fmt.Errorf("lock.New: %w", keyError(err))
	}
	o, err := buildOptions(options{}, opts)
	if err != nil {
		return nil, fmt.Errorf("lock.New: %w", err)
	}
	return newLocker(client, space{prefix: prefix}, o), nil
}

func newLocker(client rueidis.Client, sp space, o options) *Locker {
	prov := otel.NewProviders(o.tp, o.mp)
	return &Locker{
		r:     redisx.NewRunner(client, prov, scriptErrors),
		space: sp,
		opts:  o,
		track: redisx.NewTracker(client),
		inst:  newInstruments(prov),
		q:     newQueues(),
	}
}

// ttlArg renders a TTL for the scripts: whole milliseconds, rounded up so
// that a positive TTL never becomes 0, or "0" for Permanent.
func ttlArg(op string, ttl time.Duration) (string, error) {
	switch {
	case ttl == Permanent:
		return "0", nil
	case ttl <= 0 || ttl == KeepTTL:
		return "", fmt.Errorf("%s: %w: ttl %v (use lock.Permanent for no expiry)", op, ErrInvalid, ttlString(ttl))
	case ttl > maxTTL:
		return "", fmt.Errorf("%s: %w: ttl %v is above the longest, %v (use lock.Permanent for no expiry)", op, ErrInvalid, ttl, maxTTL)
	}
	return redisx.MSArg(ttl), nil
}

func ttlString(ttl time.Duration) string {
	switch ttl {
	case Permanent:
		return "Permanent"
	case KeepTTL:
		return "KeepTTL"
	}
	return ttl.String()
}

// prepare validates a key and an owner-like value and returns the keys.
func (l *Locker) prepare(op, key, owner string) (lockKeys, error) {
	k, err := l.space.keys(key)
	if err != nil {
		return k, fmt.Errorf("lock.%s: %w", op, err)
	}
	what := "owner"
	if op == "ForceSet" {
		what = "value"
	}
	if err := validateOwner(what, owner); err != nil {
		return k, fmt.Errorf("lock.%s %q: %w", op, key, err)
	}
	return k, nil
}

// checkCtx is the first check of a call that records metrics with ctx
// before or after its script: see redisx.CheckContext.
func checkCtx(ctx context.Context, op, key string) error {
	if err := redisx.CheckContext(ctx, ErrInvalid); err != nil {
		return fmt.Errorf("lock.%s %q: %w", op, key, err)
	}
	return nil
}

func (l *Locker) run(ctx context.Context, op, key string, s *script.Script, keys, args []string) (rueidis.RedisMessage, error) {
	msg, err := l.r.Run(ctx, s, keys, args)
	if err != nil {
		return msg, fmt.Errorf("lock.%s %q: %w", op, key, err)
	}
	return msg, nil
}

// Lock takes the lock key for owner if it is free, with the given TTL
// (rounded up to whole milliseconds; [Permanent] for none). It reports
// whether this call took it; it never overwrites or refreshes an existing
// lock, even one owner already holds (see [Locker.RLock]).
// Errors: ErrInvalid for a bad key, owner or ttl (nothing is sent), and
// Redis or ctx errors.
func (l *Locker) Lock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := checkCtx(ctx, "Lock", key); err != nil {
		return false, err
	}
	k, err := l.prepare("Lock", key, owner)
	if err != nil {
		return false, err
	}
	ms, err := ttlArg("lock.Lock", ttl)
	if err != nil {
		return false, err
	}
	start := time.Now()
	msg, err := l.run(ctx, "Lock", key, script.LockLock, k.pair, []string{owner, ms})
	if err != nil {
		l.inst.acquired(ctx, opLock, start, false, err)
		return false, err
	}
	n, err := msg.AsInt64()
	l.inst.acquired(ctx, opLock, start, n == 1, err)
	if err == nil && n != 1 {
		l.inst.contended(ctx, opLock)
	}
	return n == 1, err
}

// RLock is the reentrant Lock: it takes a free lock, or, when owner holds
// it already, adds one hold. Either way the lock's TTL becomes ttl (which
// may shorten it). It returns the number of holds owner now has, or 0
// when another owner holds the lock. Each hold needs its own
// [Locker.Unlock]: N RLocks take N Unlocks to free the lock (the reference
// freed it on the first). Errors as for [Locker.Lock].
func (l *Locker) RLock(ctx context.Context, key, owner string, ttl time.Duration) (int, error) {
	if err := checkCtx(ctx, "RLock", key); err != nil {
		return 0, err
	}
	k, err := l.prepare("RLock", key, owner)
	if err != nil {
		return 0, err
	}
	ms, err := ttlArg("lock.RLock", ttl)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	msg, err := l.run(ctx, "RLock", key, script.LockRLock, k.pair, []string{owner, ms})
	if err != nil {
		l.inst.acquired(ctx, opRLock, start, false, err)
		return 0, err
	}
	n, err := msg.AsInt64()
	l.inst.acquired(ctx, opRLock, start, n > 0, err)
	if err == nil && n == 0 {
		l.inst.contended(ctx, opRLock)
	}
	return int(n), err
}

// Update sets the TTL of a lock owner holds, keeping its holds; this is
// the heartbeat of a lock taken with Lock or RLock. [Permanent] removes the
// expiry. It returns ErrNotHeld, and changes nothing, when the lock is
// free or held by someone else; the reference's unconditional overwrite is
// [Locker.ForceSet].
func (l *Locker) Update(ctx context.Context, key, owner string, ttl time.Duration) error {
	k, err := l.prepare("Update", key, owner)
	if err != nil {
		return err
	}
	ms, err := ttlArg("lock.Update", ttl)
	if err != nil {
		return err
	}
	_, err = l.run(ctx, "Update", key, script.LockUpdate, k.pair, []string{owner, ms})
	return err
}

// ForceSet writes value and TTL to the lock whoever holds it, and drops
// any holds. This is the reference's update(); it is dangerous: it takes
// the lock away from its owner without telling them, so two processes may
// believe they hold it. Use it for administration and migrations, and
// [Locker.Update] for heartbeats.
func (l *Locker) ForceSet(ctx context.Context, key, value string, ttl time.Duration) error {
	k, err := l.prepare("ForceSet", key, value)
	if err != nil {
		return err
	}
	ms, err := ttlArg("lock.ForceSet", ttl)
	if err != nil {
		return err
	}
	_, err = l.run(ctx, "ForceSet", key, script.LockForceSet, k.pair, []string{value, ms})
	return err
}

// Unlock drops one hold of a lock owner holds and returns how many are
// left; at 0 the lock is deleted. It returns ErrNotHeld, and changes
// nothing, when the lock is free or held by someone else.
func (l *Locker) Unlock(ctx context.Context, key, owner string) (int, error) {
	k, err := l.prepare("Unlock", key, owner)
	if err != nil {
		return 0, err
	}
	msg, err := l.run(ctx, "Unlock", key, script.LockUnlock, k.pair, []string{owner})
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}

// ForceUnlock deletes the lock with all its holds whoever holds it, and
// reports whether there was one. It is for administrators: the holder is
// not told (a [Lease] notices through its context).
func (l *Locker) ForceUnlock(ctx context.Context, key string) (bool, error) {
	k, err := l.space.keys(key)
	if err != nil {
		return false, fmt.Errorf("lock.ForceUnlock: %w", err)
	}
	msg, err := l.run(ctx, "ForceUnlock", key, script.LockForceUnlock, k.pair, nil)
	if err != nil {
		return false, err
	}
	n, err := msg.AsInt64()
	return n == 1, err
}

// Info describes a lock as read by [Locker.Info]. A free lock reads as the
// zero Info (Holds 0). The reference's key_status(timeout) classification
// is a comparison away: FREE when Holds is 0, ERROR when TTL is
// [Permanent], UNAVAILABLE when TTL > timeout, LOCKED otherwise.
type Info struct {
	// Owner is the stored value: the owner given to Lock, or a lease's
	// token.
	Owner string
	// TTL is the remaining time to live, or Permanent.
	TTL time.Duration
	// Holds is the number of holds: 0 when the lock is free, 1 unless
	// RLock re-entered.
	Holds int
}

// Info reads owner, remaining TTL and holds of a lock in one step (the
// reference's is_locked, get_value and get_ttl in one atomic read). A lock
// that does not exist reads as the zero Info.
func (l *Locker) Info(ctx context.Context, key string) (Info, error) {
	k, err := l.space.keys(key)
	if err != nil {
		return Info{}, fmt.Errorf("lock.Info: %w", err)
	}
	return l.info(ctx, key, k)
}

// Fence returns the last fencing number a Mutex handed out for the lock
// named key, 0 if none yet. For diagnostics: the counter only grows, except
// that a server that lost writes reads lower until its next lease, which
// is numbered above everything handed out before (see [Lease.Fence]).
func (l *Locker) Fence(ctx context.Context, key string) (int64, error) {
	if err := checkCtx(ctx, "Fence", key); err != nil {
		return 0, err
	}
	k, err := l.space.keys(key)
	if err != nil {
		return 0, fmt.Errorf("lock.Fence: %w", err)
	}
	v, found, err := redisx.Get(ctx, l.r.Client(), k.fence[0])
	if err != nil || !found {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("lock.Fence %q: malformed counter %q", key, v)
	}
	return n, nil
}

func (l *Locker) info(ctx context.Context, key string, k lockKeys) (Info, error) {
	msg, err := l.run(ctx, "Info", key, script.LockInspect, k.pair, nil)
	if err != nil {
		return Info{}, err
	}
	return parseInfo(key, msg)
}

func parseInfo(key string, msg rueidis.RedisMessage) (Info, error) {
	arr, err := msg.ToArray()
	if err != nil || len(arr) == 0 {
		return Info{}, fmt.Errorf("lock.Info %q: unexpected reply: %w", key, err)
	}
	pttl, err := arr[0].AsInt64()
	if err != nil {
		return Info{}, fmt.Errorf("lock.Info %q: unexpected reply: %w", key, err)
	}
	if pttl == -2 {
		return Info{}, nil // free
	}
	if len(arr) != 3 {
		return Info{}, fmt.Errorf("lock.Info %q: unexpected reply of %d elements", key, len(arr))
	}
	holds, err := arr[1].AsInt64()
	if err != nil {
		return Info{}, fmt.Errorf("lock.Info %q: unexpected reply: %w", key, err)
	}
	owner, err := arr[2].ToString()
	if err != nil {
		return Info{}, fmt.Errorf("lock.Info %q: unexpected reply: %w", key, err)
	}
	ttl := Permanent
	if pttl >= 0 {
		ttl = time.Duration(pttl) * time.Millisecond
	}
	return Info{Owner: owner, TTL: ttl, Holds: int(holds)}, nil
}

// Mutex returns the blocking mutex for the lock key, configured by the
// Locker's options and opts (WithTTL, WithWatchdog,
// WithPollInterval). It shares its key with Lock and friends, so
// [Locker.Info] and [Locker.ForceUnlock] work on it. Creating a Mutex sends
// nothing to Redis and is cheap; a Mutex may be kept and reused.
func (l *Locker) Mutex(key string, opts ...MutexOption) (*Mutex, error) {
	k, err := l.space.keys(key)
	if err != nil {
		return nil, fmt.Errorf("lock.Mutex: %w", err)
	}
	o, err := buildOptions(l.opts, opts)
	if err != nil {
		return nil, fmt.Errorf("lock.Mutex %q: %w", key, err)
	}
	return newMutex(key, o, newSingle(l.r, l.track, k, o), l.inst, l.q), nil
}
