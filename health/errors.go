package health

import (
	"errors"
	"fmt"

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
	// ErrProbePanic: a probe panicked; the panic counts as a failed probe.
	ErrProbePanic = errors.New("health: probe panicked")
	// ErrInvalid is matched by every invalid-argument error.
	ErrInvalid = errors.New("health: invalid argument")
	// ErrInvalidOption: a nil, zero or contradictory option, a nil client,
	// target or probe.
	ErrInvalidOption = fmt.Errorf("%w: option", ErrInvalid)
	// ErrInvalidName: a bad prefix, group, id or label.
	ErrInvalidName = fmt.Errorf("%w: name", ErrInvalid)

	errNotRegistered = errors.New("health: session not registered")
)

var scriptErrors = map[script.Code]error{
	script.CodeSessionExists: ErrSessionExists,
	script.CodeNotRegistered: errNotRegistered,
	script.CodeInvalid:       ErrInvalid,
}
