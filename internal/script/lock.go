package script

// Lock error codes. NOT_HELD (CodeNotHeld) is shared with the pool scripts
// and declared in pool.go.
const (
	// CodeNotNumber: a conditional lock operation found a stored value that
	// is not a decimal number.
	CodeNotNumber Code = "NOT_NUMBER"
)

// Key and argument descriptions shared by the lock scripts.
const (
	lockKey      = "lock key"
	lockHoldsKey = "hold count of the lock"
	lockTTLArg   = "ttl in milliseconds, or 0 for a lock without expiry"
	lockOpArg    = "operator: gt, lt, ge, le, eq or ne (the caller's number is the left operand)"
	lockPoolSet  = "member set of the pool"
)

// Single-lock scripts of the reference's lock family. Each takes the lock
// key and its hold-count key, both in the lock's slot.
var (
	// LockLock takes a lock only when it is free.
	LockLock = register(&Script{
		Name:   "lock_lock",
		Keys:   []string{lockKey, lockHoldsKey},
		Args:   []string{"owner", lockTTLArg},
		Errors: []Code{CodeInvalid},
	})
	// LockRLock takes a lock or adds a hold for the same owner.
	LockRLock = register(&Script{
		Name:   "lock_rlock",
		Keys:   []string{lockKey, "hold count of the lock (absent means one hold)"},
		Args:   []string{"owner", lockTTLArg},
		Errors: []Code{CodeInvalid},
	})
	// LockUpdate sets the ttl of a lock its owner holds.
	LockUpdate = register(&Script{
		Name:   "lock_update",
		Keys:   []string{lockKey, lockHoldsKey},
		Args:   []string{"owner", "ttl in milliseconds, or 0 for no expiry"},
		Errors: []Code{CodeInvalid, CodeNotHeld},
	})
	// LockForceSet overwrites a lock whoever holds it.
	LockForceSet = register(&Script{
		Name:   "lock_force_set",
		Keys:   []string{lockKey, lockHoldsKey},
		Args:   []string{"value", "ttl in milliseconds, or 0 for no expiry"},
		Errors: []Code{CodeInvalid},
	})
	// LockUnlock drops one hold of a lock its owner holds.
	LockUnlock = register(&Script{
		Name:   "lock_unlock",
		Keys:   []string{lockKey, "hold count of the lock (absent means one hold)"},
		Args:   []string{"owner"},
		Errors: []Code{CodeNotHeld},
	})
	// LockForceUnlock deletes a lock whoever holds it.
	LockForceUnlock = register(&Script{
		Name: "lock_force_unlock",
		Keys: []string{lockKey, lockHoldsKey},
	})
	// LockInspect reads ttl, hold count and value of a lock.
	LockInspect = register(&Script{
		Name:     "lock_inspect",
		Keys:     []string{lockKey, lockHoldsKey},
		ReadOnly: true,
	})
	// LockCompareSet is the conditional set of the reference (setgt, setlt, ...).
	LockCompareSet = register(&Script{
		Name: "lock_compare_set",
		Keys: []string{lockKey, lockHoldsKey},
		Args: []string{
			lockOpArg,
			"the caller's number",
			"epsilon for ge, le, eq and ne",
			"value to store",
			"expiry: ttl in milliseconds, 0 for none (an existing ttl is removed), or keep",
		},
		Errors: []Code{CodeInvalid, CodeNotNumber},
	})
	// LockCompareDelete is the conditional delete of the reference (delgt, ...).
	LockCompareDelete = register(&Script{
		Name:   "lock_compare_delete",
		Keys:   []string{lockKey, lockHoldsKey},
		Args:   []string{lockOpArg, "the caller's number", "epsilon for ge, le, eq and ne"},
		Errors: []Code{CodeInvalid, CodeNotNumber},
	})
)

// Lease scripts of the blocking mutex and the quorum lock.
var (
	// LockAcquire takes a lock for a new lease and numbers it from the
	// lock's fencing counter.
	LockAcquire = register(&Script{
		Name:   "lock_acquire",
		Keys:   []string{lockKey, "fencing counter of the lock (never expires; one per lock, not per lease)"},
		Args:   []string{"lease token", "ttl in milliseconds"},
		Errors: []Code{CodeInvalid},
	})
	// LockRelease ends a lease if the lock still holds its token.
	LockRelease = register(&Script{
		Name: "lock_release",
		Keys: []string{lockKey},
		Args: []string{"lease token"},
	})
	// LockFenceRaise lifts a fencing counter to a floor (quorum locks keep
	// the counters of their servers from falling behind one another).
	LockFenceRaise = register(&Script{
		Name:   "lock_fence_raise",
		Keys:   []string{"fencing counter of the lock"},
		Args:   []string{"floor"},
		Errors: []Code{CodeInvalid},
	})
)

// Lock pool membership scripts; the member set lives in the pool's slot.
var (
	// LockPoolExtend adds members.
	LockPoolExtend = register(&Script{
		Name: "lock_pool_extend",
		Keys: []string{lockPoolSet},
		Args: []string{"member", "..."},
	})
	// LockPoolShrink removes members.
	LockPoolShrink = register(&Script{
		Name: "lock_pool_shrink",
		Keys: []string{lockPoolSet},
		Args: []string{"member", "..."},
	})
	// LockPoolAssign replaces the member set.
	LockPoolAssign = register(&Script{
		Name: "lock_pool_assign",
		Keys: []string{lockPoolSet},
		Args: []string{"member", "..."},
	})
	// LockPoolClear deletes the member set.
	LockPoolClear = register(&Script{
		Name: "lock_pool_clear",
		Keys: []string{lockPoolSet},
	})
	// LockPoolMembers lists the members.
	LockPoolMembers = register(&Script{
		Name:     "lock_pool_members",
		Keys:     []string{lockPoolSet},
		ReadOnly: true,
	})
	// LockPoolContains tests membership.
	LockPoolContains = register(&Script{
		Name:     "lock_pool_contains",
		Keys:     []string{lockPoolSet},
		Args:     []string{"member"},
		ReadOnly: true,
	})
)
