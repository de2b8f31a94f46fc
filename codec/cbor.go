package codec

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// newCBOR returns a CBOR codec (fxamacker/cbor/v2) with the given limits;
// zero fields take the defaults. The library needs MaxDepth >= 4 and
// MaxElements >= 16. It returns an error wrapping [ErrInvalid] if a
// field is out of range.
func newCBOR(l Limits) (Codec, error) {
	l, err := l.withDefaults(4, 16)
	if err != nil {
		return nil, err
	}
	// Core deterministic encoding sorts map keys (struct fields too) bytewise
	// and uses the shortest form for every number.
	eo := cbor.CoreDetEncOptions()
	// The default, TimeUnix, drops sub-second precision, and float epochs
	// lose nanoseconds; RFC 3339 text in UTC is exact and zone-independent.
	eo.Time = cbor.TimeRFC3339NanoUTC
	eo.TimeTag = cbor.EncTagRequired // tag 0, so decoding into any yields time.Time
	// Match encoding/json's omitempty, which never omits structs; json tags
	// are this codec's tags too.
	eo.OmitEmpty = cbor.OmitEmptyGoValue
	em, err := eo.EncMode()
	if err != nil {
		return nil, fmt.Errorf("bug: cbor enc options: %w", err)
	}
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  l.MaxDepth,
		MaxArrayElements: l.MaxElements,
		MaxMapPairs:      l.MaxElements,
		// Integers in an interface decode as int64 whatever their sign on
		// the wire, as with MsgPack; larger ones as big.Int.
		IntDec: cbor.IntDecConvertSignedOrBigInt,
	}.DecMode()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &cborCodec{limits: l, em: em, dm: dm}, nil
}

// cborCodec holds modes built once: they are immutable, safe for concurrent
// use, and slow to build.
type cborCodec struct {
	limits Limits
	em     cbor.EncMode
	dm     cbor.DecMode
}

func (c *cborCodec) Name() string { return "cbor" }

func (c *cborCodec) Marshal(v any) (out []byte, err error) {
	defer recoverAs(&err, "cbor", ErrEncode)
	out, err = c.em.Marshal(v)
	if err != nil {
		return nil, encodeError("cbor", err)
	}
	if len(out) > c.limits.MaxSize {
		return nil, encodeError("cbor", sizeLimit(len(out), c.limits.MaxSize))
	}
	// The encoder has no depth or element limits; refuse what we could not
	// read back.
	if err := c.dm.Wellformed(out); err != nil {
		return nil, encodeError("cbor", cborCause(err))
	}
	return out, nil
}

func (c *cborCodec) Unmarshal(data []byte, v any) (err error) {
	defer recoverAs(&err, "cbor", ErrDecode)
	if err := checkTarget("cbor", v); err != nil {
		return err
	}
	if len(data) > c.limits.MaxSize {
		return decodeError("cbor", sizeLimit(len(data), c.limits.MaxSize))
	}
	// The library checks well-formedness, nesting and element counts (against
	// the remaining input too) before it allocates anything.
	if err := c.dm.Unmarshal(data, v); err != nil {
		return decodeError("cbor", cborCause(err))
	}
	// Tag 1 epochs decode in time.Local, foreign RFC 3339 text may carry an
	// offset, a small bignum decodes into any as big.Int, and a zero time
	// (which the encoder writes as null) must read back as what it writes.
	if err := normalize(v, c.limits.MaxDepth, normalizeOptions{ints: true, rfc3339Years: true, zeroTimeNil: true}); err != nil {
		return decodeError("cbor", err)
	}
	return nil
}

// cborCause marks the library's limit errors so they match ErrLimitExceeded.
func cborCause(err error) error {
	var (
		nested *cbor.MaxNestedLevelError
		arr    *cbor.MaxArrayElementsError
		pairs  *cbor.MaxMapPairsError
	)
	if errors.As(err, &nested) || errors.As(err, &arr) || errors.As(err, &pairs) {
		return &limitError{msg: err.Error(), cause: err}
	}
	return err
}
