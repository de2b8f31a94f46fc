package codec_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/redisallocator/redisallocator/codec"
)

// defaultLimits are the documented defaults of Limits.
var defaultLimits = codec.Limits{MaxSize: 8 << 20, MaxDepth: 64, MaxElements: 128 << 10}

// decode decodes data with c into a new T.
func decode[T any](c codec.Codec, data []byte) (T, error) {
	var v T
	if err := c.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

func newJSON(l codec.Limits) (codec.Codec, error)    { return codec.New("json", l) }
func newMsgPack(l codec.Limits) (codec.Codec, error) { return codec.New("msgpack", l) }
func newCBOR(l codec.Limits) (codec.Codec, error)    { return codec.New("cbor", l) }

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    codec.Codec
		wantErr bool
	}{
		{"JSON", "json", codec.JSON, false},
		{"MsgPack", "msgpack", codec.MsgPack, false},
		{"CBOR", "cbor", codec.CBOR, false},
		{"Unknown", "yaml", nil, true},
		{"Empty", "", nil, true},
		{"WrongCase", "JSON", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := codec.New(tt.in, codec.Limits{})
			if tt.wantErr {
				if !errors.Is(err, codec.ErrInvalid) {
					t.Fatalf("New(%q) error = %v, want ErrInvalid", tt.in, err)
				}
				return
			}
			if err != nil || got.Name() != tt.want.Name() {
				t.Fatalf("New(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.Name() != tt.in {
				t.Fatalf("New(%q).Name() = %q", tt.in, got.Name())
			}
		})
	}
}

