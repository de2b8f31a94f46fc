package codec

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

func TestMpHeadAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        []byte
		want      mpHead
		wantErr   bool
		wantLimit bool
	}{
		{"PositiveFixint", []byte{0x7f}, mpHead{size: 1}, false, false},
		{"NegativeFixint", []byte{0xe0}, mpHead{size: 1}, false, false},
		{"Nil", []byte{0xc0}, mpHead{size: 1}, false, false},
		{"True", []byte{0xc3}, mpHead{size: 1}, false, false},
		{"NeverUsed", []byte{0xc1}, mpHead{}, true, false},
		{"FixmapEmpty", []byte{0x80}, mpHead{size: 1, container: true, isMap: true}, false, false},
		{"Fixmap", []byte{0x81, 1, 2}, mpHead{size: 1, children: 2, container: true, isMap: true}, false, false},
		{"FixmapShort", []byte{0x81, 1}, mpHead{}, true, false},
		{"Fixarray", []byte{0x92, 1, 2}, mpHead{size: 1, children: 2, container: true}, false, false},
		{"Fixstr", []byte{0xa2, 'h', 'i'}, mpHead{size: 3}, false, false},
		{"FixstrShort", []byte{0xa2, 'h'}, mpHead{}, true, false},
		{"Bin8", []byte{0xc4, 1, 9}, mpHead{size: 3}, false, false},
		{"Bin16", []byte{0xc5, 0, 1, 9}, mpHead{size: 4}, false, false},
		{"Bin32", []byte{0xc6, 0, 0, 0, 1, 9}, mpHead{size: 6}, false, false},
		{"Bin32Claim", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, mpHead{}, true, false},
		{"Str8", []byte{0xd9, 1, 'x'}, mpHead{size: 3}, false, false},
		{"Str16LengthShort", []byte{0xda, 0}, mpHead{}, true, false},
		{"Ext8Timestamp96", append([]byte{0xc7, 12, 0xff}, make([]byte, 12)...), mpHead{size: 15, extPayload: 3}, false, false},
		{"Ext8NoType", []byte{0xc7, 4}, mpHead{}, true, false},
		{"Ext8OtherType", []byte{0xc7, 4, 0x05, 0, 0, 0, 0}, mpHead{}, true, false},
		{"Ext8OddLength", []byte{0xc7, 5, 0xff, 0, 0, 0, 0, 0}, mpHead{}, true, false},
		{"Ext16", []byte{0xc8, 0, 4, 0xff, 0, 0, 0, 0}, mpHead{size: 8, extPayload: 4}, false, false},
		{"Ext32", append([]byte{0xc9, 0, 0, 0, 8, 0xff}, make([]byte, 8)...), mpHead{size: 14, extPayload: 6}, false, false},
		{"Ext32Short", append([]byte{0xc9, 0, 0, 0, 8, 0xff}, make([]byte, 7)...), mpHead{}, true, false},
		{"Float32", []byte{0xca, 0, 0, 0, 0}, mpHead{size: 5}, false, false},
		{"Float64Short", []byte{0xcb, 0, 0, 0, 0}, mpHead{}, true, false},
		{"Uint64", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 0}, mpHead{size: 9}, false, false},
		{"Int16", []byte{0xd1, 0, 0}, mpHead{size: 3}, false, false},
		{"Fixext1", []byte{0xd4, 0xff, 0}, mpHead{}, true, false},
		{"Fixext4Timestamp", []byte{0xd6, 0xff, 0, 0, 0, 0}, mpHead{size: 6, extPayload: 2}, false, false},
		{"Fixext8Timestamp", append([]byte{0xd7, 0xff}, make([]byte, 8)...), mpHead{size: 10, extPayload: 2}, false, false},
		{"Fixext8Short", append([]byte{0xd7, 0xff}, make([]byte, 7)...), mpHead{}, true, false},
		{"Fixext16", append([]byte{0xd8, 0xff}, make([]byte, 16)...), mpHead{}, true, false},
		{"Array16", []byte{0xdc, 0, 1, 0xc0}, mpHead{size: 3, children: 1, container: true}, false, false},
		{"Array32Claim", []byte{0xdd, 0, 1, 0, 0}, mpHead{}, true, true},
		{"Array32ClaimUnderLimit", []byte{0xdd, 0, 0, 1, 0}, mpHead{}, true, false},
		{"Map16", []byte{0xde, 0, 1, 1, 2}, mpHead{size: 3, children: 2, container: true, isMap: true}, false, false},
		{"Map32Claim", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, mpHead{}, true, true},
		{"Empty", nil, mpHead{}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mpHeadAt(tt.in, 0, 1000)
			if (err != nil) != tt.wantErr {
				t.Fatalf("mpHeadAt(% x) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if errors.Is(err, ErrLimitExceeded) != tt.wantLimit {
				t.Fatalf("mpHeadAt(% x) error = %v, want limit %v", tt.in, err, tt.wantLimit)
			}
			if got != tt.want {
				t.Fatalf("mpHeadAt(% x) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestMsgpackWireProperties checks the framing code against the library on
// random values: library output passes checkMsgpack, canonicalisation keeps
// the meaning and the length, is idempotent, and every strict prefix of a
// valid encoding is rejected.
func TestMsgpackWireProperties(t *testing.T) {
	t.Parallel()
	l := defaultLimits()
	rapid.Check(t, func(t *rapid.T) {
		v := wireValue(t, 4)
		raw, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMsgpack(raw, l, nil); err != nil {
			t.Fatalf("checkMsgpack(library output): %v\n% x", err, raw)
		}
		canon, err := canonicalMsgpack(raw, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(canon) != len(raw) {
			t.Fatalf("length changed: %d -> %d", len(raw), len(canon))
		}
		again, err := canonicalMsgpack(canon, l, nil)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("not idempotent: %v\n% x\n% x", err, canon, again)
		}
		fromRaw, fromCanon := libDecode(t, raw), libDecode(t, canon)
		if diff := cmp.Diff(fromRaw, fromCanon, cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("canonical form decodes differently (-raw +canon):\n%s", diff)
		}
		for n := range len(raw) {
			if checkMsgpack(raw[:n], l, nil) == nil {
				t.Fatalf("prefix of %d/%d bytes accepted: % x", n, len(raw), raw[:n])
			}
		}
	})
}

// libDecode decodes with the library directly (no checks, no UTC walk).
func libDecode(t *rapid.T, b []byte) any {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	d.SetMapDecoder(decodeAnyMap) // the default refuses integer keys
	v, err := d.DecodeInterfaceLoose()
	if err != nil {
		t.Fatalf("library decode: %v\n% x", err, b)
	}
	return v
}

// wireValue draws values that exercise every msgpack family the library
// emits: ints of each width, floats, strings and binary of each length
// class, timestamps, arrays and maps with mixed keys.
func wireValue(t *rapid.T, depth int) any {
	kinds := 9
	if depth > 0 {
		kinds = 11
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "kind") {
	case 0:
		return rapid.Int64().Draw(t, "int")
	case 1:
		return rapid.Uint64().Draw(t, "uint")
	case 2:
		return rapid.Float64().Draw(t, "float")
	case 3:
		return rapid.Float32().Draw(t, "float32")
	case 4:
		return rapid.StringN(0, 300, -1).Draw(t, "str")
	case 5:
		return rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "bin")
	case 6:
		return time.Unix(rapid.Int64Range(-1<<40, 1<<40).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "ns"))
	case 7:
		return rapid.Bool().Draw(t, "bool")
	case 8:
		return nil
	case 9:
		n := rapid.IntRange(0, 20).Draw(t, "len")
		s := make([]any, n)
		for i := range s {
			s[i] = wireValue(t, depth-1)
		}
		return s
	default:
		n := rapid.IntRange(0, 20).Draw(t, "pairs")
		if rapid.Bool().Draw(t, "intKeys") {
			m := make(map[int64]any, n)
			for range n {
				m[rapid.Int64Range(-1000, 1000).Draw(t, "k")] = wireValue(t, depth-1)
			}
			return m
		}
		m := make(map[string]any, n)
		for range n {
			m[rapid.StringN(0, 40, -1).Draw(t, "k")] = wireValue(t, depth-1)
		}
		return m
	}
}

// TestTimesToUTCCyclicTarget decodes into a target that already holds a
// pointer cycle; the walk must terminate.
func TestTimesToUTCCyclicTarget(t *testing.T) {
	t.Parallel()
	type node struct {
		At   time.Time `json:"at"`
		Next *node     `json:"next"`
		Any  any       `json:"any"`
	}
	n := &node{}
	n.Next = n
	s := []any{nil, nil}
	s[0], s[1] = s, s // a slice holding itself twice: exponential without the seen set
	n.Any = s
	done := make(chan error, 1)
	go func() {
		done <- JSON.Unmarshal([]byte(`{"at":"2024-01-02T03:04:05.6+01:00"}`), n)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("walk did not terminate")
	}
	if n.At.Location() != time.UTC || n.At.Hour() != 2 {
		t.Fatalf("At = %v, want 02:04:05.6 UTC", n.At)
	}
}

// TestTimesToUTCEmbedded covers an exported field promoted from an
// unexported embedded struct, which reflect can set and the libraries fill.
func TestTimesToUTCEmbedded(t *testing.T) {
	t.Parallel()
	type inner struct {
		At time.Time `json:"at"`
	}
	type outer struct {
		inner
	}
	var v outer
	if err := JSON.Unmarshal([]byte(`{"at":"2024-01-02T03:04:05+05:00"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.At.Location() != time.UTC {
		t.Fatalf("At = %v, want UTC", v.At)
	}
}

func TestMpReaderFences(t *testing.T) {
	t.Parallel()
	var r mpReader
	r.reset([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	r.fences = append(r.fences, 3, 7)
	step := func(name string, wantByte int, wantErr bool) {
		t.Helper()
		b, err := r.ReadByte()
		if (err != nil) != wantErr || (!wantErr && int(b) != wantByte) {
			t.Fatalf("%s: ReadByte = %d, %v; want %d, err %v", name, b, err, wantByte, wantErr)
		}
	}
	step("Start", 0, false)
	step("Second", 1, false)
	step("BeforeFence", 2, false)
	step("AtFence", 0, true)
	buf := make([]byte, 4)
	if n, err := r.Read(buf); n != 4 || err != nil || buf[0] != 3 {
		t.Fatalf("Read over a fence = %d, %v, % x", n, err, buf)
	}
	step("AtSecondFence", 0, true)
	if err := r.UnreadByte(); err != nil {
		t.Fatal(err)
	}
	step("AfterUnread", 6, false)
	step("AtSecondFenceAgain", 0, true)
	for range 4 {
		if err := r.UnreadByte(); err != nil {
			t.Fatal(err)
		}
	}
	step("BackAtFirstFence", 0, true)
}

// BenchmarkMsgpackWire measures the framing passes alone on a payload shaped
// like the large benchmark value (100 six-field structs and a 50-key map).
func BenchmarkMsgpackWire(b *testing.B) {
	type small struct {
		ID, Slot string
		Count    int64
		Weight   float64
		Healthy  bool
		Seen     time.Time
	}
	v := struct {
		Items  []small
		Counts map[string]int64
	}{Counts: map[string]int64{}}
	for i := range 100 {
		v.Items = append(v.Items, small{ID: "pool:proxies:17", Slot: "eu-west-1a", Count: int64(i), Seen: time.Unix(1e9, 5)})
	}
	for i := range 50 {
		v.Counts[string(rune('A'+i))] = int64(i)
	}
	raw, err := msgpack.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	l := defaultLimits()
	b.Run("Check", func(b *testing.B) {
		var fences []int
		for b.Loop() {
			fences = fences[:0]
			if err := checkMsgpack(raw, l, &fences); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Canonical", func(b *testing.B) {
		var cw mpCanon
		for b.Loop() {
			if _, err := canonicalMsgpack(raw, l, &cw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LibraryEncode", func(b *testing.B) {
		for b.Loop() {
			if _, err := msgpack.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
