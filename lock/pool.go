package lock

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Pool is the reference's RedisLockPool: a named set of lockable members
// plus the locks on them. Membership and locks are independent, as in the
// reference: a member may be locked or not, a lock may be taken on a name
// that is not (or no longer) a member, and no membership call touches a
// lock. Everything of one pool lives in one cluster slot; different pools
// spread over the cluster.
//
// Lock the members through [Pool.Locker], which has the whole [Locker]
// surface (Lock, RLock, Unlock, Info, Mutex, ...) over member names. A
// Pool is safe for concurrent use.
type Pool struct {
	name    string
	members []string // the member-set key, as script keys
	l       *Locker
}

// NewPool returns the lock pool name under prefix. The caller keeps
// ownership of client. Errors: ErrInvalid for a nil client, a bad prefix
// or name, or a bad option. It sends nothing to Redis.
func NewPool(client rueidis.Client, prefix, name string, opts ...Option) (*Pool, error) {
	if client == nil {
		return nil, errNilClient
	}
	ns, err := redisx.NewNamespace(prefix, kindPool, name)
	if err != nil {
		return nil, fmt.Errorf("lock.NewPool: %w", keyError(err))
	}
	o, err := buildOptions(options{}, opts)
	if err != nil {
		return nil, fmt.Errorf("lock.NewPool: %w", err)
	}
	return &Pool{
		name:    name,
		members: []string{ns.Key("members")},
		l:       newLocker(client, space{prefix: prefix, pool: &ns}, o),
	}, nil
}

// Locker returns the locks of the pool's members: a [Locker] whose keys are
// member names, stored in the pool's slot.
func (p *Pool) Locker() *Locker { return p.l }

func (p *Pool) checkMembers(op string, members []string) error {
	for _, m := range members {
		if err := redisx.ValidateMember("member", m); err != nil {
			return fmt.Errorf("lock.Pool.%s %q: %w", op, p.name, keyError(err))
		}
	}
	return nil
}

func (p *Pool) run(ctx context.Context, op string, s *script.Script, args []string) (rueidis.RedisMessage, error) {
	msg, err := p.l.r.Run(ctx, s, p.members, args)
	if err != nil {
		return msg, fmt.Errorf("lock.Pool.%s %q: %w", op, p.name, err)
	}
	return msg, nil
}

func (p *Pool) count(ctx context.Context, op string, s *script.Script, members []string) (int, error) {
	if err := p.checkMembers(op, members); err != nil {
		return 0, err
	}
	if len(members) == 0 {
		return 0, nil
	}
	msg, err := p.run(ctx, op, s, members)
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}

// Add adds members (the reference's extend) and returns how many were new.
// No members is a no-op. Errors: ErrInvalid for an empty or malformed
// member (nothing is written), Redis and ctx errors.
func (p *Pool) Add(ctx context.Context, members ...string) (int, error) {
	return p.count(ctx, "Add", script.LockPoolExtend, members)
}

// Remove removes members (the reference's shrink) and returns how many
// were removed; names that are not members are ignored. Their locks stay.
// No members is a no-op.
func (p *Pool) Remove(ctx context.Context, members ...string) (int, error) {
	return p.count(ctx, "Remove", script.LockPoolShrink, members)
}

// Assign atomically replaces the membership with exactly members
// (duplicates collapse). No members removes every member (the reference's
// clear). Locks on members stay.
func (p *Pool) Assign(ctx context.Context, members ...string) error {
	if err := p.checkMembers("Assign", members); err != nil {
		return err
	}
	if len(members) == 0 {
		_, err := p.run(ctx, "Assign", script.LockPoolClear, nil)
		return err
	}
	_, err := p.run(ctx, "Assign", script.LockPoolAssign, members)
	return err
}

// Members returns the members, sorted.
func (p *Pool) Members(ctx context.Context) ([]string, error) {
	msg, err := p.run(ctx, "Members", script.LockPoolMembers, nil)
	if err != nil {
		return nil, err
	}
	ms, err := msg.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("lock.Pool.Members %q: %w", p.name, err)
	}
	slices.Sort(ms)
	return ms, nil
}

// Contains reports whether member belongs to the pool.
func (p *Pool) Contains(ctx context.Context, member string) (bool, error) {
	if err := p.checkMembers("Contains", []string{member}); err != nil {
		return false, err
	}
	msg, err := p.run(ctx, "Contains", script.LockPoolContains, []string{member})
	if err != nil {
		return false, err
	}
	n, err := msg.AsInt64()
	return n == 1, err
}

// infoFanOut bounds the lock reads Infos has in flight; rueidis
// pipelines them.
const infoFanOut = 32

// Infos reads the lock of every member, as [Locker.Info] does: the
// reference's values_lock_status and health_check (a member is locked when
// its Info's Holds > 0; see [Info] for the reference's four states). An
// empty pool gives an empty map. Membership is read first, then every
// member's lock, each in one atomic read; a lock that changes while the
// call runs is seen before or after the change.
func (p *Pool) Infos(ctx context.Context) (map[string]Info, error) {
	members, err := p.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Info, len(members))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		slots = make(chan struct{}, infoFanOut)
	)
	for _, m := range members {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			st, err := p.l.Info(ctx, m)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			out[m] = st
		})
	}
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("lock.Pool.Infos %q: %w", p.name, first)
	}
	return out, nil
}
