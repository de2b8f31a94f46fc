// Package codec turns the values users keep in pools and task queues into
// the opaque bytes stored in Redis, and back. It is the bottom layer of the
// module and imports nothing else from it: Pool[T] and Queue[P,R] hold a
// [Codec] and call its Marshal and Unmarshal; Lua scripts never look inside
// the bytes.
//
//	p, err := pool.New[Proxy](client, "myapp", "proxies", pool.WithCodec(codec.MsgPack))
//
//	data, err := codec.MsgPack.Marshal(job)
//	err = codec.MsgPack.Unmarshal(data, &job)
//
// # Choosing a codec
//
// Three ready codecs share one interface; [New] builds them by the name
// stored next to data. Encode plus decode of a six-field struct took about
// 1.5 µs (CBOR), 1.9 µs (MsgPack) and 3.5 µs (JSON) on a busy 2-core VM;
// see BenchmarkCodec.
//
//   - [CBOR] (fxamacker/cbor/v2): the fastest here, a standard
//     deterministic form, and the strictest decoder (it rejects invalid
//     UTF-8 and checks well-formedness before decoding). A good default.
//   - [MsgPack] (vmihailenco/msgpack/v5): the smallest output, and the
//     format Redis's own Lua can read (cmsgpack). Slower than CBOR here
//     because the codec adds two passes the library lacks: a framing check
//     before decoding and key sorting after encoding.
//   - [JSON] (encoding/json): two to three times slower and 25-50%
//     larger, but readable in redis-cli and by Lua's cjson.
//
// Each is also available with other [Limits] through [New]. Any type with Name, Marshal and Unmarshal
// methods can stand in for them (encryption, protobuf), and [Compressed]
// wraps any of them.
//
// # Compression
//
// [Compressed] wraps any codec, built-in or not, so that values whose
// encoding reaches a threshold ([WithThreshold], default 1 KiB) are stored
// zstd-compressed (github.com/klauspost/compress) behind a two-byte marker,
// 0xc1 0x1c, that no JSON, MsgPack or CBOR value can start with. Smaller
// values, and values zstd cannot shrink, stay as the inner codec wrote
// them. Its name is "zstd+" plus the inner name, as in "zstd+cbor".
//
//	zc, err := codec.Compressed(codec.CBOR)
//	p, err := pool.New[Config](client, "myapp", "configs", pool.WithCodec(zc))
//
// Unmarshal reads both forms, so turning compression on for an existing
// pool or queue keeps its stored values readable; turning it off again
// needs every compressed value rewritten first. The inflated size is
// bounded ([WithMaxDecompressedSize], default 8 MiB): a zip bomb fails
// with [ErrDecode] and [ErrLimitExceeded], at once when its frame header
// declares the size or a large window, otherwise once inflating passes
// the bound, never allocating more than a few times it. The encoder
// settings are fixed, so equal values compress to equal bytes (the
// golden files pin them), and one wrapper is safe for concurrent use.
//
// On a busy 2-core VM (BenchmarkCompressed), a 10-15 KB value of 100
// similar records shrank 11-15 times, to under 1 KB, while its encode
// plus decode took up to 60% longer (at most about 110 µs more; within
// the noise in some runs) and allocated about 20 KB more; a value under
// the threshold costs only a length check. Worth it for sizeable,
// repetitive values; not for small ones.
//
// # Struct tags
//
// Write json tags only: all three codecs use them. encoding/json does, CBOR
// falls back to json tags on its own, and the MsgPack codec sets the
// library's custom-tag option so `json:"name,omitempty"` and `json:"-"`
// work there too. A `msgpack:"..."` or `cbor:"..."` tag, if present,
// overrides the json tag for that codec only. The golden files in testdata
// pin the resulting field names. Untagged exported fields use the Go name,
// unexported fields are skipped, and unknown fields are ignored on decode,
// so adding or removing fields is a compatible change. Field matching on
// decode differs: JSON ignores case, CBOR prefers an exact match and then
// ignores case, MsgPack needs an exact match.
//
// omitempty follows each library: MsgPack also omits zero times and structs
// whose fields are all empty, JSON and CBOR do not. The decoded value is the
// same either way.
//
// # Time
//
// A time.Time comes back as the same instant, with nanoseconds, in
// time.UTC, in all three codecs and wherever it sits (fields, pointers,
// slices, map values, any). Compare times with Equal, never ==, since the
// monotonic reading is dropped too. On the wire: JSON uses RFC 3339 with
// nanoseconds and the writer's offset; MsgPack uses the timestamp
// extension (-1); CBOR uses tag 0 with RFC 3339 text in UTC, because the
// library's default drops sub-second precision and float epochs lose
// nanoseconds. Decoding then moves every reachable time.Time to UTC: the
// libraries would otherwise return time.Local (MsgPack, CBOR epochs) or a
// fixed offset (JSON, foreign CBOR); map keys are re-keyed. CBOR writes the
// zero time as null (so inside an any it reads back as nil) and cannot
// write years outside 0000-9999, so it also refuses to decode them.
//
// # Determinism
//
// The same value always encodes to the same bytes, so encoded values can
// be compared or hashed (idempotency keys, compare-and-set): for every map
// key type, nested maps included.
//
//   - JSON: encoding/json sorts map keys.
//   - CBOR: core deterministic encoding (RFC 8949 4.2.1): keys sorted by
//     their encoded bytes, shortest forms for numbers and lengths.
//   - MsgPack: the library sorts only a few map types, so the codec
//     rewrites its output, sorting every map's entries by their encoded key
//     bytes, as CBOR does. Struct fields are map entries on the wire and
//     are sorted too; decoders match fields by name, so other writers'
//     field order still decodes.
//
// Struct fields keep declaration order in JSON. Equal instants in
// different time zones encode alike in MsgPack and CBOR but not in JSON,
// which keeps the offset.
//
// # Limits
//
// Unmarshal treats its input as untrusted. It never panics (a panic in a
// library is recovered and returned as an error), and [Limits] bound the
// work: input size, checked before decoding; nesting depth, checked
// without recursion; and elements per array or map. A few bytes claiming a
// 2^31-element array fail at once without allocating: the CBOR library
// checks claims against the input itself; for MsgPack, whose library would
// allocate the claimed length, the codec validates the framing first; JSON
// has no length prefixes, and a pre-scan enforces depth and width, which
// encoding/json cannot configure. Marshal applies the same limits to its
// output, so nothing is stored that could not be read back. The defaults
// (a zero [Limits]) are 8 MiB, depth 64 and 131072 elements.
//
// MsgPack accepts one extension type, the timestamp (-1), on both Marshal
// and Unmarshal: the library would read a map out of any other extension's
// payload, bypassing the checks, so types registered with
// msgpack.RegisterExt cannot be stored with this codec.
//
// # Decoding into any
//
// Prefer concrete types; into any, each format gives its own types. JSON
// gives float64 for every number (int64 beyond 2^53 loses precision) and
// leaves times as strings. MsgPack and CBOR give int64 for every integer
// that fits, whatever wire form the writer chose (beyond that, uint64 or
// big.Int), float64, and time.Time. MsgPack gives string for both strings
// and binary, and map[string]any unless a key is not a string; CBOR gives
// []byte and map[any]any.
//
// # Errors
//
// Encoding failures wrap [ErrEncode] and decoding failures wrap
// [ErrDecode]; both name the codec, as in
// "codec: msgpack: decode failed: nesting depth exceeds limit 64". A broken
// limit also matches [ErrLimitExceeded]. A nil or non-pointer target is an
// error, not a panic. [New] and [Compressed]
// return [ErrInvalid] for a bad argument or an unknown name (the message
// names it). Compare with errors.Is.
//
// # Concurrency
//
// Codecs are immutable after construction and safe for concurrent use;
// share one per process. Nothing here takes a context: encoding is
// CPU-bound and bounded by the limits.
//
// Encoding a value that contains a pointer cycle is a caller bug: JSON
// reports it, but the MsgPack and CBOR libraries recurse until the stack
// overflows, which crashes the process.
package codec
