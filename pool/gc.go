package pool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/script"
)

// GCResult says what one GC pass did.
type GCResult struct {
	LeasesReclaimed  int // lapsed leases whose members went back to the pool
	MembersExpired   int // members removed because their expiry passed
	MembersRecovered int // quarantines that ended
	BindingsExpired  int // soft bindings dropped
	Pending          int // due timers left for the next pass
}

// GC handles up to budget due timers in one atomic step: lapsed leases go
// back to the free set (a crashed holder's member is recovered), expired
// members leave, quarantines end, expired bindings go. Every cost is
// O(log n) per timer. Malloc does the same for a few timers on each call,
// so a pool recovers without a GC loop; GC keeps idle pools tidy and a
// Maintainer runs it.
func (a *Admin) GC(ctx context.Context, budget int) (GCResult, error) { return a.c.gcPass(ctx, budget) }

func (c *core) gcPass(ctx context.Context, budget int) (GCResult, error) {
	if budget < 1 || budget > maxBatch {
		return GCResult{}, fmt.Errorf("%w: GC budget %d: want 1 to %d", errInvalidCount, budget, maxBatch)
	}
	msg, err := c.runScript(ctx, script.PoolGC, []string{strconv.Itoa(budget)})
	if err != nil {
		return GCResult{}, err
	}
	r, err := msg.AsIntSlice()
	if err != nil || len(r) != 5 {
		return GCResult{}, fmt.Errorf("pool %s: gc: unexpected reply: %w", c.name, err)
	}
	res := GCResult{int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])}
	c.met.gc(ctx, res)
	return res, nil
}

// lazyGC reads the four counts a malloc script reports first, what it did
// to due timers and expired free members on the way, and records them in
// the GC metric like a pass's: most reclaims of a busy pool happen there.
// The counts are only for the metric: a bad one is skipped, never failing
// a malloc whose members the script has already handed out.
func (c *core) lazyGC(ctx context.Context, counts []rueidis.RedisMessage) {
	var n [4]int64
	for i := range n {
		v, err := counts[i].AsInt64()
		if err != nil {
			return
		}
		n[i] = v
	}
	if n != [4]int64{} {
		c.met.gc(ctx, GCResult{LeasesReclaimed: int(n[0]), MembersExpired: int(n[1]), MembersRecovered: int(n[2]), BindingsExpired: int(n[3])})
	}
}

// ForceRelease ends the leases of members whoever holds them, without
// asking the holders (their Release then returns ErrNotHeld): an operator's
// tool to recover members of crashed holders that took LeaseTTL(Permanent), or
// that a lease keeps from the pool for too long. leases maps each member to
// the fencing number of the lease to end: the member is released only while
// its lease still has it, so what the operator saw and confirmed is ended,
// never a lease taken since (a member released, re-leased or removed
// meanwhile is left alone and not counted). A fence of 0 ends whatever
// lease the member has. It returns how many leases it ended; keys not in
// the pool give ErrNotMember (joined), after the others were released.
func (a *Admin) ForceRelease(ctx context.Context, leases map[string]int64) (int, error) {
	keys := slices.Sorted(maps.Keys(leases))
	fences := make([]int64, len(keys))
	for i, k := range keys {
		fences[i] = leases[k]
	}
	return a.forceRelease(ctx, keys, fences)
}

// forceRelease ends the lease of keys[i] while it has fences[i] (0: any).
func (a *Admin) forceRelease(ctx context.Context, keys []string, fences []int64) (int, error) {
	if err := checkKeys(keys); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	args := make([]string, 0, 2*len(keys))
	for i, k := range keys {
		switch f := fences[i]; {
		case f < 0:
			return 0, fmt.Errorf("%w: fence %d of %q", ErrInvalid, f, k)
		case f == 0:
			args = append(args, k, "") // any holder
		default:
			args = append(args, k, "="+strconv.FormatInt(f, 10))
		}
	}
	msg, err := a.c.runScript(ctx, script.PoolFree, args)
	if err != nil {
		return 0, err
	}
	codes, err := msg.AsIntSlice()
	if err != nil || len(codes) != len(keys) {
		return 0, fmt.Errorf("pool %s: force release: unexpected reply: %w", a.c.name, err)
	}
	n := 0
	var errs []error
	for i, code := range codes {
		switch code {
		case 1:
			n++
		case -1:
			errs = append(errs, fmt.Errorf("pool %s: %q: %w", a.c.name, keys[i], ErrNotMember))
		}
	}
	return n, errors.Join(errs...)
}

// Release ends several leases in one atomic step; the error joins one
// ErrNotHeld per allocation that was no longer held.
func (p *Pool[T]) Release(ctx context.Context, allocs ...*Allocation[T]) error {
	leases := make([]*Lease, 0, len(allocs))
	held := false // something to send
	for _, a := range allocs {
		if a != nil {
			leases = append(leases, a.Lease)
			held = held || (a.Lease != nil && a.token != "")
		}
	}
	start := time.Now()
	err := p.c.free(ctx, leases)
	if held {
		p.c.met.freed(ctx, start, err)
	}
	return err
}

// Quarantine takes a member out of rotation for d: a free member goes to
// quarantine at once, a held one when its lease ends (its holder is not
// disturbed). Quarantine(ctx, key, 0) ends a member's quarantine (or
// cancels a pending one on a held member) and returns it to the free set.
// ErrNotMember for keys not in the pool.
func (a *Admin) Quarantine(ctx context.Context, key string, d time.Duration) error {
	return a.c.quarantine(ctx, key, d)
}

func (c *core) quarantine(ctx context.Context, key string, d time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	args := []string{key, "", "h", "0"}
	if d != 0 {
		if d < time.Millisecond || d > maxTTL {
			return fmt.Errorf("%w: quarantine %v", errInvalidDuration, d)
		}
		args[2], args[3] = "u", ms(d)
	}
	_, err := c.runScript(ctx, script.PoolMark, args)
	return err
}
