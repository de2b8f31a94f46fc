package pool

import (
	"context"
	"strconv"
)

// RetireWithFence retires as a scaler that believes it holds the claim
// with fence: what a paused scaler would do when it wakes.
func (s *Scaler[T]) RetireWithFence(ctx context.Context, fence int64, n int) ([]string, error) {
	_, keys, err := s.scale(ctx, "retire", s.token, strconv.FormatInt(fence, 10), strconv.Itoa(n), "0", "0", "1000")
	return keys, err
}

// ClaimKey is the scaler claim's key, for tests that expire it.
func (s *Scaler[T]) ClaimKey() string { return s.keys[12] }
