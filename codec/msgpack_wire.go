package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// This file reads MessagePack framing directly. msgpack/v5 trusts length
// prefixes: decoding five bytes that claim a 2^31-element array into []T or
// any allocates the whole slice up front, and nothing bounds nesting, so deep
// input can exhaust the stack. checkMsgpack rejects such input before the
// library sees it. canonicalMsgpack gives the encoder deterministic map order,
// which the library offers only for three map types.
//
// Extension values need extra care. When a map is expected, the library
// skips an extension header and reads a map from the extension's payload,
// bytes checkMsgpack could not vet (a timestamp's 8 payload bytes can spell
// "map of one string key whose value is a 2^31-element array"). So only
// timestamps (type -1, 4, 8 or 12 bytes) are accepted, and decoding reads
// through mpReader, which refuses to start an item inside a payload.

// mpHead describes one MessagePack item at some offset.
type mpHead struct {
	size       int  // header plus inline payload; children follow it
	children   int  // items nested inside: array elements, or keys plus values
	container  bool // array or map, even when empty
	isMap      bool
	extPayload int // for an extension, offset of its payload from the item start
}

var errTruncated = errors.New("msgpack: truncated input")

// mpHeadAt parses the item at b[i:]. It guarantees that the payload fits in b,
// that every child could still fit (each needs at least one byte), and that
// no container holds more than maxElements, so callers can trust the counts.
func mpHeadAt(b []byte, i, maxElements int) (mpHead, error) {
	// Fast path for the items that dominate real payloads: small ints,
	// short strings, nil and bools, fixed-width numbers.
	if i < len(b) {
		c := b[i]
		n := -1
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
			n = 0
		case c >= 0xa0 && c <= 0xbf:
			n = int(c & 0x1f)
		case c >= 0xca && c <= 0xd3:
			n = mpFixedWidth[c-0xca]
		}
		if n >= 0 && n < len(b)-i {
			return mpHead{size: 1 + n}, nil
		}
	}
	return mpHeadSlow(b, i, maxElements)
}

// mpFixedWidth holds the payload widths of codes 0xca to 0xd3: float32,
// float64, uint8 to uint64, int8 to int64.
var mpFixedWidth = [10]int{4, 8, 1, 2, 4, 8, 1, 2, 4, 8}

