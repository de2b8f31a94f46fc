package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Indexes of the pool scripts' KEYS (script.PoolKeys), named so that no
// code says keys[9].
const (
	keyFree = iota
	keyHolders
	keyUnhealthy
	keyTimers
	keyPrio
	keyValues
	keyFence
	keyBind
	keyBindIdx
	keyNotify
	keyWaiting
	keySesIdx
	keyAllocs
	numKeys
)

// keySuffixes are the key names of a pool's namespace, by index.
var keySuffixes = [numKeys]string{
	keyFree: "free", keyHolders: "holders", keyUnhealthy: "unhealthy", keyTimers: "timers",
	keyPrio: "prio", keyValues: "values", keyFence: "fence", keyBind: "bind",
	keyBindIdx: "bindidx", keyNotify: "notify", keyWaiting: "waiting", keySesIdx: "sesidx",
	keyAllocs: "allocs",
}

// core is the untyped part of a pool, shared by Pool[T] and its leases.
type core struct {
	name string
	ns   redisx.Namespace
	keys []string // the pool scripts' KEYS
	// The KEYS of pool_malloc_fast and pool_free_fast: only those they
	// touch, since every key passed costs the call.
	mallocFastKeys, freeFastKeys []string
	run                          *redisx.Runner
	client                       rueidis.Client
	cfg                          config

	tokenPrefix string // random per Pool value: tokens are unique across processes
	tokenSeq    atomic.Uint64

	// Concurrent simple mallocs and single frees share script runs.
	mallocs *batcher[mallocReq, mallocRes]
	frees   *batcher[[2]string, int64]

	met *metrics

	// codecSaved: this Pool recorded its codec's name (saveCodec).
	codecSaved atomic.Bool
}

// Pool is a distributed pool of named resources (members) with values of
// type T, shared by every process that opens it with the same prefix and
// name. Members are handed out exclusively (or round-robin in shared mode)
// by priority, then least recently freed; every exclusive allocation gets a
// holder token and a fencing number, and everything done to an allocation
// is checked against its token, so a holder whose lease lapsed cannot free
// or extend the next holder's lease.
//
// All keys of a pool share one hash tag, so the pool lives in one Redis
// Cluster slot; every state change is one Lua script. A Pool is safe for
// concurrent use; it holds no connection of its own and keeps no goroutine
// running (see the package documentation for the short-lived ones).
type Pool[T any] struct {
	c *core
}

// New opens the pool prefix/name on client. It writes nothing to Redis. The
// caller keeps ownership of client. Errors match ErrInvalid (a bad prefix or
// name, a nil client, an option out of range).
func New[T any](client rueidis.Client, prefix, name string, opts ...Option) (*Pool[T], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c, err := newCore(client, prefix, name, cfg)
	if err != nil {
		return nil, err
	}
	return &Pool[T]{c: c}, nil
}

func newCore(client rueidis.Client, prefix, name string, cfg config) (*core, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", errInvalidOption)
	}
	ns, err := redisx.NewNamespace(prefix, "pool", name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidKey, err)
	}
	keys := make([]string, numKeys)
	for i, s := range keySuffixes {
		keys[i] = ns.Key(s)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	c := &core{
		name: name,
		ns:   ns,
		keys: keys,
		mallocFastKeys: []string{
			keys[keyFree], keys[keyHolders], keys[keyTimers], keys[keyValues], keys[keyFence], keys[keyAllocs],
		},
		freeFastKeys: []string{keys[keyFree], keys[keyHolders], keys[keyTimers], keys[keyPrio], keys[keyWaiting]},
		client:       client,
		cfg:          cfg,
		run:          redisx.NewRunner(client, otel.NewProviders(cfg.tp, cfg.mp), scriptErrors),
		tokenPrefix:  hex.EncodeToString(r[:]) + "-",
	}
	c.met = newMetrics(c.run.Providers(), name)
	// Every script span names the pool, so traces can be filtered by it.
	c.run.SetSpanAttributes(attribute.String("redisallocator.pool.name", name))
	c.mallocs = &batcher[mallocReq, mallocRes]{max: batchMax, run: c.mallocMany, abandon: func(r mallocRes) {
		if r.lease != nil {
			c.giveBack(context.Background(), []*Lease{r.lease}, "")
		}
	}}
	c.frees = &batcher[[2]string, int64]{max: batchMax, run: c.freeMany}
	return c, nil
}

// Name returns the pool's name.
func (p *Pool[T]) Name() string { return p.c.name }

// Admin returns the operator's side of the pool (its Inspector included):
// snapshots, statistics, forced releases, quarantine, export and import.
// It shares the pool's client and options.
func (p *Pool[T]) Admin() *Admin { return &Admin{&Inspector{c: p.c}} }

// checkCtx is the first check of a call that runs a script detached from
// ctx (the runner checks the others): see redisx.CheckContext.
func (c *core) checkCtx(ctx context.Context) error {
	if err := redisx.CheckContext(ctx, ErrInvalid); err != nil {
		return fmt.Errorf("pool %s: %w", c.name, err)
	}
	return nil
}

