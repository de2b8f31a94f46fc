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

// Pool scripts. Each runs over the thirteen keys of one pool (all sharing the
// pool's hash tag; pool_scale adds two), named by lua/lib/pool.lua; each
// file's header (lua/pool_*.lua) is its contract.
var (
	PoolMalloc     = register("pool_malloc")
	PoolMallocMany = register("pool_malloc_many")
	PoolFree       = register("pool_free")
	// PoolMallocFast and PoolFreeFast run the common cases of
	// PoolMallocMany and PoolFree cheaply; they decline (reply 0, nothing
	// written) whatever else, for the full script to run.
	PoolMallocFast  = register("pool_malloc_fast")
	PoolFreeFast    = register("pool_free_fast")
	PoolRefresh     = register("pool_refresh")
	PoolMark        = register("pool_mark")
	PoolExtend      = register("pool_extend")
	PoolAssign      = register("pool_assign")
	PoolShrink      = register("pool_shrink")
	PoolClear       = register("pool_clear")
	PoolGC          = register("pool_gc")
	PoolBind        = register("pool_bind")
	PoolSessionBeat = register("pool_session_beat")
	PoolUnwait      = register("pool_unwait")
	PoolInspect     = register("pool_inspect")
	PoolSnapshot    = register("pool_snapshot")
	// PoolClaim lets one process at a time refresh a pool from its source.
	PoolClaim = register("pool_claim")
	// PoolScale runs the pool scaler's steps under its claim.
	PoolScale = register("pool_scale")
	// PoolExport reads every member with its priority, expiry and value at
	// one instant (the administrators' export).
	PoolExport = register("pool_export")
)
