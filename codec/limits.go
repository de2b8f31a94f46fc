package codec

import (
	"fmt"
	"math"
)

// Defaults for [Limits]. They are generous for pool items and task payloads,
// which are usually a few KiB, and small enough that one hostile value cannot
// exhaust a worker's memory or stack.
const (
	// DefaultMaxSize is the default for [Limits.MaxSize]: 8 MiB, far above
	// typical payloads and far below Redis's 512 MB value limit.
	DefaultMaxSize = 8 << 20
	// DefaultMaxDepth is the default for [Limits.MaxDepth]. Real structs
	// rarely nest beyond ten levels.
	DefaultMaxDepth = 64
	// DefaultMaxElements is the default for [Limits.MaxElements], the same
	// as fxamacker/cbor's own default.
	DefaultMaxElements = 128 << 10
)

// Upper bounds that [Limits] may not exceed.
const (
	// MaxDepthCeiling is the largest accepted [Limits.MaxDepth]; encoding/json
	// refuses deeper input on its own.
	MaxDepthCeiling = 10000
	// MaxElementsCeiling is the largest accepted [Limits.MaxElements]; the
	// wire formats cannot express more.
	MaxElementsCeiling = math.MaxInt32
)

// Limits bounds what a codec accepts. A zero field means "use the default"
// ([DefaultMaxSize], [DefaultMaxDepth], [DefaultMaxElements]).
//
// The limits apply to Unmarshal, before and while decoding, and also to
// Marshal's output, so a codec never writes bytes that it would refuse to
// read back. Breaking one returns an error wrapping [ErrLimitExceeded].
type Limits struct {
	// MaxSize is the largest encoded value in bytes. Unmarshal checks it
	// before any decoding work.
	MaxSize int
	// MaxDepth is the deepest nesting of arrays and maps (JSON objects,
	// structs) allowed; a flat struct has depth 1. CBOR also counts tags,
	// so a struct holding a time.Time has depth 2 there. It must be at most
	// [MaxDepthCeiling], and at least 4 for CBOR.
	MaxDepth int
	// MaxElements is the largest number of elements in one array, or
	// key/value pairs in one map. Together with MaxSize it bounds memory: a
	// short input cannot claim a huge array. It must be at most
	// [MaxElementsCeiling], and at least 16 for CBOR.
	MaxElements int
}

// DefaultLimits returns the limits used by [JSON], [MsgPack] and [CBOR].
func DefaultLimits() Limits {
	return Limits{MaxSize: DefaultMaxSize, MaxDepth: DefaultMaxDepth, MaxElements: DefaultMaxElements}
}

// withDefaults fills zero fields and validates the rest. minDepth and
// minElements carry the floors of libraries that refuse smaller values.
func (l Limits) withDefaults(minDepth, minElements int) (Limits, error) {
	if l.MaxSize == 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements == 0 {
		l.MaxElements = DefaultMaxElements
	}
	switch {
	case l.MaxSize < 0:
		return l, fmt.Errorf("%w: MaxSize %d is negative", ErrInvalidLimits, l.MaxSize)
	case l.MaxDepth < minDepth || l.MaxDepth > MaxDepthCeiling:
		return l, fmt.Errorf("%w: MaxDepth %d is outside [%d, %d]", ErrInvalidLimits, l.MaxDepth, minDepth, MaxDepthCeiling)
	case l.MaxElements < minElements || l.MaxElements > MaxElementsCeiling:
		return l, fmt.Errorf("%w: MaxElements %d is outside [%d, %d]", ErrInvalidLimits, l.MaxElements, minElements, MaxElementsCeiling)
	}
	return l, nil
}