func (c *core) runScript(ctx context.Context, s *script.Script, args []string) (rueidis.RedisMessage, error) {
	msg, err := c.run.Run(ctx, s, c.keys, args)
	if err != nil {
		return msg, fmt.Errorf("pool %s: %w", c.name, err)
	}
	return msg, nil
}

// runFast runs the cheap script fast over keys, and when it declines
// (replies 0, having written nothing) the full script with the same
// arguments: fast covers the common case of full (pool_malloc_fast of
// pool_malloc_many, pool_free_fast of pool_free) and leaves the rest,
// hostile state included, to it.
func (c *core) runFast(ctx context.Context, fast *script.Script, keys []string, full *script.Script, args []string) (rueidis.RedisMessage, error) {
	msg, err := c.run.Run(ctx, fast, keys, args)
	if err != nil {
		return msg, fmt.Errorf("pool %s: %w", c.name, err)
	}
	if msg.IsInt64() { // 0: declined (AsInt64 on an array would allocate an error)
		return c.runScript(ctx, full, args)
	}
	return msg, nil
}

func (c *core) newToken() string {
	return c.tokenPrefix + strconv.FormatUint(c.tokenSeq.Add(1), 36)
}

func checkKey(key string) error {
	if err := redisx.ValidateMember("member", key); err != nil {
		return fmt.Errorf("%w: %w", errInvalidKey, err)
	}
	return nil
}

func checkKeys(keys []string) error {
	if len(keys) > maxBatch {
		return fmt.Errorf("%w: %d members in one call, at most %d", errInvalidCount, len(keys), maxBatch)
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	return nil
}

// ms formats d for a script, in milliseconds rounded up (redisx.CeilMS).
func ms(d time.Duration) string { return redisx.MSArg(d) }

// memberArgs builds the 5-entry member records of pool_extend/pool_assign.
func memberArgs(keys []string, values [][]byte, mc memberConfig) []string {
	prio, exp := "", ""
	if mc.prio != nil {
		prio = strconv.Itoa(*mc.prio)
	}
	if mc.setTTL {
		exp = ms(mc.ttl)
	}
	args := make([]string, 0, 5*len(keys))
	for i, k := range keys {
		if values != nil {
			args = append(args, k, prio, exp, "1", string(values[i]))
		} else {
			args = append(args, k, prio, exp, "0", "")
		}
	}
	return args
}

// Add adds members with values (encoded with the pool's codec) as free
// members, or, for keys already in the pool, sets their value and the
// priority and expiry the options give. A member that is held stays held by
// its holder. It returns how many members were new. One bad key, or a value
// the codec cannot encode (ErrInvalid and codec.ErrEncode), rejects the
// whole call before anything is written. The first Add or Assign of a Pool
// value also records its codec's name for tools ([Inspector.Codec]).
func (p *Pool[T]) Add(ctx context.Context, members map[string]T, opts ...MemberOption) (int, error) {
	keys, values, err := p.encodeMembers(members)
	if err != nil {
		return 0, err
	}
	n, err := p.c.extend(ctx, "add", keys, values, opts)
	if err == nil {
		p.c.saveCodec(ctx)
	}
	return n, err
}

// AddKeys is Add for members without values: keys already in the pool keep
// their value.
func (p *Pool[T]) AddKeys(ctx context.Context, keys []string, opts ...MemberOption) (int, error) {
	return p.c.extend(ctx, "add", keys, nil, opts)
}

func (p *Pool[T]) encodeMembers(members map[string]T) ([]string, [][]byte, error) {
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic order of insertion
	values := make([][]byte, len(keys))
	for i, k := range keys {
		b, err := p.c.cfg.codec.Marshal(members[k])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: pool %s: value of %q: %w", ErrInvalid, p.c.name, k, err)
		}
		values[i] = b
	}
	return keys, values, nil
}

func (c *core) extend(ctx context.Context, mode string, keys []string, values [][]byte, opts []MemberOption) (int, error) {
	mc, err := newMemberConfig(opts)
	if err != nil {
		return 0, err
	}
	if err := checkKeys(keys); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	msg, err := c.runScript(ctx, script.PoolExtend, append([]string{mode}, memberArgs(keys, values, mc)...))
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}

// Assign makes members the whole membership in one atomic step: members
// not given leave (a removed held member's lease ends; its holder's Release
// then returns ErrNotHeld), members in both keep their state and lease and
// get the value given, and new ones join as free members. Options apply to
// every member given. It returns how many members were added and removed.
func (p *Pool[T]) Assign(ctx context.Context, members map[string]T, opts ...MemberOption) (added, removed int, err error) {
	keys, values, err := p.encodeMembers(members)
	if err != nil {
		return 0, 0, err
	}
	added, removed, err = p.c.assign(ctx, keys, values, opts)
	if err == nil {
		p.c.saveCodec(ctx)
	}
	return added, removed, err
}

