package health

import (
	"context"
	"errors"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Errors returned by the package. Match them with errors.Is.
var (
	// ErrSessionExists: NewSession was given the id of a live session.
	ErrSessionExists = errors.New("health: session id in use")
	// ErrSessionLost: the session's heartbeat could not be renewed in time
	// (or the session was closed); it is the cause of Session.Context.
	ErrSessionLost = errors.New("health: session lost")
	// ErrClosed: the session or checker was closed.
	ErrClosed = errors.New("health: closed")
	// ErrInvalid: bad caller input, such as a nil client, target or probe,
	// a nil, out-of-range or contradictory option, or a bad prefix, group,
	// pool name or session id. The message names the argument. A bad
	// prefix, group or pool name also matches redisallocator.ErrInvalidName.
	ErrInvalid = errors.New("health: invalid argument")

	errNotRegistered = errors.New("health: session not registered")
)

// checkCtx is the first check of a call that may touch Redis: a nil ctx
// is ErrInvalid, an ended one gives its error; then nothing is sent.
func checkCtx(ctx context.Context) error { return redisx.CheckContext(ctx, ErrInvalid) }

var scriptErrors = map[script.Code]error{
	script.CodeSessionExists: ErrSessionExists,
	script.CodeNotRegistered: errNotRegistered,
	script.CodeInvalid:       ErrInvalid,
	script.CodeCorrupt:       redisx.ErrCorrupt,
}
