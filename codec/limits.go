package codec

import (
	"fmt"
	"math"
)

// Defaults and bounds of [Limits]. The defaults are generous for pool items
// and task payloads, which are usually a few KiB, and small enough that one
// hostile value cannot exhaust a worker's memory or stack.
const (
	defaultMaxSize     = 8 << 20       // far above typical payloads, far below Redis's 512 MB
	defaultMaxDepth    = 64            // real structs rarely nest beyond ten levels
	defaultMaxElements = 128 << 10     // fxamacker/cbor's own default
	maxDepthCeiling    = 10000         // encoding/json refuses deeper input on its own
	maxElementsCeiling = math.MaxInt32 // the wire formats cannot express more
)

// Limits bounds what a codec accepts. A zero field means "use the default"
// given in the field's doc; [JSON], [MsgPack] and [CBOR] use the defaults.
//
// The limits apply to Unmarshal, before and while decoding, and also to
// Marshal's output, so a codec never writes bytes that it would refuse to
// read back. Breaking one returns an error wrapping [ErrLimitExceeded].
type Limits struct {
	// MaxSize is the largest encoded value in bytes. Unmarshal checks it
	// before any decoding work. Default 8 MiB (8388608), far above typical
	// payloads and far below Redis's 512 MB value limit; it must not be
	// negative.
	MaxSize int
	// MaxDepth is the deepest nesting of arrays and maps (JSON objects,
	// structs) allowed; a flat struct has depth 1. CBOR also counts tags,
	// so a struct holding a time.Time has depth 2 there. Default 64 (real
	// structs rarely nest beyond ten levels). It must be at most 10000
	// (encoding/json refuses deeper input on its own), and at least 4 for
	// CBOR.
	MaxDepth int
	// MaxElements is the largest number of elements in one array, or
	// key/value pairs in one map. Together with MaxSize it bounds memory: a
	// short input cannot claim a huge array. Default 131072 (128 Ki, the
	// same as fxamacker/cbor's own default). It must be at most
	// math.MaxInt32 (the wire formats cannot express more), and at least 16
	// for CBOR.
	MaxElements int
}

// defaultLimits returns the limits of [JSON], [MsgPack] and [CBOR], and of
// a zero [Limits] field.
func defaultLimits() Limits {
	return Limits{MaxSize: defaultMaxSize, MaxDepth: defaultMaxDepth, MaxElements: defaultMaxElements}
}

// withDefaults fills zero fields and validates the rest. minDepth and
// minElements carry the floors of libraries that refuse smaller values.
func (l Limits) withDefaults(minDepth, minElements int) (Limits, error) {
	if l.MaxSize == 0 {
		l.MaxSize = defaultMaxSize
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxElements == 0 {
		l.MaxElements = defaultMaxElements
	}
	switch {
	case l.MaxSize < 0:
		return l, fmt.Errorf("%w: Limits.MaxSize %d is negative", ErrInvalid, l.MaxSize)
	case l.MaxDepth < minDepth || l.MaxDepth > maxDepthCeiling:
		return l, fmt.Errorf("%w: Limits.MaxDepth %d is outside [%d, %d]", ErrInvalid, l.MaxDepth, minDepth, maxDepthCeiling)
	case l.MaxElements < minElements || l.MaxElements > maxElementsCeiling:
		return l, fmt.Errorf("%w: Limits.MaxElements %d is outside [%d, %d]", ErrInvalid, l.MaxElements, minElements, maxElementsCeiling)
	}
	return l, nil
}
