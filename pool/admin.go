package pool

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Inspector is the read-only view of a pool for operators, dashboards and
// tests: Snapshot, Stats, State, Bindings, Export and the state metrics.
// Every read is one read-only script, so an Inspector never changes the
// pool. It needs no value type: tools open it with NewInspector from the
// client, prefix and name. An Inspector is safe for concurrent use and
// keeps no goroutine running.
type Inspector struct {
	c *core
}

// NewInspector opens the read-only view of the pool prefix/name on client.
// It writes nothing to Redis and decodes no value, so it needs no codec.
// The caller keeps ownership of client. Errors match ErrInvalid.
func NewInspector(client rueidis.Client, prefix, name string, opts ...AdminOption) (*Inspector, error) {
	c, err := openCore(client, prefix, name, opts)
	if err != nil {
		return nil, err
	}
	return &Inspector{c: c}, nil
}

// Admin is the operator's side of a pool, as asynq's Inspector is of a
// queue: every read of its Inspector, and the changes no ordinary holder
// makes: ForceRelease, Quarantine, Update, Import, Clear, binding edits
// (Bind, Unbind) and GC. It needs no value type: tools open it with
// NewAdmin from the client, prefix and name; a program holding a Pool gets
// one from Pool.Admin. An Admin is safe for concurrent use and keeps no
// goroutine running.
type Admin struct {
	*Inspector
}

// NewAdmin opens the administration of the pool prefix/name on client. It
// writes nothing to Redis until asked and decodes no value, so it needs no
// codec. The caller keeps ownership of client. Errors match ErrInvalid.
func NewAdmin(client rueidis.Client, prefix, name string, opts ...AdminOption) (*Admin, error) {
	c, err := openCore(client, prefix, name, opts)
	if err != nil {
		return nil, err
	}
	return &Admin{&Inspector{c: c}}, nil
}

func openCore(client rueidis.Client, prefix, name string, opts []AdminOption) (*core, error) {
	cfg, err := newAdminConfig(opts)
	if err != nil {
		return nil, err
	}
	return newCore(client, prefix, name, cfg)
}

func (c *core) counts(ctx context.Context) (Counts, error) {
	msg, err := c.runScript(ctx, script.PoolInspect, []string{"len", ""})
	if err != nil {
		return Counts{}, err
	}
	r, err := msg.AsIntSlice()
	if err != nil || len(r) != 3 {
		return Counts{}, fmt.Errorf("pool %s: counts: unexpected reply: %w", c.name, err)
	}
	return Counts{Free: int(r[0]), Held: int(r[1]), Unhealthy: int(r[2])}, nil
}

// Update changes existing members: the priority and expiry the options
// give (Priority, MemberTTL; MemberTTL(0) removes the expiry). A free
// member moves to its new place at once. Unlike AddKeys it adds nothing:
// ErrNotMember for a key not in the pool, and then nothing is changed.
func (a *Admin) Update(ctx context.Context, keys []string, opts ...MemberOption) error {
	_, err := a.c.extend(ctx, "existing", keys, nil, opts)
	return err
}

// Clear removes every member, lease and binding. Fencing numbers and the
// count of leases granted (Stats.Allocations) keep rising across a Clear,
// and worker sessions that held leases here stay alive. It returns how
// many members were removed.
func (a *Admin) Clear(ctx context.Context) (int, error) { return a.c.clear(ctx) }

// Record is one member as an administrator exports or imports it: key,
// priority, expiry and the value as stored, encoded with the pool's codec
// (WithCodec). It is how tools move members between pools and files
// without knowing T.
type Record struct {
	Key      string
	Priority int
	// TTL is how long the member stays in the pool; 0 for no expiry.
	// Export sets it to what remained when it read the pool; Import applies
	// it from the server's now.
	TTL time.Duration
	// Expiry is when the member leaves the pool by the server's clock; zero
	// for never. Set by Export only; Import ignores it.
	Expiry time.Time
	// HasValue reports whether Value is set (a member may have none).
	HasValue bool
	// Value is the encoded value.
	Value []byte
}

// Export reads every member, sorted by key, with its priority, expiry
// and encoded value, in one read-only script: a consistent copy even while
// other processes change the pool. Members past their expiry (gone by the
// pool's rules, not yet removed) are left out. It costs O(n) in the pool size and
// returns every value at once, so it is for administration, not hot paths.
// Leases, quarantines and bindings are not part of a record.
func (a *Inspector) Export(ctx context.Context) ([]Record, error) {
	c := a.c
	msg, err := c.runScript(ctx, script.PoolExport, nil)
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 7 {
		return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", c.name, err)
	}
	now, err := arr[0].AsInt64()
	if err != nil {
		return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", c.name, err)
	}
	// Members past their expiry are gone by the pool's rules (the next
	// malloc or GC removes them, a held one when its lease ends): they are
	// left out, so an export can always be imported again.
	gone := map[string]bool{}
	var keys []string
	for i, m := range arr[1:4] {
		ks, err := m.AsStrSlice()
		if err != nil {
			return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", c.name, err)
		}
		if i == 1 { // held members, each with its expired flag
			if len(ks)%2 != 0 {
				return nil, fmt.Errorf("pool %s: export: unexpected reply: odd holder list", c.name)
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
		return nil, fmt.Errorf("pool %s: export: unexpected reply: %w", c.name, err)
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
			return nil, fmt.Errorf("pool %s: export: bad reply: timer %q at %q", c.name, t[0], t[1])
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

// Import adds or updates the members of records in one atomic
// step: every record is checked first, and one bad record (a malformed
// key, a priority outside -2048 to 2047, a TTL outside 1ms to 2^41 ms) or
// more than 10000 records reject the whole call with ErrInvalid before
// anything is sent.
// New members join the free set; existing ones get the record's priority
// and expiry (TTL 0 removes an expiry), and its value when HasValue is set,
// and keep their state: a held member stays held by its holder. Values must
// be encoded with the pool's codec. Records with the same key apply in
// order, so the last one wins. It returns how many members were new.
func (a *Admin) Import(ctx context.Context, records []Record) (int, error) {
	if len(records) > maxBatch {
		return 0, fmt.Errorf("%w: %d records, at most %d per call", errInvalidCount, len(records), maxBatch)
	}
	args := make([]string, 1, 1+5*len(records))
	args[0] = "add"
	for i, r := range records {
		if err := checkKey(r.Key); err != nil {
			return 0, fmt.Errorf("record %d: %w", i, err)
		}
		if r.Priority < minPriority || r.Priority > maxPriority {
			return 0, fmt.Errorf("%w: record %d: %d is outside [%d, %d]", errInvalidPriority, i, r.Priority, minPriority, maxPriority)
		}
		if r.TTL != 0 && (r.TTL < time.Millisecond || r.TTL > maxTTL) {
			return 0, fmt.Errorf("%w: record %d: ttl %v must be 0 or between 1ms and %v", errInvalidDuration, i, r.TTL, maxTTL)
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
	msg, err := a.c.runScript(ctx, script.PoolExtend, args)
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}
