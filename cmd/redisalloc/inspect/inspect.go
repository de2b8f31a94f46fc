package inspect

import (
	"context"
	"errors"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
)

// Defaults of Options.
const (
	// DefaultScanLimit bounds the keys of the prefix one discovery
	// (redisallocator.Discover) keeps per node, like the reference's
	// scan_limit.
	DefaultScanLimit = 10000
	// DefaultSampleLimit caps the slow-log entries per node and the recent
	// failures per queue.
	DefaultSampleLimit = 20
	// DefaultTimeout bounds a whole Collect when ctx has no deadline.
	DefaultTimeout = 30 * time.Second
	// DefaultFullReadLimit is the largest pool Collect reads whole. A whole
	// read is one script over every member, which holds Redis for about
	// 1 ms per 1,000 members (the reader spends several times that); larger
	// pools get a summary instead.
	DefaultFullReadLimit = 10000
)

// Errors.
var (
	// ErrInvalid reports bad input: a bad prefix or a negative limit.
	ErrInvalid = errors.New("inspect: invalid argument")
	// ErrRedis reports a Redis failure while collecting.
	ErrRedis = errors.New("inspect: redis failed")
)

// Names are the namespaces found under a prefix: what
// redisallocator.Discover returns, and what Options.Names selects.
type Names = redisallocator.Names

// Options tune Collect. The zero value means every default.
type Options struct {
	// ScanLimit bounds the keys of the prefix kept per node by the
	// discovery (DefaultScanLimit); negative is an error.
	ScanLimit int
	// SampleLimit caps slow-log entries per node and recent failures per
	// queue (DefaultSampleLimit); negative is an error.
	SampleLimit int
	// Names, when set, skips the discovery and collects exactly these.
	Names *Names
	// SkipRedis leaves Report.Redis nil (no INFO or SLOWLOG).
	SkipRedis bool
	// OmitMembers leaves out pool members, bindings and sessions, to keep
	// reports of huge pools small; the counts stay.
	OmitMembers bool
	// FullReadLimit is the largest pool, in members, read whole (members,
	// bindings, sessions and an invariant check, in one script that holds
	// Redis for time proportional to the pool). A larger pool gets a
	// summary (pool.Stats: counts and due timers, at a cost independent
	// of its size) with Pool.Summary set. 0 means DefaultFullReadLimit;
	// negative reads every pool whole.
	FullReadLimit int
}

// Collect reads everything under prefix into a Report and diagnoses it
// (Diagnose): every pool by one atomic snapshot script, every queue's
// counts and recent dead letters, locks, lock pools, workers per health
// group and, unless opts.SkipRedis, INFO and SLOWLOG of every node. One
// report has cumulative script counters but no script load: pass two to
// ScriptLoadSince, then Diagnose the later one. It never writes. When ctx
// has no deadline, DefaultTimeout bounds it. Errors match ErrInvalid or
// ErrRedis; a report is returned only without error.
func Collect(ctx context.Context, client rueidis.Client, prefix string, opts Options) (*Report, error) {
	return collect(ctx, client, prefix, opts)
}