// AssignKeys is Assign for members without values: members that stay keep
// their value.
func (p *Pool[T]) AssignKeys(ctx context.Context, keys []string, opts ...MemberOption) (added, removed int, err error) {
	return p.c.assign(ctx, keys, nil, opts)
}

func (c *core) assign(ctx context.Context, keys []string, values [][]byte, opts []MemberOption) (int, int, error) {
	mc, err := newMemberConfig(opts)
	if err != nil {
		return 0, 0, err
	}
	if err := checkKeys(keys); err != nil {
		return 0, 0, err
	}
	if len(keys) == 0 {
		n, err := c.clear(ctx)
		return 0, n, err
	}
	msg, err := c.runScript(ctx, script.PoolAssign, memberArgs(keys, values, mc))
	if err != nil {
		return 0, 0, err
	}
	r, err := msg.AsIntSlice()
	if err != nil || len(r) != 2 {
		return 0, 0, fmt.Errorf("pool %s: assign: unexpected reply: %w", c.name, err)
	}
	return int(r[0]), int(r[1]), nil
}

// Remove takes members out of the pool; keys not in the pool are ignored. A
// removed held member's lease ends with it (its holder's Release then
// returns ErrNotHeld). It returns how many members were removed.
func (p *Pool[T]) Remove(ctx context.Context, keys ...string) (int, error) {
	if err := checkKeys(keys); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	msg, err := p.c.runScript(ctx, script.PoolShrink, keys)
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}

func (c *core) clear(ctx context.Context) (int, error) {
	msg, err := c.runScript(ctx, script.PoolClear, nil)
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	return int(n), err
}

// Counts are the members of a pool by state.
type Counts struct {
	Free      int // can be handed out
	Held      int // leased to a holder
	Unhealthy int // quarantined until their mark ends
}

// total is the number of members.
func (c Counts) total() int { return c.Free + c.Held + c.Unhealthy }

// size returns the number of members (the Counts of Inspector.Stats, at
// the cost of one small read).
func (p *Pool[T]) size(ctx context.Context) (int, error) {
	c, err := p.c.counts(ctx)
	return c.total(), err
}

// State of a member.
type State string

// Member states.
const (
	StateFree      State = "free"
	StateHeld      State = "held"
	StateUnhealthy State = "unhealthy"
)

func (c *core) state(ctx context.Context, key string) (State, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	msg, err := c.runScript(ctx, script.PoolInspect, []string{"state", key})
	if err != nil {
		return "", err
	}
	if msg.IsNil() {
		return "", fmt.Errorf("pool %s: %q: %w", c.name, key, ErrNotMember)
	}
	s, err := msg.ToString()
	return State(s), err
}

// Contains reports whether key is a member.
func (p *Pool[T]) Contains(ctx context.Context, key string) (bool, error) {
	_, err := p.c.state(ctx, key)
	if errors.Is(err, ErrNotMember) {
		return false, nil
	}
	return err == nil, err
}

// Keys returns every member, sorted.
func (p *Pool[T]) Keys(ctx context.Context) ([]string, error) {
	msg, err := p.c.runScript(ctx, script.PoolInspect, []string{"keys", ""})
	if err != nil {
		return nil, err
	}
	parts, err := msg.ToArray()
	if err != nil || len(parts) != 3 {
		return nil, fmt.Errorf("pool %s: keys: unexpected reply: %w", p.c.name, err)
	}
	var keys []string
	for _, part := range parts {
		ss, err := part.AsStrSlice()
		if err != nil {
			return nil, err
		}
		keys = append(keys, ss...)
	}
	slices.Sort(keys)
	return keys, nil
}

// Get returns the value of a member. The read goes through rueidis
// client-side caching when the client has it, so it may trail a concurrent
// Add by a few milliseconds; allocation decisions never rely on it.
// Errors: ErrNotMember when the member has no value (or is not a member);
// a value the codec cannot decode gives an error matching codec.ErrDecode
// that names the member.
func (p *Pool[T]) Get(ctx context.Context, key string) (T, error) {
	var zero T
	if err := checkKey(key); err != nil {
		return zero, err
	}
	if err := p.c.checkCtx(ctx); err != nil {
		return zero, err
	}
	b, found, err := redisx.HGetCached(ctx, p.c.client, p.c.keys[keyValues], key, time.Minute)
	if err != nil {
		return zero, fmt.Errorf("pool %s: get %q: %w", p.c.name, key, err)
	}
	if !found {
		return zero, fmt.Errorf("pool %s: %q has no value: %w", p.c.name, key, ErrNotMember)
	}
	return p.decode(key, b)
}

func (p *Pool[T]) decode(key string, b []byte) (T, error) {
	var v T
	if err := p.c.cfg.codec.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("pool %s: value of member %q: %w", p.c.name, key, err)
	}
	return v, nil
}

var sessionRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// incarnationRE matches a session's incarnation: none, or up to 64
// letters, digits, '-', '_' or '.' (no ':', which separates it from the ID).
var incarnationRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{0,64}$`)
