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
// so a pool recovers without a GC loop; GC keeps idle pools tidy and its
// result is what Maintain reports.
func (p *Pool[T]) GC(ctx context.Context, budget int) (GCResult, error) {
	if budget < 1 || budget > MaxBatch {
		return GCResult{}, fmt.Errorf("%w: GC budget %d: want 1 to %d", ErrInvalidCount, budget, MaxBatch)
	}
	msg, err := p.c.runScript(ctx, script.PoolGC, []string{itoa(budget)})
	if err != nil {
		return GCResult{}, err
	}
	r, err := msg.AsIntSlice()
	if err != nil || len(r) != 5 {
		return GCResult{}, fmt.Errorf("pool %s: gc: unexpected reply: %w", p.c.name, err)
	}
	res := GCResult{int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])}
	p.c.met.gc(ctx, res)
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

// FreeKeys frees members whoever holds them (an administrator's tool: the
// holders are not asked, and their Free then returns ErrNotHeld). It
// returns how many were held; keys not in the pool give ErrNotMember
// (joined), after the others were freed.
func (p *Pool[T]) FreeKeys(ctx context.Context, keys ...string) (int, error) {
	if err := checkKeys(keys); err != nil {
		return 0, err
	}
	args := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, "")
	}
	return p.adminFree(ctx, keys, args)
}

// FreeFenced frees each member of fences only while its lease still has
// the given fencing number: what an administrator saw and confirmed, not a
// lease taken since. It returns how many it freed; members freed, re-leased
// or removed meanwhile are left alone (not counted), and keys not in the
// pool give ErrNotMember (joined), after the others were freed.
func (p *Pool[T]) FreeFenced(ctx context.Context, fences map[string]int64) (int, error) {
	keys := slices.Sorted(maps.Keys(fences))
	if err := checkKeys(keys); err != nil {
		return 0, err
	}
	args := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		if fences[k] < 1 {
			return 0, fmt.Errorf("%w: fence %d of %q", ErrInvalid, fences[k], k)
		}
		args = append(args, k, "="+strconv.FormatInt(fences[k], 10))
	}
	return p.adminFree(ctx, keys, args)
}

func (p *Pool[T]) adminFree(ctx context.Context, keys, args []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	msg, err := p.c.runScript(ctx, script.PoolFree, args)
	if err != nil {
		return 0, err
	}
	codes, err := msg.AsIntSlice()
	if err != nil || len(codes) != len(keys) {
		return 0, fmt.Errorf("pool %s: free: unexpected reply: %w", p.c.name, err)
	}
	n := 0
	var errs []error
	for i, code := range codes {
		switch code {
		case 1:
			n++
		case -1:
			errs = append(errs, fmt.Errorf("pool %s: %q: %w", p.c.name, keys[i], ErrNotMember))
		}
	}
	return n, errors.Join(errs...)
}

// Free ends several leases in one atomic step; the error joins one
// ErrNotHeld per allocation that was no longer held.
func (p *Pool[T]) Free(ctx context.Context, allocs ...*Allocation[T]) error {
	leases := make([]*Lease, 0, len(allocs))
	held := false // something to send
	for _, a := range allocs {
		if a != nil {
			leases = append(leases, a.Lease)
			held = held || (a.Lease != nil && a.Token != "")
		}
	}
	start := time.Now()
	err := p.c.free(ctx, leases)
	if held {
		p.c.met.freed(ctx, start, err)
	}
	return err
}

// SetUnhealthy takes a member out of rotation for d: a free member goes to
// quarantine at once, a held one when its lease ends (its holder is not
// disturbed). ErrNotMember for keys not in the pool.
func (p *Pool[T]) SetUnhealthy(ctx context.Context, key string, d time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if d < time.Millisecond || d > MaxTTL {
		return fmt.Errorf("%w: quarantine %v", ErrInvalidDuration, d)
	}
	_, err := p.c.runScript(ctx, script.PoolMark, []string{key, "", "u", ms(d)})
	return err
}

// SetHealthy ends a member's quarantine (or cancels a pending one on a held
// member) and returns it to the free set.
func (p *Pool[T]) SetHealthy(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := p.c.runScript(ctx, script.PoolMark, []string{key, "", "h", "0"})
	return err
}

func itoa(n int) string { return fmt.Sprint(n) }
