package inspect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

// Namespace kinds of the feature packages (see their key layouts).
const (
	kindPool     = "pool"
	kindQueue    = "queue"
	kindLock     = "lock"
	kindLockPool = "lockpool"
	kindHealth   = "health"
)

// maxScanCount is the largest SCAN COUNT hint sent: larger ones make a
// single SCAN call block the server for long on a big keyspace.
const maxScanCount = 1000

func checkPrefix(prefix string) error {
	if err := redisx.ValidateName("prefix", prefix); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func discover(ctx context.Context, client rueidis.Client, prefix string, limit int) (Names, error) {
	if client == nil {
		return Names{}, fmt.Errorf("%w: nil client", ErrInvalid)
	}
	if err := checkPrefix(prefix); err != nil {
		return Names{}, err
	}
	if limit < 0 {
		return Names{}, fmt.Errorf("%w: scan limit %d is negative", ErrInvalid, limit)
	}
	if limit == 0 {
		limit = DefaultScanLimit
	}
	nodes, err := masters(ctx, client)
	if err != nil {
		return Names{}, err
	}
	// One pass over "<prefix>:{*" finds every kind: five passes (one per
	// kind) would walk the whole keyspace five times.
	pattern := globEscape(prefix) + ":{*"
	found := map[string]map[string]bool{}
	var n Names
	for _, node := range nodes {
		keys, truncated, err := scanNode(ctx, node.client, pattern, limit)
		if err != nil {
			return Names{}, fmt.Errorf("%w: scan %s: %w", ErrRedis, node.addr, err)
		}
		n.Scanned += len(keys)
		n.Truncated = n.Truncated || truncated
		for _, k := range keys {
			kind, name, ok := parseKey(prefix, k)
			if !ok {
				continue
			}
			if found[kind] == nil {
				found[kind] = map[string]bool{}
			}
			found[kind][name] = true
		}
	}
	n.Pools = sortedNames(found[kindPool])
	n.Queues = sortedNames(found[kindQueue])
	n.Locks = sortedNames(found[kindLock])
	n.LockPools = sortedNames(found[kindLockPool])
	n.HealthGroups = sortedNames(found[kindHealth])
	return n, nil
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseKey splits "<prefix>:{<kind>:<name>}:<suffix>" into kind and name.
// Names cannot contain braces (redisx.ValidateName), so the first '}'
// closes the tag.
func parseKey(prefix, key string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix+":{")
	if !ok {
		return "", "", false
	}
	tag, _, ok := strings.Cut(rest, "}")
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(tag, ":")
	if !ok || kind == "" || redisx.ValidateName("name", name) != nil {
		return "", "", false
	}
	return kind, name, true
}

// globEscape escapes the characters SCAN MATCH treats specially, so a
// prefix such as "a*b" matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

type node struct {
	addr   string
	client rueidis.Client
}

// masters returns the nodes that own keys: every node of a standalone or
// cluster client except replicas, sorted by address. A node that cannot
// answer ROLE (miniredis) counts as a master.
func masters(ctx context.Context, client rueidis.Client) ([]node, error) {
	var out []node
	for addr, c := range client.Nodes() {
		role, err := c.Do(ctx, c.B().Role().Build()).ToArray()
		if err != nil {
			if _, isRedis := rueidis.IsRedisErr(err); !isRedis {
				return nil, fmt.Errorf("%w: ROLE on %s: %w", ErrRedis, addr, err)
			}
		} else if len(role) > 0 {
			if s, _ := role[0].ToString(); s != "master" {
				continue
			}
		}
		out = append(out, node{addr: addr, client: c})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no master node", ErrRedis)
	}
	slices.SortFunc(out, func(a, b node) int { return strings.Compare(a.addr, b.addr) })
	return out, nil
}

// scanNode lists the keys matching pattern on one node, stopping once
// limit keys were read; truncated reports that the scan did not finish.
func scanNode(ctx context.Context, c rueidis.Client, pattern string, limit int) (keys []string, truncated bool, err error) {
	count := int64(min(limit, maxScanCount))
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(pattern).Count(count).Build()).AsScanEntry()
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, e.Elements...)
		cursor = e.Cursor
		if cursor == 0 {
			return keys, false, nil
		}
		if len(keys) >= limit {
			return keys[:limit], true, nil
		}
		if ctx.Err() != nil {
			return nil, false, errors.Join(ErrRedis, ctx.Err())
		}
	}
}
