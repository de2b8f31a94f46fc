package script

// Lock error codes. NOT_HELD (CodeNotHeld) is shared with the pool scripts
// and declared in pool.go.
const (
	// CodeNotNumber: a conditional lock operation found a stored value that
	// is not a decimal number.
	CodeNotNumber Code = "NOT_NUMBER"
)

// Lock scripts; each file's header (lua/lock_*.lua) is its contract. The
// single-lock scripts of the reference's lock family take the lock key and
// its hold-count key, both in the lock's slot; the lease scripts serve the
// blocking mutex and the quorum lock; the lock pool scripts keep a member
// set in the pool's slot.
var (
	LockLock          = register("lock_lock")
	LockRLock         = register("lock_rlock")
	LockUpdate        = register("lock_update")
	LockForceSet      = register("lock_force_set")
	LockUnlock        = register("lock_unlock")
	LockForceUnlock   = register("lock_force_unlock")
	LockInspect       = register("lock_inspect")
	LockCompareSet    = register("lock_compare_set")
	LockCompareDelete = register("lock_compare_delete")

	LockAcquire    = register("lock_acquire")
	LockRelease    = register("lock_release")
	LockFenceRaise = register("lock_fence_raise")

	LockPoolExtend   = register("lock_pool_extend")
	LockPoolShrink   = register("lock_pool_shrink")
	LockPoolAssign   = register("lock_pool_assign")
	LockPoolClear    = register("lock_pool_clear")
	LockPoolMembers  = register("lock_pool_members")
	LockPoolContains = register("lock_pool_contains")
)
