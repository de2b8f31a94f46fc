package lock

import (
	"errors"
	"fmt"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// errReleased is the cause of a lease context cancelled by Release: it
// matches ErrNotHeld and not ErrLost, as in package pool.
var errReleased = fmt.Errorf("%w: lease released", ErrNotHeld)

// Errors of the package. Compare with errors.Is: most are wrapped with the
// operation and the offending value.
var (
	// ErrNotHeld reports an owner-checked call (Update, Unlock, Release,
	// Refresh) on a lock the caller does not hold: it is free, expired or
	// held by another owner. A second Release of a lease returns it too.
	ErrNotHeld = errors.New("lock: not held")
	// ErrNotAcquired reports that a lock is held by someone else:
	// TryAcquire returns it at once, Acquire joined with ctx.Err() when its
	// context ends first.
	ErrNotAcquired = errors.New("lock: not acquired")
	// ErrLost is the cause (context.Cause) of a lease context cancelled
	// because the lock was lost: deleted, taken over, expired, or not
	// renewed within its TTL because Redis could not be reached.
	ErrLost = errors.New("lock: lease lost")
	// ErrNoQuorum reports that fewer than a majority of a quorum lock's
	// servers answered; it is joined with their errors.
	ErrNoQuorum = errors.New("lock: no quorum of servers answered")
	// ErrNotNumber reports a conditional operation on a key whose value is
	// not a decimal number. Nothing is written.
	ErrNotNumber = errors.New("lock: stored value is not a number")

	// ErrInvalid reports bad caller input; the message names the argument.
	// It covers an empty or malformed prefix, lock name, pool name, member
	// or owner (these also match the module's ErrInvalidName); a TTL <= 0
	// (use [Permanent] for a lock without expiry), above about 100 years,
	// or one the operation does not accept; a nil client, an unknown
	// comparison operator, a NaN or infinite number; and a bad option, or
	// one the call does not take. Nothing is sent to Redis.
	ErrInvalid = errors.New("lock: invalid argument")
)

// errNilClient is returned by constructors given a nil client.
var errNilClient = fmt.Errorf("%w: client is nil", ErrInvalid)

// scriptErrors is the one table that turns the error codes of the lock
// scripts into this package's errors.
var scriptErrors = map[script.Code]error{
	script.CodeInvalid:   ErrInvalid,
	script.CodeNotHeld:   ErrNotHeld,
	script.CodeNotNumber: ErrNotNumber,
	script.CodeCorrupt:   redisx.ErrCorrupt,
}

// keyError wraps a redisx name error so that it matches ErrInvalid and
// redisx.ErrInvalidName.
func keyError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// validateOwner checks an owner (or ForceSet's value, named by what).
func validateOwner(what, owner string) error {
	if err := redisx.ValidateMember(what, owner); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