// mpHeadSlow handles every code, including the errors.
func mpHeadSlow(b []byte, i, maxElements int) (mpHead, error) {
	if i >= len(b) {
		return mpHead{}, errTruncated
	}
	c := b[i]
	rest := len(b) - i - 1 // bytes after the code byte
	// lenAt reads an n-byte big-endian length after the code byte.
	lenAt := func(n int) (int, bool) {
		if rest < n {
			return 0, false
		}
		p := b[i+1 : i+1+n]
		switch n {
		case 1:
			return int(p[0]), true
		case 2:
			return int(binary.BigEndian.Uint16(p)), true
		default:
			return int(binary.BigEndian.Uint32(p)), true
		}
	}
	fixed := func(n int) (mpHead, error) { // code byte plus n bytes
		if rest < n {
			return mpHead{}, errTruncated
		}
		return mpHead{size: 1 + n}, nil
	}
	payload := func(lenBytes int) (mpHead, error) { // str, bin
		n, ok := lenAt(lenBytes)
		if !ok {
			return mpHead{}, errTruncated
		}
		if n > rest-lenBytes {
			return mpHead{}, fmt.Errorf("msgpack: length %d at offset %d exceeds the input", n, i)
		}
		return mpHead{size: 1 + lenBytes + n}, nil
	}
	// ext checks an extension whose type byte follows lenBytes of length (or
	// whose length n is fixed, when lenBytes is 0).
	ext := func(lenBytes, n int) (mpHead, error) {
		if lenBytes > 0 {
			var ok bool
			if n, ok = lenAt(lenBytes); !ok {
				return mpHead{}, errTruncated
			}
		}
		if rest < lenBytes+1 {
			return mpHead{}, errTruncated
		}
		if typ := int8(b[i+1+lenBytes]); typ != -1 || (n != 4 && n != 8 && n != 12) {
			return mpHead{}, fmt.Errorf("msgpack: extension type %d of %d bytes at offset %d is not a timestamp", typ, n, i)
		}
		if n > rest-lenBytes-1 {
			return mpHead{}, errTruncated
		}
		return mpHead{size: 2 + lenBytes + n, extPayload: 2 + lenBytes}, nil
	}
	container := func(lenBytes, n int, isMap bool) (mpHead, error) {
		if lenBytes > 0 {
			var ok bool
			if n, ok = lenAt(lenBytes); !ok {
				return mpHead{}, errTruncated
			}
		}
		if n > maxElements {
			return mpHead{}, elementsLimit(n, maxElements)
		}
		children := n
		if isMap {
			children = 2 * n
		}
		if children > rest-lenBytes {
			return mpHead{}, fmt.Errorf("msgpack: %d items at offset %d cannot fit in the input", n, i)
		}
		return mpHead{size: 1 + lenBytes, children: children, container: true, isMap: isMap}, nil
	}

	switch {
	case c <= 0x7f, c >= 0xe0: // positive and negative fixint
		return mpHead{size: 1}, nil
	case c <= 0x8f: // fixmap
		return container(0, int(c&0x0f), true)
	case c <= 0x9f: // fixarray
		return container(0, int(c&0x0f), false)
	case c <= 0xbf: // fixstr
		n := int(c & 0x1f)
		if n > rest {
			return mpHead{}, errTruncated
		}
		return mpHead{size: 1 + n}, nil
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return mpHead{size: 1}, nil
	case 0xc4, 0xd9: // bin8, str8
		return payload(1)
	case 0xc5, 0xda: // bin16, str16
		return payload(2)
	case 0xc6, 0xdb: // bin32, str32
		return payload(4)
	case 0xc7: // ext8: length, type, data
		return ext(1, 0)
	case 0xc8:
		return ext(2, 0)
	case 0xc9:
		return ext(4, 0)
	case 0xcc, 0xd0: // uint8, int8
		return fixed(1)
	case 0xcd, 0xd1:
		return fixed(2)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return fixed(4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return fixed(8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type plus data
		return ext(0, 1<<(c-0xd4))
	case 0xdc:
		return container(2, 0, false)
	case 0xdd:
		return container(4, 0, false)
	case 0xde:
		return container(2, 0, true)
	case 0xdf:
		return container(4, 0, true)
	}
	return mpHead{}, fmt.Errorf("msgpack: invalid code 0x%02x at offset %d", c, i)
}

// checkMsgpack reports whether data is exactly one well-formed MessagePack
// value within l. It walks iteratively, so hostile depth costs no stack. It
// appends the offsets of extension payloads to fences, for mpReader.
func checkMsgpack(data []byte, l Limits, fences *[]int) error {
	if len(data) > l.MaxSize {
		return sizeLimit(len(data), l.MaxSize)
	}
	if len(data) == 0 {
		return errors.New("msgpack: empty input")
	}
	var pendingBuf [32]int
	pending := pendingBuf[:0] // children still to read in each open container
	for i := 0; ; {
		h, err := mpHeadAt(data, i, l.MaxElements)
		if err != nil {
			return err
		}
		if h.extPayload > 0 && fences != nil {
			*fences = append(*fences, i+h.extPayload)
		}
		i += h.size
		if h.container {
			if len(pending) == l.MaxDepth {
				return depthLimit(l.MaxDepth)
			}
			if h.children > 0 {
				pending = append(pending, h.children)
				continue
			}
		}
		// One item is complete; close every container it completes.
		for {
			if len(pending) == 0 {
				if i != len(data) {
					return fmt.Errorf("msgpack: %d bytes of trailing data", len(data)-i)
				}
				return nil
			}
			top := len(pending) - 1
			if pending[top]--; pending[top] > 0 {
				break
			}
			pending = pending[:top]
		}
	}
}

// canonicalMsgpack rewrites one encoded value so that every map's entries are
// sorted by their encoded key bytes (then value bytes, for keys that encode
// alike), like CBOR's core deterministic encoding. Struct fields are map
// entries on the wire, so they are sorted too; decoders match them by name,
// so order carries no meaning. It also enforces l, so Marshal never emits
// what Unmarshal would refuse. cw carries scratch space between calls (nil
// allocates anew).
//
// Sorting never changes an item's length, so the work happens in place on a
// copy of src: each map is fixed after its children, by permuting byte
// ranges inside its own region.
func canonicalMsgpack(src []byte, l Limits, cw *mpCanon) ([]byte, error) {
	if len(src) > l.MaxSize {
		return nil, sizeLimit(len(src), l.MaxSize)
	}
	if cw == nil {
		cw = new(mpCanon)
	}
	out := make([]byte, len(src))
	copy(out, src)
	cw.buf, cw.limits = out, l
	cw.entries, cw.scratch = cw.entries[:0], cw.scratch[:0]
	end, err := cw.item(0, 0)
	cw.buf = nil // do not pin the caller's bytes
	if err != nil {
		return nil, err
	}
	if end != len(out) {
		return nil, fmt.Errorf("bug: msgpack encoder wrote %d trailing bytes", len(out)-end)
	}
	return out, nil
}

// mpCanon is the state of one canonicalMsgpack call; its scratch slices are
// kept for the next one.
type mpCanon struct {
	buf     []byte
	limits  Limits
	entries []mpEntry // a stack shared by nested maps
	scratch []byte    // reused while reordering one map
}

// mpEntry locates one map entry inside the map's region.
type mpEntry struct{ keyStart, keyEnd, end int }

// item canonicalises the value at buf[i:] in place and returns the offset
// after it. Recursion depth is bounded by limits.MaxDepth.
func (cw *mpCanon) item(i, depth int) (int, error) {
	h, err := mpHeadAt(cw.buf, i, cw.limits.MaxElements)
	if err != nil {
		return 0, err
	}
	i += h.size
	if !h.container {
		return i, nil
	}
	if depth == cw.limits.MaxDepth {
		return 0, depthLimit(cw.limits.MaxDepth)
	}
	if !h.isMap {
		for range h.children {
			if i, err = cw.item(i, depth+1); err != nil {
				return 0, err
			}
		}
		return i, nil
	}

	start := i
	base := len(cw.entries)
	for range h.children / 2 {
		keyStart := i - start
		if i, err = cw.item(i, depth+1); err != nil {
			return 0, err
		}
		keyEnd := i - start
		if i, err = cw.item(i, depth+1); err != nil {
			return 0, err
		}
		// Nested maps have already popped their own entries, so ours stay
		// contiguous from base.
		cw.entries = append(cw.entries, mpEntry{keyStart, keyEnd, i - start})
	}
	ents := cw.entries[base:]
	region := cw.buf[start:i]
	cmpEntries := func(a, b mpEntry) int {
		if c := bytes.Compare(region[a.keyStart:a.keyEnd], region[b.keyStart:b.keyEnd]); c != 0 {
			return c
		}
		return bytes.Compare(region[a.keyEnd:a.end], region[b.keyEnd:b.end])
	}
	if !slices.IsSortedFunc(ents, cmpEntries) {
		// Sort while region is intact, then rebuild it from a copy.
		slices.SortFunc(ents, cmpEntries)
		cw.scratch = append(cw.scratch[:0], region...)
		w := 0
		for _, e := range ents {
			w += copy(region[w:], cw.scratch[e.keyStart:e.end])
		}
	}
	cw.entries = cw.entries[:base]
	return i, nil
}

// mpReader is a bytes.Reader that will not read a single byte (the way the
// library reads an item's first byte) at the start of an extension payload.
// The library reads payloads with Read, so timestamps still decode.
type mpReader struct {
	data   []byte
	pos    int
	fences []int // sorted payload offsets, from checkMsgpack
	next   int   // fences[:next] are all below pos; reads are mostly forward
}

var errExtPayload = errors.New("msgpack: extension payload read as a value")

func (r *mpReader) reset(data []byte) {
	r.data, r.pos, r.fences, r.next = data, 0, r.fences[:0], 0
}

func (r *mpReader) Read(p []byte) (int, error) {
	if r.pos >= len(r.data) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.data[r.pos:])
	r.pos += n
	return n, nil
}

func (r *mpReader) ReadByte() (byte, error) {
	if r.pos >= len(r.data) {
		return 0, io.EOF
	}
	for r.next < len(r.fences) && r.fences[r.next] < r.pos {
		r.next++
	}
	if r.next < len(r.fences) && r.fences[r.next] == r.pos {
		return 0, errExtPayload
	}
	r.pos++
	return r.data[r.pos-1], nil
}

func (r *mpReader) UnreadByte() error {
	if r.pos == 0 {
		return errors.New("msgpack: unread at start of input")
	}
	r.pos--
	for r.next > 0 && r.fences[r.next-1] >= r.pos {
		r.next--
	}
	return nil
}
