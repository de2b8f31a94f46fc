package pool

import "context"

// Sweep runs one sweep of Run.
func (o *Objects[T, O]) Sweep(ctx context.Context) error { return o.sweep(ctx) }

// Kept returns how many members have an object in the map.
func (o *Objects[T, O]) Kept() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.live)
}

// Unclosed returns how many objects are opening or open and not closed.
func (o *Objects[T, O]) Unclosed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count
}
