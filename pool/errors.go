package pool

import (
	"errors"
	"fmt"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Errors returned by the pool. Match them with errors.Is.
var (
	// ErrEmpty: no member was free (or fewer than MallocN asked for, or
	// the member MallocMember asked for is held or quarantined).
	ErrEmpty = errors.New("pool: no free member")
	// ErrNotHeld: the lease ended (freed, lapsed, reclaimed, or the member
	// was removed) or belongs to another holder.
	ErrNotHeld = errors.New("pool: lease not held")
	// ErrNotMember: the key is not a member of the pool.
	ErrNotMember = errors.New("pool: not a member")
	// ErrInvalid: bad input (a malformed key or name, which also matches
	// redisallocator.ErrInvalidName; a TTL, count or priority out of range;
	// a nil or contradictory option; a nil client). Nothing was written; the
	// message names the argument.
	ErrInvalid = errors.New("pool: invalid argument")
)

// Refinements of ErrInvalid, for messages; callers match ErrInvalid.
var (
	errInvalidKey      = fmt.Errorf("%w: key", ErrInvalid)
	errInvalidDuration = fmt.Errorf("%w: duration", ErrInvalid)
	errInvalidCount    = fmt.Errorf("%w: count", ErrInvalid)
	errInvalidPriority = fmt.Errorf("%w: priority", ErrInvalid)
	errInvalidOption   = fmt.Errorf("%w: option", ErrInvalid)
)

// errNotFree: MallocMember asked for a member that is held or quarantined.
var errNotFree = fmt.Errorf("member not free: %w", ErrEmpty)

// scriptErrors maps the pool scripts' error codes to the sentinels above;
// the runner applies it to every reply.
var scriptErrors = map[script.Code]error{
	script.CodeNotHeld:   ErrNotHeld,
	script.CodeNotMember: ErrNotMember,
	script.CodeNotFree:   errNotFree,
	script.CodeInvalid:   ErrInvalid,
	script.CodeCorrupt:   redisx.ErrCorrupt,
}
