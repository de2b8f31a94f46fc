// Package m is the root package of the apidump test module.
package m

import "example.com/m/internal/hidden"

// Version is documented by its group.
const (
	Version = "1.0"
	Answer  = 42
)

// Limit is typed.
const Limit Size = 10

// Size is a named basic type.
type Size int

// String is documented.
func (s Size) String() string { return "size" }

// Documented is; the two below are not.
var Documented = hidden.X

var Undocumented int

func Bare() {}

// Err is a var with an interface type.
var Err error

type unexported struct{}

// Exported is a method of an unexported type: not part of the API.
func (unexported) Exported() {}
