package redisx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/rueidis"
)

// Namespace kinds of the feature packages: the "<kind>" of their hash tags
// "{<kind>:<name>}". Each package keeps its own unexported copy; the
// root package's discovery test seeds every kind through the public API, so
// a change on either side fails it.
const (
	KindPool     = "pool"     // pool.Pool
	KindQueue    = "queue"    // task.Queue
	KindLock     = "lock"     // lock.Locker's locks
	KindLockPool = "lockpool" // lock.Pool
	KindHealth   = "health"   // health sessions of one group
)

// DefaultScanLimit bounds the keys ScanNamespaces examines per node when
// the caller passes 0.
const DefaultScanLimit = 10000

// maxScanCount is the largest SCAN COUNT hint sent: larger ones make a
// single SCAN call block the server for long on a big keyspace.
const maxScanCount = 1000

// Scanned is what ScanNamespaces found.
type Scanned struct {
	// Names maps a kind to the sorted names of its namespaces.
	Names map[string][]string
	// Keys counts the keys examined, all nodes together.
	Keys int
	// Truncated reports that some node's scan stopped at the limit.
	Truncated bool
}

// ScanNamespaces lists the namespaces that have keys under prefix with one
// SCAN (MATCH "<prefix>:{*", the prefix's glob characters escaped) per
// master node, examining at most limit keys per node (0: DefaultScanLimit).
// It only reads. Keys under the prefix that are not namespace keys of a
// valid name are skipped.
func ScanNamespaces(ctx context.Context, client rueidis.Client, prefix string, limit int) (Scanned, error) {
	if client == nil {
		return Scanned{}, errors.New("redisallocator: nil client")
	}
	if err := ValidateName("prefix", prefix); err != nil {
		return Scanned{}, err
	}
	if limit < 0 {
		return Scanned{}, fmt.Errorf("redisallocator: scan limit %d is negative", limit)
	}
	if limit == 0 {
		limit = DefaultScanLimit
	}
	nodes, err := masters(ctx, client)
	if err != nil {
		return Scanned{}, err
	}
	// One pass finds every kind: one pass per kind would walk the whole
	// keyspace once per kind.
	pattern := globEscape(prefix) + ":{*"
	found := map[string]map[string]bool{}
	var s Scanned
	for _, n := range nodes {
		keys, truncated, err := scanNode(ctx, n.client, pattern, limit)
		if err != nil {
			return Scanned{}, fmt.Errorf("redisallocator: scan %s: %w", n.addr, err)
		}
		s.Keys += len(keys)
		s.Truncated = s.Truncated || truncated
		for _, k := range keys {
			kind, name, ok := parseNamespaceKey(prefix, k)
			if !ok {
				continue
			}
			if found[kind] == nil {
				found[kind] = map[string]bool{}
			}
			found[kind][name] = true
		}
	}
	s.Names = make(map[string][]string, len(found))
	for kind, names := range found {
		list := make([]string, 0, len(names))
		for n := range names {
			list = append(list, n)
		}
		slices.Sort(list)
		s.Names[kind] = list
	}
	return s, nil
}

// parseNamespaceKey splits "<prefix>:{<kind>:<name>}:<suffix>" (see
// Namespace) into kind and name. Names cannot contain braces
// (ValidateName), so the first '}' closes the tag.
func parseNamespaceKey(prefix, key string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix+":{")
	if !ok {
		return "", "", false
	}
	tag, _, ok := strings.Cut(rest, "}")
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(tag, ":")
	if !ok || kind == "" || ValidateName("name", name) != nil {
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

type scanTarget struct {
	addr   string
	client rueidis.Client
}

// masters returns the nodes that own keys: every node of a standalone or
// cluster client except replicas, sorted by address. A node that cannot
// answer ROLE (miniredis) counts as a master.
func masters(ctx context.Context, client rueidis.Client) ([]scanTarget, error) {
	var out []scanTarget
	for addr, c := range client.Nodes() {
		role, err := c.Do(ctx, c.B().Role().Build()).ToArray()
		if err != nil {
			if _, isRedis := rueidis.IsRedisErr(err); !isRedis {
				return nil, fmt.Errorf("redisallocator: ROLE on %s: %w", addr, err)
			}
		} else if len(role) > 0 {
			if s, _ := role[0].ToString(); s != "master" {
				continue
			}
		}
		out = append(out, scanTarget{addr: addr, client: c})
	}
	if len(out) == 0 {
		return nil, errors.New("redisallocator: no master node")
	}
	slices.SortFunc(out, func(a, b scanTarget) int { return strings.Compare(a.addr, b.addr) })
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
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}
