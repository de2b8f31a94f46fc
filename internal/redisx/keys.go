package redisx

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on caller-supplied names, in bytes. Redis allows far longer keys;
// these keep keys cheap to hash and errors readable.
const (
	// MaxNameLen bounds prefixes and the names of pools, queues and locks.
	MaxNameLen = 256
	// MaxMemberLen bounds member keys (hash fields and sorted-set members).
	MaxMemberLen = 1024
)

// Errors returned for names and keys. The root package re-exports them.
var (
	// ErrInvalidName reports a prefix, namespace name or member key that
	// breaks the naming rules; the error says which rule.
	ErrInvalidName = errors.New("redisallocator: invalid name")
	// ErrCrossSlot reports a multi-key call whose keys would land in
	// different Redis Cluster slots. It is returned before anything is sent.
	ErrCrossSlot = errors.New("redisallocator: keys of one call must share a hash slot")
	// ErrCorrupt reports hostile state a script found before its first
	// write; the feature packages map their scripts' CORRUPT code to it.
	ErrCorrupt = errors.New("redisallocator: corrupt state")
)

// NameError says which name broke which rule. It matches ErrInvalidName.
type NameError struct {
	What   string // "prefix", "name", "member", ...
	Value  string // the offending value, truncated for display
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%s: %s %q %s", ErrInvalidName, e.What, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidName) hold.
func (e *NameError) Is(target error) bool { return target == ErrInvalidName }

func nameError(what, value, reason string) error {
	const show = 64
	if len(value) > show {
		value = value[:show] + "…"
	}
	return &NameError{What: what, Value: value, Reason: reason}
}

// ValidateName checks a prefix or a pool, queue or lock name: 1 to
// MaxNameLen bytes of valid UTF-8 without control characters (NUL included)
// or braces, which would move the hash tag.
func ValidateName(what, s string) error {
	switch {
	case s == "":
		return nameError(what, s, "is empty")
	case len(s) > MaxNameLen:
		return nameError(what, s, fmt.Sprintf("is longer than %d bytes", MaxNameLen))
	case !utf8.ValidString(s):
		return nameError(what, s, "is not valid UTF-8")
	case strings.ContainsAny(s, "{}"):
		return nameError(what, s, "contains a brace, which would break the cluster hash tag")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return nameError(what, s, "contains a control character")
		}
	}
	return nil
}

// ValidateMember checks a member key (a resource name stored as a hash field
// or sorted-set member, never as a Redis key): 1 to MaxMemberLen bytes of
// valid UTF-8 without NUL. Members may contain braces and separators, since
// they never become key names.
func ValidateMember(what, s string) error {
	switch {
	case s == "":
		return nameError(what, s, "is empty")
	case len(s) > MaxMemberLen:
		return nameError(what, s, fmt.Sprintf("is longer than %d bytes", MaxMemberLen))
	case !utf8.ValidString(s):
		return nameError(what, s, "is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return nameError(what, s, "contains a NUL byte")
	}
	return nil
}

// Namespace builds the keys of one pool, queue or lock. All of them carry
// the same hash tag, "{kind:name}", so a script over any of them touches a
// single cluster slot:
//
//	<prefix>:{<kind>:<name>}:<suffix>
//
// Prefix and name are validated with ValidateName; kind is one of the
// module's own constants. The zero Namespace is unusable.
type Namespace struct {
	base string // "<prefix>:{<kind>:<name>}:"
}

// NewNamespace validates prefix and name and returns the namespace.
func NewNamespace(prefix, kind, name string) (Namespace, error) {
	if err := ValidateName("prefix", prefix); err != nil {
		return Namespace{}, err
	}
	if err := ValidateName(kind+" name", name); err != nil {
		return Namespace{}, err
	}
	if kind == "" || strings.ContainsAny(kind, "{}:") {
		panic("bug: namespace kind " + kind + " must be a plain word")
	}
	return Namespace{base: prefix + ":{" + kind + ":" + name + "}:"}, nil
}

// Key returns the key for suffix, one of the module's constant suffixes.
func (n Namespace) Key(suffix string) string { return n.base + suffix }

// Prefix returns the common beginning of every key of the namespace, for
// scans and diagnostics.
func (n Namespace) Prefix() string { return n.base }

// Slot returns the cluster slot every key of the namespace maps to.
func (n Namespace) Slot() uint16 { return KeySlot(n.base) }

// KeySlot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of the
// hash tag if the key has a non-empty one, else of the whole key, modulo
// 16384.
func KeySlot(key string) uint16 {
	if tag := hashTag(key); tag != "" {
		key = tag
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}

// hashTag returns the part of key that Redis Cluster hashes when it is a
// non-empty {tag}, else "".
func hashTag(key string) string {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e]
		}
	}
	return ""
}

// SameSlot returns an error wrapping ErrCrossSlot unless every key maps to
// one cluster slot. rueidis panics on cross-slot commands in cluster mode,
// so every multi-key call checks first.
func SameSlot(keys []string) error {
	if len(keys) < 2 {
		return nil
	}
	// Keys with the same hash tag share a slot: comparing the tags is much
	// cheaper than CRC16 of each key, and namespace keys always match.
	tag := hashTag(keys[0])
	if tag != "" {
		same := true
		for _, k := range keys[1:] {
			if hashTag(k) != tag {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	first := KeySlot(keys[0])
	for _, k := range keys[1:] {
		if s := KeySlot(k); s != first {
			return fmt.Errorf("%w: %q is in slot %d, %q in slot %d", ErrCrossSlot, keys[0], first, k, s)
		}
	}
	return nil
}
