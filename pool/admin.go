package pool

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// MaxImportBatch bounds the records of one ImportRecords call, so that one
// script never blocks Redis for long.
const MaxImportBatch = 10000

// Record is one member as an administrator exports or imports it: key,
// priority, expiry and the value as stored, encoded with the pool's codec
// (see Pool.Codec). It is how tools move members between pools and files
// without knowing T.
type Record struct {
	Key      string
	Priority int
	// TTL is how long the member stays in the pool; 0 for no expiry.
	// ExportRecords sets it to what remained when it read the pool (at least
	// 1ms for a member already past its expiry); ImportRecords applies it
	// from the server's now.
	TTL time.Duration
	// Expiry is when the member leaves the pool by the server's clock; zero
	// for never. Set by ExportRecords only; ImportRecords ignores it.
	Expiry time.Time
	// HasValue reports whether Value is set (a member may have none).
	HasValue bool
	// Value is the encoded value.
	Value []byte
}

// ExportRecords reads every member, sorted by key, with its priority, expiry
// and encoded value, in one read-only script: a consistent copy even while
// other processes change the pool. Members past their expiry (gone by the
// pool's rules, not yet removed) are left out. It costs O(n) in the pool size and
// returns every value at once, so it is for administration, not hot paths.
// Leases, quarantines and bindings are not part of a record.
func (p *Pool[T]) ExportRecords(ctx context.Context) ([]Record, error) {
	msg, err := p.c.runScript(ctx, script.PoolExport, nil)
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 7 {
		return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", p.c.name, err)
	}
	now, err := arr[0].AsInt64()
	if err != nil {
		return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", p.c.name, err)
	}
	// Members past their expiry are gone by the pool's rules (the next
	// malloc or GC removes them, a held one when its lease ends): they are
	// left out, so an export can always be imported again.
	gone := map[string]bool{}
	var keys []string
	for i, m := range arr[1:4] {
		ks, err := m.AsStrSlice()
		if err != nil {
			return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", p.c.name, err)
		}
		if i == 1 { // held members, each with its expired flag
			if len(ks)%2 != 0 {
				return nil, fmt.Errorf("pool %s: export: unexpected reply: odd holder list", p.c.name)
			}
			for j := 0; j < len(ks); j += 2 {
				keys = append(keys, ks[j])
				if ks[j+1] == "1" {
					gone[ks[j]] = true
				}
			}
			continue
		}
		keys = append(keys, ks...)
	}
	prio, err1 := pairs(arr[4])
	timers, err2 := pairs(arr[5])
	values, err3 := pairs(arr[6])
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", p.c.name, err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := make([]Record, len(keys))
	index := make(map[string]*Record, len(keys))
	for i, k := range keys {
		out[i].Key = k
		index[k] = &out[i]
	}
	for _, pr := range prio {
		if r := index[pr[0]]; r != nil {
			r.Priority, _ = strconv.Atoi(pr[1])
		}
	}
	for _, t := range timers {
		key, ok := strings.CutPrefix(t[0], "e:")
		r := index[key]
		if !ok || r == nil {
			continue
		}
		at, err := strconv.ParseFloat(t[1], 64)
		if err != nil {
			return nil, fmt.Errorf("pool %s: export: bad reply: timer %q at %q", p.c.name, t[0], t[1])
		}
		if int64(at) <= now {
			gone[key] = true
			continue
		}
		r.Expiry = time.UnixMilli(int64(at))
		r.TTL = time.Duration(int64(at)-now) * time.Millisecond
	}
	for _, v := range values {
		if r := index[v[0]]; r != nil {
			r.HasValue, r.Value = true, []byte(v[1])
		}
	}
	if len(gone) > 0 {
		out = slices.DeleteFunc(out, func(r Record) bool { return gone[r.Key] })
	}
	return out, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ImportRecords adds or updates the members of records in one atomic
// step: every record is checked first, and one bad record (ErrInvalidKey,
// ErrInvalidPriority, ErrInvalidDuration, or more than MaxImportBatch
// records: ErrInvalidCount) rejects the whole call before anything is sent.
// New members join the free set; existing ones get the record's priority
// and expiry (TTL 0 removes an expiry), and its value when HasValue is set,
// and keep their state: a held member stays held by its holder. Values must
// be encoded with the pool's codec. Records with the same key apply in
// order, so the last one wins. It returns how many members were new.
func (p *Pool[T]) ImportRecords(ctx context.Context, records []Record) (int, error) {
	if len(records) > MaxImportBatch {
		return 0, fmt.Errorf("%w: %d records, at most %d per call", ErrInvalidCount, len(records), MaxImportBatch)
	}
	args := make([]string, 1, 1+5*len(records))
	args[0] = "add"
	for i, r := range records {
		if err := checkKey(r.Key); err != nil {
			return 0, fmt.Errorf("record %d: %w", i, err)
		}
		if r.Priority < MinPriority || r.Priority > MaxPriority {
			return 0, fmt.Errorf("%w: record %d: %d is outside [%d, %d]", ErrInvalidPriority, i, r.Priority, MinPriority, MaxPriority)
		}
		if r.TTL != 0 && (r.TTL < time.Millisecond || r.TTL > MaxTTL) {
			return 0, fmt.Errorf("%w: record %d: ttl %v must be 0 or between 1ms and %v", ErrInvalidDuration, i, r.TTL, MaxTTL)
		}
		hv, v := "0", ""
		if r.HasValue {
			hv, v = "1", string(r.Value)
		}
		args = append(args, r.Key, strconv.Itoa(r.Priority), ms(r.TTL), hv, v)
	}
	if len(records) == 0 {
		return 0, nil
	}
	msg, err := p.c.runScript(ctx, script.PoolExtend, args)
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}
