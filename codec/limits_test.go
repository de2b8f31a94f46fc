package codec_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/codec"
)

// hostileCase is crafted input that must fail fast and cheaply.
type hostileCase struct {
	name      string
	codec     codec.Codec
	data      []byte
	wantLimit bool   // must also match ErrLimitExceeded
	validFor  string // a target that may decode it successfully
}

// claim returns a code byte followed by a 4-byte big-endian length.
func claim(code byte, n uint32, tail ...byte) []byte {
	return append([]byte{code, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, tail...)
}

// many returns a container header for n elements followed by n one-byte items.
func many(header []byte, item byte, n int) []byte {
	return append(header, bytes.Repeat([]byte{item}, n)...)
}

// tooMany is one above the default MaxElements (see the Limits doc).
const tooMany = 128<<10 + 1

func hostileCases() []hostileCase {
	big := bytes.Repeat([]byte{' '}, defaultLimits.MaxSize+1)
	return []hostileCase{
		// A tiny input claiming 2^31-1 items: msgpack/v5 alone would allocate
		// the whole slice (or map) before noticing the input is short.
		{"MsgPackArrayClaim", codec.MsgPack, claim(0xdd, 1<<31-1), true, ""},
		{"MsgPackMapClaim", codec.MsgPack, claim(0xdf, 1<<31-1), true, ""},
		{"MsgPackNestedArrayClaim", codec.MsgPack, append([]byte{0x91}, claim(0xdd, 1<<31-1)...), true, ""},
		// Claims under MaxElements still must not be believed: 100k structs
		// would be ~20 MB from a 5-byte input.
		{"MsgPackArrayClaimUnderLimit", codec.MsgPack, claim(0xdd, 100_000), false, ""},
		{"MsgPackMapClaimUnderLimit", codec.MsgPack, claim(0xdf, 100_000), false, ""},
		{"MsgPackStrClaim", codec.MsgPack, claim(0xdb, 1<<31-1), false, ""},
		{"MsgPackBinClaim", codec.MsgPack, claim(0xc6, 1<<31-1), false, ""},
		{"MsgPackExtClaim", codec.MsgPack, claim(0xc9, 1<<31-1, 0x01), false, ""},
		// A valid timestamp whose 8 payload bytes spell {"x": [1M items]}:
		// decoding it into a map, the library reads the map out of the
		// payload. 1M is under MaxElements so the check is about the payload.
		{"MsgPackTimestampSpellsMapClaim", codec.MsgPack, []byte{0xd7, 0xff, 0x81, 0xa1, 'x', 0xdd, 0x00, 0x10, 0x00, 0x00}, false, "Any"},
		{"MsgPackDeep", codec.MsgPack, nested(0x91, 0xc0, 1_000_000), true, ""},
		{"MsgPackDeepMaps", codec.MsgPack, deepMsgpackMaps(100_000), true, ""},
		{"MsgPackTooManyElements", codec.MsgPack, many(claim(0xdd, tooMany), 0xc0, tooMany), true, ""},
		{"MsgPackTooLarge", codec.MsgPack, big, true, ""},
		{"MsgPackTrailingData", codec.MsgPack, []byte{0xc0, 0xc0}, false, ""},
		{"MsgPackEmpty", codec.MsgPack, nil, false, ""},

		{"CBORArrayClaim", codec.CBOR, claim(0x9a, 1<<31-1), true, ""},
		{"CBORMapClaim", codec.CBOR, claim(0xba, 1<<31-1), true, ""},
		{"CBORArrayClaim64", codec.CBOR, append([]byte{0x9b}, bytes.Repeat([]byte{0xff}, 8)...), false, ""},
		{"CBORBytesClaim", codec.CBOR, claim(0x5a, 1<<31-1), false, ""},
		{"CBORTextClaim", codec.CBOR, claim(0x7a, 1<<31-1), false, ""},
		{"CBORDeep", codec.CBOR, nested(0x81, 0xf6, 1_000_000), true, ""},
		{"CBORDeepIndefinite", codec.CBOR, nested(0x9f, 0xf6, 1_000_000), true, ""},
		{"CBORDeepTags", codec.CBOR, nested(0xd8, 0x20, 1_000_000), false, ""},
		{"CBORTooManyElements", codec.CBOR, many(claim(0x9a, tooMany), 0xf6, tooMany), true, ""},
		{"CBORTooLarge", codec.CBOR, big, true, ""},
		{"CBOREmpty", codec.CBOR, nil, false, ""},

		// JSON has no length prefixes; depth and width are what hurt.
		{"JSONDeepArrays", codec.JSON, []byte(strings.Repeat("[", 1_000_000)), true, ""},
		{"JSONDeepObjects", codec.JSON, []byte(strings.Repeat(`{"a":`, 200_000)), true, ""},
		{"JSONTooManyElements", codec.JSON, []byte("[" + strings.Repeat("0,", tooMany-1) + "0]"), true, ""},
		{"JSONTooManyPairs", codec.JSON, []byte("{" + strings.Repeat(`"":0,`, tooMany-1) + `"":0}`), true, ""},
		{"JSONTooLarge", codec.JSON, big, true, ""},
		{"JSONEmpty", codec.JSON, nil, false, ""},
	}
}

// deepMsgpackMaps nests n single-entry maps: {"a": {"a": ...}}.
func deepMsgpackMaps(n int) []byte {
	return append(bytes.Repeat([]byte{0x81, 0xa1, 'a'}, n), 0xc0)
}

// hostileTargets are the destinations the fuzzers also use, plus a slice of
// structs, the shape where msgpack/v5 allocates len*size up front.
func hostileTargets() []struct {
	name string
	new  func() any
} {
	return []struct {
		name string
		new  func() any
	}{
		{"Struct", func() any { return new(Sample) }},
		{"Any", func() any { return new(any) }},
		{"Map", func() any { return new(map[string]any) }},
		{"StructSlice", func() any { return new([]Sample) }},
	}
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	for _, tt := range hostileCases() {
		for _, target := range hostileTargets() {
			t.Run(tt.name+"/"+target.name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				err := tt.codec.Unmarshal(tt.data, target.new())
				if elapsed := time.Since(start); elapsed > 2*time.Second {
					t.Errorf("took %v, want a quick rejection", elapsed)
				}
				if err == nil && target.name == tt.validFor {
					return
				}
				if !errors.Is(err, codec.ErrDecode) {
					t.Fatalf("error = %v, want ErrDecode", err)
				}
				if tt.wantLimit && !errors.Is(err, codec.ErrLimitExceeded) {
					t.Fatalf("error = %v, want ErrLimitExceeded", err)
				}
				if !strings.HasPrefix(err.Error(), "codec: "+tt.codec.Name()+": ") {
					t.Fatalf("error %q does not name the codec", err)
				}
			})
		}
	}
}

