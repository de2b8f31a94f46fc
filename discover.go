package redisallocator

import (
	"context"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// Names lists what lives under one key prefix, as found by [Discover].
// Each list is sorted.
type Names struct {
	// Pools are the names of pools (pool.New, pool.NewInspector).
	Pools []string `json:"pools"`
	// Queues are the names of task queues (task.New, task.NewInspector).
	Queues []string `json:"queues"`
	// Locks are the names of the locks of lock.New's Locker that hold a
	// key: taken, or with a fencing counter.
	Locks []string `json:"locks"`
	// LockPools are the names of lock pools (lock.NewPool).
	LockPools []string `json:"lock_pools"`
	// HealthGroups are the groups of health sessions (health.WithGroup).
	HealthGroups []string `json:"health_groups"`
	// Scanned counts the keys examined, all nodes together.
	Scanned int `json:"scanned"`
	// Truncated reports that the scan stopped at its limit on some node
	// before the end: names may be missing.
	Truncated bool `json:"truncated"`
}

// Discover finds the pools, task queues, locks, lock pools and health
// groups that have keys under prefix, for operator tools that are not told
// the names (the redisalloc CLI's inspect and diagnose are built on it). It
// walks the keys of the prefix with SCAN on every master node (each master
// of a cluster) and keeps at most limit keys of the prefix per node; 0
// means 10,000. When a node has more, the result has Truncated set and may
// miss names: raise the limit, or give the tool the names. Something that
// has no key at the moment (an empty pool, a free lock that never had a
// fence) is not found.
//
// It never writes. SCAN filters on the server, so a node's walk costs
// about one round trip per 1,000 keys of that node, whatever the prefix
// holds. Errors match [ErrInvalidName] for a bad prefix; a nil client or a
// negative limit is an error too, and a Redis or ctx failure is returned
// wrapped.
func Discover(ctx context.Context, client rueidis.Client, prefix string, limit int) (Names, error) {
	s, err := redisx.ScanNamespaces(ctx, client, prefix, limit)
	if err != nil {
		return Names{}, err
	}
	list := func(kind string) []string {
		if l := s.Names[kind]; l != nil {
			return l
		}
		return []string{}
	}
	return Names{
		Pools:        list(redisx.KindPool),
		Queues:       list(redisx.KindQueue),
		Locks:        list(redisx.KindLock),
		LockPools:    list(redisx.KindLockPool),
		HealthGroups: list(redisx.KindHealth),
		Scanned:      s.Keys,
		Truncated:    s.Truncated,
	}, nil
}

// ValidateName checks a prefix or the name of a pool, queue, lock, lock
// pool or health group by the rules every constructor applies: 1 to 256
// bytes of UTF-8 without control characters or braces. Tools call it to
// refuse a bad name before connecting; what names the value in the error
// ("prefix", "--pool", …). Errors match [ErrInvalidName].
func ValidateName(what, name string) error { return redisx.ValidateName(what, name) }

// ValidateMember checks a value stored inside keys rather than as a key
// name (a pool member's key, a lock pool member, a task ID, a binding
// name) by the rules the calls taking it apply: 1 to 1,024 bytes of UTF-8
// without NUL. what names the value in the error. Errors match
// [ErrInvalidName].
func ValidateMember(what, key string) error { return redisx.ValidateMember(what, key) }