func TestRoundTripSample(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := sampleValue()
			want.Ignored = "not encoded"
			data, err := c.codec.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode[Sample](c.codec, data)
			if err != nil {
				t.Fatal(err)
			}
			want.Ignored = ""
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoundTripTypes covers shapes users store besides plain structs.
func TestRoundTripTypes(t *testing.T) {
	t.Parallel()
	type withAny struct {
		Meta map[string]any `json:"meta"`
	}
	values := []struct {
		name string
		v    any
		// decode returns a fresh pointer of the right type.
		decode func(codec.Codec, []byte) (any, error)
	}{
		{"IntKeyMap", map[int]string{3: "c", -1: "a", 100: "z"}, decodeAs[map[int]string]},
		{"NestedMap", map[string]map[string]int{"x": {"b": 2, "a": 1}, "y": nil}, decodeAs[map[string]map[string]int]},
		{"StructMap", map[string]Owner{"o": {"n", 1}, "p": {"m", 2}}, decodeAs[map[string]Owner]},
		{"Slice", []Small{smallValue(), smallValue()}, decodeAs[[]Small]},
		{"Pointer", &Owner{Name: "x"}, decodeAs[*Owner]},
		{"Large", largeValue(), decodeAs[Large]},
		{"EmptyStruct", Sample{}, decodeAs[Sample]},
		{"AnyMap", withAny{Meta: map[string]any{"s": "x", "b": true, "n": nil}}, decodeAs[withAny]},
	}
	for _, c := range codecs {
		for _, tt := range values {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				data, err := c.codec.Marshal(tt.v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := tt.decode(c.codec, data)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.v, got, cmpOpts); diff != "" {
					t.Fatalf("round trip (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func decodeAs[T any](c codec.Codec, data []byte) (any, error) { return decode[T](c, data) }

// TestDecodeIntoAny checks the msgpack map decoder: the library alone fails
// on non-string keys inside any.
func TestDecodeIntoAny(t *testing.T) {
	t.Parallel()
	for _, c := range codecs[1:] { // JSON has no integer keys on the wire
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data, err := c.codec.Marshal(map[int]string{1: "a", 2: "b"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode[any](c.codec, data)
			if err != nil {
				t.Fatalf("Decode[any]: %v", err)
			}
			m, ok := got.(map[any]any)
			if !ok || len(m) != 2 {
				t.Fatalf("Decode[any] = %#v, want a map[any]any with 2 entries", got)
			}
		})
	}
	t.Run("MsgPackStringKeys", func(t *testing.T) {
		t.Parallel()
		data, err := codec.MsgPack.Marshal(map[string]any{"a": int64(1), "b": map[string]any{"c": "d"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode[any](codec.MsgPack, data)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"a": int64(1), "b": map[string]any{"c": "d"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})
}

// TestIntegersInAny pins what integers become inside any: int64 whenever
// they fit, whatever wire code the writer chose, so a value read back and
// re-encoded stays the same type.
func TestIntegersInAny(t *testing.T) {
	t.Parallel()
	in := map[string]any{"small": 5, "byte": uint8(200), "wide": 1 << 40, "neg": -3, "huge": uint64(math.MaxUint64)}
	tests := []struct {
		name  string
		codec codec.Codec
		huge  any
	}{
		{"MsgPack", codec.MsgPack, uint64(math.MaxUint64)},
		{"CBOR", codec.CBOR, *new(big.Int).SetUint64(math.MaxUint64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decode[map[string]any](tt.codec, mustMarshal(t, tt.codec, in))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"small": int64(5), "byte": int64(200), "wide": int64(1 << 40), "neg": int64(-3), "huge": tt.huge}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimeMapKeys checks that times used as keys of map[any]any are moved
// to UTC too, by re-keying.
func TestTimeMapKeys(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("Z9", 9*3600))
	for _, c := range codecs[1:] { // JSON keys are always strings
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := decode[map[any]any](c.codec, mustMarshal(t, c.codec, map[any]any{at: "x"}))
			if err != nil {
				t.Fatal(err)
			}
			for k := range got {
				tm, ok := k.(time.Time)
				if !ok || !tm.Equal(at) || tm.Location() != time.UTC {
					t.Fatalf("key %#v, want %v in UTC", k, at)
				}
			}
		})
	}
}

// TestDefaultLimits pins the defaults the docs of Limits state.
func TestDefaultLimits(t *testing.T) {
	t.Parallel()
	// The defaults round-trip a value at each of them, and the codecs
	// refuse one above (limits_test covers the refusal per field).
	if _, err := codec.JSON.Marshal(make([]int, defaultLimits.MaxElements)); err != nil {
		t.Fatalf("JSON at the default MaxElements: %v", err)
	}
	if _, err := codec.JSON.Marshal(make([]int, defaultLimits.MaxElements+1)); !errors.Is(err, codec.ErrLimitExceeded) {
		t.Fatalf("JSON above the default MaxElements: %v, want ErrLimitExceeded", err)
	}
	// The documented ceilings are accepted, one above them refused.
	for _, l := range []codec.Limits{{MaxDepth: 10000}, {MaxElements: math.MaxInt32}} {
		if _, err := newJSON(l); err != nil {
			t.Errorf("New(json, %+v): %v", l, err)
		}
	}
	for _, l := range []codec.Limits{{MaxDepth: 10001}, {MaxElements: math.MaxInt32 + 1}} {
		if _, err := newJSON(l); !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("New(json, %+v) error = %v, want ErrInvalid", l, err)
		}
	}
}

func TestUnmarshalBadTarget(t *testing.T) {
	t.Parallel()
	var nilPtr *Sample
	targets := []struct {
		name string
		v    any
	}{
		{"Nil", nil},
		{"NonPointer", Sample{}},
		{"NilPointer", nilPtr},
		{"Map", map[string]any{}},
	}
	for _, c := range codecs {
		data, err := c.codec.Marshal(sampleValue())
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range targets {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				err := c.codec.Unmarshal(data, tt.v)
				if !errors.Is(err, codec.ErrDecode) {
					t.Fatalf("Unmarshal into %T: error = %v, want ErrDecode", tt.v, err)
				}
				if !strings.HasPrefix(err.Error(), "codec: "+c.codec.Name()+": decode failed: ") {
					t.Fatalf("message %q does not name the codec", err)
				}
			})
		}
	}
}

// TestErrorShape pins the message format and what errors.Is matches.
func TestErrorShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		codec     codec.Codec
		data      []byte
		wantMsg   string
		wantLimit bool
	}{
		{"JSONSyntax", codec.JSON, []byte(`{"id":`), "codec: json: decode failed: unexpected end of JSON input", false},
		{"MsgPackBadCode", codec.MsgPack, []byte{0xc1}, "codec: msgpack: decode failed: msgpack: invalid code 0xc1 at offset 0", false},
		{"CBORTruncated", codec.CBOR, []byte{0x82, 0x01}, "codec: cbor: decode failed: unexpected EOF", false},
		{"MsgPackDepth", codec.MsgPack, nested(0x91, 0xc0, 100), "codec: msgpack: decode failed: nesting depth exceeds limit 64", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var v any
			err := tt.codec.Unmarshal(tt.data, &v)
			if !errors.Is(err, codec.ErrDecode) || errors.Is(err, codec.ErrEncode) {
				t.Fatalf("error %v: want ErrDecode only", err)
			}
			if got := errors.Is(err, codec.ErrLimitExceeded); got != tt.wantLimit {
				t.Fatalf("errors.Is(%v, ErrLimitExceeded) = %v, want %v", err, got, tt.wantLimit)
			}
			if err.Error() != tt.wantMsg {
				t.Fatalf("message = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

// nested returns n copies of open followed by leaf: n levels of nesting.
func nested(open, leaf byte, n int) []byte {
	b := make([]byte, 0, n+1)
	for range n {
		b = append(b, open)
	}
	return append(b, leaf)
}

func TestNewLimits(t *testing.T) {
	t.Parallel()
	constructors := []struct {
		name string
		new  func(codec.Limits) (codec.Codec, error)
	}{
		{"JSON", newJSON},
		{"MsgPack", newMsgPack},
		{"CBOR", newCBOR},
	}
	tests := []struct {
		name      string
		limits    codec.Limits
		wantField string // empty: valid for every codec
		cborOnly  bool   // invalid only for CBOR
	}{
		{"Zero", codec.Limits{}, "", false},
		{"Defaults", defaultLimits, "", false},
		{"Small", codec.Limits{MaxSize: 1, MaxDepth: 4, MaxElements: 16}, "", false},
		{"NegativeSize", codec.Limits{MaxSize: -1}, "MaxSize", false},
		{"NegativeDepth", codec.Limits{MaxDepth: -1}, "MaxDepth", false},
		{"DepthTooLarge", codec.Limits{MaxDepth: 10001}, "MaxDepth", false},
		{"NegativeElements", codec.Limits{MaxElements: -5}, "MaxElements", false},
		{"DepthBelowCBORFloor", codec.Limits{MaxDepth: 3}, "MaxDepth", true},
		{"ElementsBelowCBORFloor", codec.Limits{MaxElements: 15}, "MaxElements", true},
	}
	for _, k := range constructors {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				c, err := k.new(tt.limits)
				wantErr := tt.wantField != "" && (!tt.cborOnly || k.name == "CBOR")
				if !wantErr {
					if err != nil || c == nil {
						t.Fatalf("New(%+v) = %v, %v; want a codec", tt.limits, c, err)
					}
					return
				}
				if !errors.Is(err, codec.ErrInvalid) || !strings.Contains(err.Error(), tt.wantField) {
					t.Fatalf("New(%+v) error = %v, want ErrInvalid naming %s", tt.limits, err, tt.wantField)
				}
			})
		}
	}
}

// TestStructTags pins the tag story: json tags name fields in every codec,
// and a msgpack or cbor tag overrides them for that codec only.
func TestStructTags(t *testing.T) {
	t.Parallel()
	type tagged struct {
		Plain    string `json:"plain_name"`
		Override string `json:"json_name" msgpack:"mp_name" cbor:"cbor_name"`
		Omitted  string `json:"omitted,omitempty"`
		Skipped  string `json:"-"`
		NoTag    string
	}
	v := tagged{Plain: "p", Override: "o", Skipped: "s", NoTag: "n"}
	tests := []struct {
		name  string
		codec codec.Codec
		keys  []string
	}{
		{"JSON", codec.JSON, []string{"NoTag", "json_name", "plain_name"}},
		{"MsgPack", codec.MsgPack, []string{"NoTag", "mp_name", "plain_name"}},
		{"CBOR", codec.CBOR, []string{"NoTag", "cbor_name", "plain_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := tt.codec.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			// Read the keys with the library itself, not through our codec.
			var keys []string
			switch tt.name {
			case "JSON":
				keys = jsonKeys(t, data)
			case "MsgPack":
				var m map[string]any
				if err := msgpack.Unmarshal(data, &m); err != nil {
					t.Fatal(err)
				}
				keys = sortedKeys(m)
			case "CBOR":
				var m map[string]any
				if err := cbor.Unmarshal(data, &m); err != nil {
					t.Fatal(err)
				}
				keys = sortedKeys(m)
			}
			if diff := cmp.Diff(tt.keys, keys); diff != "" {
				t.Fatalf("keys (-want +got):\n%s", diff)
			}
			got, err := decode[tagged](tt.codec, data)
			if err != nil {
				t.Fatal(err)
			}
			want := v
			want.Skipped = ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimeUTC checks that times come back as the same instant, with
// nanoseconds, in time.UTC, wherever they sit in the value.
func TestTimeUTC(t *testing.T) {
	t.Parallel()
	type deep struct {
		At     time.Time            `json:"at"`
		Ptr    *time.Time           `json:"ptr"`
		List   []time.Time          `json:"list"`
		ByName map[string]time.Time `json:"by_name"`
		Any    any                  `json:"any"`
		Owners []*Small             `json:"owners"`
		Arr    [2]time.Time         `json:"arr"`
	}
	zones := []struct {
		name string
		loc  *time.Location
	}{
		{"UTC", time.UTC},
		{"Local", time.Local},
		{"FixedEast", time.FixedZone("X", 5*3600+30*60)},
		{"FixedWest", time.FixedZone("Y", -8*3600)},
	}
	for _, c := range codecs {
		for _, z := range zones {
			t.Run(c.name+"/"+z.name, func(t *testing.T) {
				t.Parallel()
				at := time.Date(2024, 2, 29, 23, 59, 59, 123456789, z.loc)
				in := deep{
					At: at, Ptr: &at, List: []time.Time{at, at.Add(1)},
					ByName: map[string]time.Time{"a": at}, Any: at,
					Owners: []*Small{{Seen: at}}, Arr: [2]time.Time{at, at},
				}
				data, err := c.codec.Marshal(in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decode[deep](c.codec, data)
				if err != nil {
					t.Fatal(err)
				}
				times := []time.Time{got.At, *got.Ptr, got.List[0], got.ByName["a"], got.Owners[0].Seen, got.Arr[1]}
				if c.name != "JSON" { // JSON decodes a time inside any as a string
					tm, ok := got.Any.(time.Time)
					if !ok {
						t.Fatalf("Any = %#v, want time.Time", got.Any)
					}
					times = append(times, tm)
				}
				for i, tm := range times {
					if !tm.Equal(at) || tm.Location() != time.UTC {
						t.Errorf("time %d = %v (%v), want %v in UTC", i, tm, tm.Location(), at.UTC())
					}
				}
				if !got.List[1].Equal(at.Add(1)) {
					t.Errorf("List[1] = %v, lost a nanosecond", got.List[1])
				}
			})
		}
	}
}

// TestTimeUTCForeignInput feeds times written by other encoders, with
// offsets or as epochs, which the libraries would decode into other zones.
func TestTimeUTCForeignInput(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 2, 3, 4, 5, 600000000, time.UTC)
	tests := []struct {
		name  string
		codec codec.Codec
		data  []byte
	}{
		{"JSONOffset", codec.JSON, []byte(`"2024-01-02T05:34:05.6+02:30"`)},
		// msgpack timestamp 64: nanoseconds<<34 | seconds.
		{"MsgPackTimestamp", codec.MsgPack, append([]byte{0xd7, 0xff}, be64(600000000<<34|uint64(want.Unix()))...)},
		{"CBOREpochFloat", codec.CBOR, append([]byte{0xc1, 0xfb}, be64(math.Float64bits(float64(want.Unix())+0.6))...)},
		{"CBOROffsetText", codec.CBOR, append([]byte{0xc0, 0x78, 27}, "2024-01-01T22:04:05.6-05:00"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decode[time.Time](tt.codec, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Location() != time.UTC || got.Sub(want).Abs() > time.Microsecond {
				t.Fatalf("got %v (%v), want %v in UTC", got, got.Location(), want)
			}
		})
	}
}

// TestTimeOutsideRFC3339 pins the one asymmetry between codecs: CBOR writes
// RFC 3339, which stops at year 9999, so it refuses to decode a later epoch
// it could never write back; MsgPack timestamps have no such bound.
func TestTimeOutsideRFC3339(t *testing.T) {
	t.Parallel()
	const year10000 = 253402300800 // 10000-01-01T00:00:00Z
	cborEpoch := append([]byte{0xc1, 0x1b}, be64(year10000)...)
	var tm time.Time
	if err := codec.CBOR.Unmarshal(cborEpoch, &tm); !errors.Is(err, codec.ErrDecode) {
		t.Fatalf("CBOR: error = %v, want ErrDecode", err)
	}
	far := time.Unix(year10000, 1).UTC()
	got, err := decode[time.Time](codec.MsgPack, mustMarshal(t, codec.MsgPack, far))
	if err != nil || !got.Equal(far) {
		t.Fatalf("MsgPack: got %v, %v; want %v", got, err, far)
	}
}

// extPoint is stored by msgpack as an application extension once
// registered; the MsgPack codec must refuse it both ways.
type extPoint struct{ X int }

func (p *extPoint) MarshalMsgpack() ([]byte, error) { return []byte{byte(p.X)}, nil }
func (p *extPoint) UnmarshalMsgpack(b []byte) error {
	p.X = int(b[0])
	return nil
}

func TestMsgPackOnlyTimestampExtension(t *testing.T) {
	// Not parallel: RegisterExt writes msgpack's global extension table,
	// which parallel tests read while decoding (a data race). Tests that do
	// not call t.Parallel never overlap the ones that do. The registration
	// affects only this test binary.
	msgpack.RegisterExt(42, (*extPoint)(nil))
	if _, err := codec.MsgPack.Marshal(&extPoint{X: 1}); !errors.Is(err, codec.ErrEncode) {
		t.Fatalf("Marshal(extension) error = %v, want ErrEncode", err)
	}
	var p extPoint
	if err := codec.MsgPack.Unmarshal([]byte{0xd4, 42, 1}, &p); !errors.Is(err, codec.ErrDecode) {
		t.Fatalf("Unmarshal(extension) error = %v, want ErrDecode", err)
	}
}

// panicky panics in every hook the libraries call, standing in for a bug in
// a third-party decoder.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error)          { panic("boom") }
func (*panicky) UnmarshalJSON([]byte) error           { panic("boom") }
func (panicky) EncodeMsgpack(*msgpack.Encoder) error  { panic("boom") }
func (*panicky) DecodeMsgpack(*msgpack.Decoder) error { panic("boom") }
func (panicky) MarshalCBOR() ([]byte, error)          { panic("boom") }
func (*panicky) UnmarshalCBOR([]byte) error           { panic("boom") }

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	valid := map[string][]byte{"JSON": []byte(`{}`), "MsgPack": {0x80}, "CBOR": {0xa0}}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.codec.Marshal(panicky{})
			if !errors.Is(err, codec.ErrEncode) || !strings.Contains(err.Error(), "recovered panic: boom") {
				t.Fatalf("Marshal error = %v, want ErrEncode with the panic", err)
			}
			var p panicky
			err = c.codec.Unmarshal(valid[c.name], &p)
			if !errors.Is(err, codec.ErrDecode) || !strings.Contains(err.Error(), "recovered panic: boom") {
				t.Fatalf("Unmarshal error = %v, want ErrDecode with the panic", err)
			}
			// The codec still works afterwards (pooled state was not reused).
			if _, err := decode[Sample](c.codec, mustMarshal(t, c.codec, sampleValue())); err != nil {
				t.Fatalf("after panic: %v", err)
			}
		})
	}
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func jsonKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return sortedKeys(m)
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

func mustMarshal(t testing.TB, c codec.Codec, v any) []byte {
	t.Helper()
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConcurrentUse shares each codec across goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := mustMarshal(t, c.codec, largeValue())
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Go(func() {
					for i := range 50 {
						v := largeValue()
						v.ID = fmt.Sprint(g, i)
						b, err := c.codec.Marshal(v)
						if err != nil {
							errs <- err
							return
						}
						got, err := decode[Large](c.codec, b)
						if err != nil {
							errs <- err
							return
						}
						if got.ID != v.ID || len(got.Items) != 100 {
							errs <- fmt.Errorf("goroutine %d: got ID %q, want %q", g, got.ID, v.ID)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if again := mustMarshal(t, c.codec, largeValue()); string(again) != string(want) {
				t.Error("encoding changed after concurrent use")
			}
		})
	}
}
