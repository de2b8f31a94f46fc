// Package shape exercises every kind of declaration.
package shape

import (
	"context"
	"io"
)

// Box holds a value.
type Box[T any, K comparable] struct {
	Value T
	Keys  map[K][]T
	*Inner
	hidden int
}

// Inner is embedded in Box.
type Inner struct {
	// N is a field.
	N int
}

// Grow has a pointer receiver.
func (i *Inner) Grow(n int) int { return i.N + n }

// Get is a method of a generic type.
func (b Box[T, K]) Get(ctx context.Context, k K) (T, bool) {
	var zero T
	return zero, false
}

// Put has a pointer receiver and a variadic parameter.
func (b *Box[T, K]) Put(k K, vs ...T) error { return nil }

// New is a generic constructor.
func New[T any, K comparable](r io.Reader, ch <-chan T) *Box[T, K] { return nil }

// Number is a constraint.
type Number interface {
	~int | ~float64
}

// Sum uses a constraint.
func Sum[N Number](ns ...N) N { return 0 }

// Reader embeds io.Reader and adds a method.
type Reader interface {
	io.Reader
	Size() int64
}

// Sealed has an unexported method.
type Sealed interface {
	Name() string
	sealed()
}

// Func is a function type.
type Func func(context.Context, [2]byte) (chan int, error)

// Alias is an alias.
type Alias = Inner
