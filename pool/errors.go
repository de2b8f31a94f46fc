package pool

import (
	"errors"
	"fmt"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Errors returned by the pool. Match them with errors.Is.
var (
	// ErrEmpty: no member was free (or fewer than MallocN asked for).
	ErrEmpty = errors.New("pool: no free member")
	// ErrNotHeld: the lease ended (freed, lapsed, reclaimed, or the member
	// was removed) or belongs to another holder.
	ErrNotHeld = errors.New("pool: lease not held")
	// ErrNotMember: the key is not a member of the pool.
	ErrNotMember = errors.New("pool: not a member")
	// ErrNotFree: MallocMember asked for a member that is held or
	// quarantined.
	ErrNotFree = errors.New("pool: member not free")
	// ErrInvalid is matched by every invalid-argument error below.
	ErrInvalid = errors.New("pool: invalid argument")
	// ErrInvalidKey: an empty, too long or malformed member key or name. It
	// also matches redisallocator.ErrInvalidName.
	ErrInvalidKey = fmt.Errorf("%w: key", ErrInvalid)
	// ErrInvalidDuration: a TTL, expiry or quarantine time out of range.
	ErrInvalidDuration = fmt.Errorf("%w: duration", ErrInvalid)
	// ErrInvalidCount: a count below 1 or above MaxBatch.
	ErrInvalidCount = fmt.Errorf("%w: count", ErrInvalid)
	// ErrInvalidPriority: a priority outside [MinPriority, MaxPriority].
	ErrInvalidPriority = fmt.Errorf("%w: priority", ErrInvalid)
	// ErrInvalidOption: a nil or contradictory option, or a nil client.
	ErrInvalidOption = fmt.Errorf("%w: option", ErrInvalid)
)

// scriptErrors maps the pool scripts' error codes to the sentinels above;
// the runner applies it to every reply.
var scriptErrors = map[script.Code]error{
	script.CodeNotHeld:   ErrNotHeld,
	script.CodeNotMember: ErrNotMember,
	script.CodeNotFree:   ErrNotFree,
	script.CodeInvalid:   ErrInvalid,
}
