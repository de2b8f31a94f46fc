package script

// Pool error codes.
const (
	// CodeNotHeld: the caller's lease ended or belongs to another holder.
	CodeNotHeld Code = "NOT_HELD"
	// CodeNotMember: the member is not in the pool.
	CodeNotMember Code = "NOT_MEMBER"
	// CodeNotFree: the member asked for is held or quarantined.
	CodeNotFree Code = "NOT_FREE"
)

// poolKeys are the keys of every pool script, in this order; the pool
// library (lua/lib/pool.lua) names them.
var poolKeys = []string{
	"free set", "holders", "unhealthy", "timers", "priorities", "values",
	"fence counter", "bindings", "binding index", "wake-up list", "waiter count", "session index",
}

// memberArgs describe one member entry of pool_extend and pool_assign.
var memberArgs = []string{
	"member",
	"priority from -2048 to 2047, or empty to keep (new members get 0)",
	"expiry ttl in ms, 0 for none, or empty to keep",
	"1 when a value follows, else 0",
	"encoded value",
}

// Pool scripts. Each runs over the eleven keys of one pool (all sharing the
// pool's hash tag); see the .lua headers for ARGV and replies.
var (
	PoolMalloc = register(&Script{
		Name: "pool_malloc",
		Keys: poolKeys,
		Args: []string{
			"mode: x exclusive, s shared",
			"count n, at least 1",
			"lease ttl in ms, 0 for a permanent lease",
			"holder token (also the waiter's id)",
			"session id or -",
			"soft-binding name or empty",
			"binding ttl in ms, 0 for never",
			"timer budget: due timers handled first",
			"wait flags: 1 register as a waiter when empty, 2 this caller was waiting",
			"session timeout in ms (with a session id): the session is dead that long after now unless its heartbeat moves it on",
			"a specific member to take, or empty for the best free one",
		},
		Errors: []Code{CodeInvalid, CodeNotMember, CodeNotFree},
	})
	PoolMallocMany = register(&Script{
		Name: "pool_malloc_many",
		Keys: poolKeys,
		Args: []string{
			"timer budget: due timers handled first",
			"holder token of one malloc",
			"its lease ttl in ms, 0 for a permanent lease",
			"...",
		},
		Errors: []Code{CodeInvalid},
	})
	PoolFree = register(&Script{
		Name:   "pool_free",
		Keys:   poolKeys,
		Args:   []string{"member", `holder token, empty to free whoever holds it, or "=" and a fence to free the lease only while it has that fence (administrators)`, "..."},
		Errors: []Code{CodeInvalid},
	})
	PoolRefresh = register(&Script{
		Name:   "pool_refresh",
		Keys:   poolKeys,
		Args:   []string{"member", "holder token", "new lease ttl in ms from now, 0 for a permanent lease"},
		Errors: []Code{CodeNotHeld, CodeInvalid},
	})
	PoolMark = register(&Script{
		Name: "pool_mark",
		Keys: poolKeys,
		Args: []string{
			"member",
			"holder token, or empty for an administrator",
			"op: u unhealthy, h healthy",
			"quarantine duration in ms (unhealthy only), at least 1",
		},
		Errors: []Code{CodeNotHeld, CodeNotMember, CodeInvalid},
	})
	PoolExtend = register(&Script{
		Name:   "pool_extend",
		Keys:   poolKeys,
		Args:   append([]string{"mode: add (new members join the free set) or existing (every member must exist)"}, append(memberArgs, "...")...),
		Errors: []Code{CodeInvalid, CodeNotMember},
	})
	PoolAssign = register(&Script{
		Name:   "pool_assign",
		Keys:   poolKeys,
		Args:   append(append([]string{}, memberArgs...), "..."),
		Errors: []Code{CodeInvalid},
	})
	PoolShrink = register(&Script{
		Name: "pool_shrink",
		Keys: poolKeys,
		Args: []string{"member", "..."},
	})
	PoolClear = register(&Script{
		Name: "pool_clear",
		Keys: poolKeys,
	})
	PoolGC = register(&Script{
		Name:   "pool_gc",
		Keys:   poolKeys,
		Args:   []string{"budget: how many due timers to handle, at least 1"},
		Errors: []Code{CodeInvalid},
	})
	PoolBind = register(&Script{
		Name: "pool_bind",
		Keys: poolKeys,
		Args: []string{
			"op: set or del",
			"binding name",
			"member (set only)",
			"binding ttl in ms, 0 for never (set only)",
		},
		Errors: []Code{CodeNotMember, CodeInvalid},
	})
	PoolSessionBeat = register(&Script{
		Name:   "pool_session_beat",
		Keys:   poolKeys,
		Args:   []string{"session id", "session timeout in ms, at least 1"},
		Errors: []Code{CodeInvalid},
	})
	PoolUnwait = register(&Script{
		Name: "pool_unwait",
		Keys: poolKeys,
		Args: []string{"the waiter's holder token"},
	})
	PoolInspect = register(&Script{
		Name: "pool_inspect",
		Keys: poolKeys,
		Args: []string{
			"op: len, load, state, keys, binding, bindings or stats",
			"argument: the member (state, bindings), binding name (binding) or most due timers to list (stats, 1 to 10000); ignored otherwise",
		},
		Errors:   []Code{CodeInvalid},
		ReadOnly: true,
	})
	PoolSnapshot = register(&Script{
		Name:     "pool_snapshot",
		Keys:     poolKeys,
		ReadOnly: true,
	})
)

// PoolClaim lets one process at a time refresh a pool from its source.
var PoolClaim = register(&Script{
	Name:   "pool_claim",
	Keys:   []string{"claim key in the pool's namespace"},
	Args:   []string{"claimant token", "interval in ms, at least 1"},
	Errors: []Code{CodeInvalid},
})

// PoolScale runs the pool scaler's steps under its claim.
var PoolScale = register(&Script{
	Name: "pool_scale",
	Keys: append(append([]string{}, poolKeys...), `scaler claim: "token fence" while a scaler holds it`, "scaler fence counter"),
	Args: []string{
		"op: claim, add, retire or release",
		"scaler token",
		"claim: ttl in ms; add, retire: the fence the claim returned; release: ignored",
		"retire: at most this many members",
		"retire: only members free at least this long, in ms",
		"retire: keep at least this many members in the pool",
		"retire: scan at most this many free members, least valuable first",
		"...",
	},
	Errors: []Code{CodeNotHeld, CodeInvalid},
})

// PoolExport reads every member with its priority, expiry and value at
// one instant (the administrators' export).
var PoolExport = register(&Script{
	Name:     "pool_export",
	Keys:     poolKeys,
	ReadOnly: true,
})
