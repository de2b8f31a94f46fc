package redisx

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotSent marks a call that ended before anything was sent to Redis:
// its ctx had ended already. It is joined with the ctx's error.
var ErrNotSent = errors.New("redisallocator: not sent")

// errNilContext is the error of a nil ctx where no package sentinel is
// known.
var errNilContext = errors.New("redisallocator: invalid argument")

// CheckContext is the first check of every call that may touch Redis: a
// nil ctx is bad input (an error matching invalid, the package's
// ErrInvalid), and an ended one gives its error (joined with ErrNotSent):
// the call then sends nothing, so no script runs and nothing is written.
func CheckContext(ctx context.Context, invalid error) error {
	if ctx == nil {
		if invalid == nil {
			invalid = errNilContext
		}
		return fmt.Errorf("%w: nil context", invalid)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return nil
}
