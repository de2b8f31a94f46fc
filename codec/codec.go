package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Codec turns values into bytes and back. Implementations must be safe for
// concurrent use.
type Codec interface {
	// Name identifies the wire format ("json", "msgpack", "cbor"). It is stored
	// and logged next to encoded data, so it never changes for a format.
	Name() string
	// Marshal encodes v. Failures wrap [ErrEncode] and name the codec.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which must be a non-nil pointer.
	// Failures wrap [ErrDecode] and name the codec; v may then be partly written.
	Unmarshal(data []byte, v any) error
}

// ErrEncode is wrapped by every error returned while encoding.
var ErrEncode = errors.New("codec: encode failed")

// ErrDecode is wrapped by every error returned while decoding, including
// errors for a nil or non-pointer target.
var ErrDecode = errors.New("codec: decode failed")

// ErrLimitExceeded is wrapped, next to [ErrEncode] or [ErrDecode], when the
// data breaks one of the codec's [Limits]. It lets callers tell oversized or
// hostile payloads apart from merely malformed ones.
var ErrLimitExceeded = errors.New("codec: limit exceeded")

// ErrInvalid is wrapped by [New] and [Compressed] when an argument is out
// of range: an unknown codec name, a [Limits] field, an option or a nil
// inner codec. The message names the argument.
var ErrInvalid = errors.New("codec: invalid argument")

// The ready codecs, with the default [Limits]; build others with [New].
var (
	// JSON is encoding/json with limits and UTC times. See the package doc.
	JSON = mustBuild(newJSON(Limits{}))
	// MsgPack is MessagePack with json tag fallback, sorted maps and UTC times.
	MsgPack = mustBuild(newMsgPack(Limits{}))
	// CBOR is core deterministic CBOR with nanosecond RFC 3339 times.
	CBOR = mustBuild(newCBOR(Limits{}))
)

// mustBuild is only for the package-level values, whose limits are constant.
func mustBuild(c Codec, err error) Codec {
	if err != nil {
		panic("bug: default codec: " + err.Error())
	}
	return c
}

// New returns the built-in codec called name ("json", "msgpack" or "cbor",
// as reported by [Codec.Name]) with the limits l; zero fields of l take
// their defaults, so New(name, Limits{}) behaves like [JSON], [MsgPack] or
// [CBOR]. An unknown name or an out-of-range limit returns an error
// wrapping [ErrInvalid]. Matching is exact because names are stored next to
// data.
func New(name string, l Limits) (Codec, error) {
	switch name {
	case "json":
		return newJSON(l)
	case "msgpack":
		return newMsgPack(l)
	case "cbor":
		return newCBOR(l)
	}
	return nil, fmt.Errorf("%w: unknown codec %q (want json, msgpack or cbor)", ErrInvalid, name)
}

// codecError makes messages read "codec: msgpack: decode failed: <cause>"
// while errors.Is still matches the sentinel and the cause. It stays
// unexported because callers need nothing beyond errors.Is.
type codecError struct {
	codec string
	op    error // ErrEncode or ErrDecode
	err   error // the cause; never nil
}

func (e *codecError) Error() string {
	return "codec: " + e.codec + ": " + strings.TrimPrefix(e.op.Error(), "codec: ") + ": " + e.err.Error()
}

func (e *codecError) Unwrap() []error { return []error{e.op, e.err} }

func encodeError(name string, err error) error {
	return &codecError{codec: name, op: ErrEncode, err: err}
}

func decodeError(name string, err error) error {
	return &codecError{codec: name, op: ErrDecode, err: err}
}

// limitError is a cause that also matches ErrLimitExceeded; it carries its
// own text so the final message does not say "codec:" twice.
type limitError struct {
	msg   string
	cause error // the library's own error, if it found the breach
}

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrLimitExceeded }
func (e *limitError) Unwrap() error        { return e.cause }

func sizeLimit(n, limit int) error {
	return &limitError{msg: fmt.Sprintf("size %d bytes exceeds limit %d", n, limit)}
}

func depthLimit(limit int) error {
	return &limitError{msg: fmt.Sprintf("nesting depth exceeds limit %d", limit)}
}

func elementsLimit(n, limit int) error {
	return &limitError{msg: fmt.Sprintf("%d elements in one array or map exceed limit %d", n, limit)}
}

// recoverAs turns a panic inside a third-party encoder or decoder (or a
// user's MarshalJSON) into an error, so one poisoned payload cannot take down
// a worker. It must be deferred directly.
func recoverAs(errp *error, name string, op error) {
	if r := recover(); r != nil {
		*errp = &codecError{codec: name, op: op, err: fmt.Errorf("recovered panic: %v", r)}
	}
}

// checkTarget rejects what the libraries would panic on or silently ignore.
func checkTarget(name string, v any) error {
	if v == nil {
		return decodeError(name, errors.New("target is nil, want a non-nil pointer"))
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return decodeError(name, fmt.Errorf("target is %T, want a non-nil pointer", v))
	}
	return nil
}