// TestHostileInputAllocation measures bytes allocated while rejecting the
// length-claim inputs. It is not parallel: TotalAlloc is process-wide, and
// top-level tests without t.Parallel run while parallel ones are paused.
func TestHostileInputAllocation(t *testing.T) {
	const budget = 1 << 20 // the inputs are a few bytes; msgpack/v5 alone allocates GBs
	for _, tt := range hostileCases() {
		if !strings.Contains(tt.name, "Claim") {
			continue
		}
		for _, target := range hostileTargets() {
			t.Run(tt.name+"/"+target.name, func(t *testing.T) {
				dst := target.new()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				err := tt.codec.Unmarshal(tt.data, dst)
				runtime.ReadMemStats(&after)
				if err == nil && target.name != tt.validFor {
					t.Fatal("want an error")
				}
				if got := after.TotalAlloc - before.TotalAlloc; got > budget {
					t.Fatalf("allocated %d bytes rejecting a %d-byte input", got, len(tt.data))
				}
			})
		}
	}
}

// TestLimitsApply checks custom limits on both directions: Marshal refuses to
// produce what Unmarshal would refuse.
func TestLimitsApply(t *testing.T) {
	t.Parallel()
	build := map[string]func(codec.Limits) (codec.Codec, error){
		"JSON": newJSON, "MsgPack": newMsgPack, "CBOR": newCBOR,
	}
	type deep4 struct {
		A [][][]int `json:"a"` // struct + 3 arrays = depth 4
	}
	tests := []struct {
		name   string
		limits codec.Limits
		v      any
		ok     bool
	}{
		{"SizeAtLimit", codec.Limits{MaxSize: 7}, "abcde", true}, // 7 bytes in JSON, fewer elsewhere
		{"SizeOverLimit", codec.Limits{MaxSize: 5}, "abcdefgh", false},
		{"DepthAtLimit", codec.Limits{MaxDepth: 4}, deep4{A: [][][]int{{{1}}}}, true},
		{"DepthOverLimit", codec.Limits{MaxDepth: 4}, map[string]deep4{"x": {A: [][][]int{{{1}}}}}, false},
		{"ElementsAtLimit", codec.Limits{MaxElements: 16}, make([]int, 16), true},
		{"ElementsOverLimit", codec.Limits{MaxElements: 16}, make([]int, 17), false},
		{"PairsOverLimit", codec.Limits{MaxElements: 16}, mapOfN(17), false},
	}
	for _, name := range []string{"JSON", "MsgPack", "CBOR"} {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				limited, err := build[name](tt.limits)
				if err != nil {
					t.Fatal(err)
				}
				unlimited, err := codec.New(limited.Name(), codec.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				data, err := limited.Marshal(tt.v)
				if tt.ok {
					if err != nil {
						t.Fatalf("Marshal: %v", err)
					}
					var out any
					if err := limited.Unmarshal(data, &out); err != nil {
						t.Fatalf("Unmarshal: %v", err)
					}
					return
				}
				if !errors.Is(err, codec.ErrEncode) || !errors.Is(err, codec.ErrLimitExceeded) {
					t.Fatalf("Marshal error = %v, want ErrEncode and ErrLimitExceeded", err)
				}
				// The same value written by an unlimited codec is refused on read.
				data = mustMarshal(t, unlimited, tt.v)
				var out any
				err = limited.Unmarshal(data, &out)
				if !errors.Is(err, codec.ErrDecode) || !errors.Is(err, codec.ErrLimitExceeded) {
					t.Fatalf("Unmarshal error = %v, want ErrDecode and ErrLimitExceeded", err)
				}
			})
		}
	}
}

func mapOfN(n int) map[int]int {
	m := make(map[int]int, n)
	for i := range n {
		m[i] = i
	}
	return m
}

// TestJSONScanIgnoresStrings makes sure brackets and commas inside strings,
// including escaped quotes, do not count towards depth or width.
func TestJSONScanIgnoresStrings(t *testing.T) {
	t.Parallel()
	c, err := newJSON(codec.Limits{MaxDepth: 1, MaxElements: 2})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"BracketsInString", `["[[[[,,,,", "]]]]"]`, true},
		{"EscapedQuote", `["\"[[[,,,", "\\"]`, true},
		{"DepthTwo", `[[1]]`, false},
		{"ThreeElements", `[1,2,3]`, false},
		{"BracketAfterEscapedBackslash", `["\\",[1]]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var v any
			err := c.Unmarshal([]byte(tt.data), &v)
			if tt.ok && err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.data, err)
			}
			if !tt.ok && !errors.Is(err, codec.ErrLimitExceeded) {
				t.Fatalf("Unmarshal(%s) error = %v, want ErrLimitExceeded", tt.data, err)
			}
		})
	}
}
