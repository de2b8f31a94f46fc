package codec_test

import (
	"math"
	"math/big"
	"reflect"
	"slices"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/redisallocator/redisallocator/codec"
)

// codecs lists the built-in codecs for table tests; the names double as
// CamelCase subtest names.
var codecs = []struct {
	name  string
	codec codec.Codec
}{
	{"JSON", codec.JSON},
	{"MsgPack", codec.MsgPack},
	{"CBOR", codec.CBOR},
}

// Owner is nested inside Sample.
type Owner struct {
	Name  string `json:"name"`
	Level int32  `json:"level"`
}

// Sample is the representative user struct: it is pinned by the golden files
// and fed to the fuzzers. Only json tags, as users are told to write them.
type Sample struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Count   int64          `json:"count"`
	Ratio   float64        `json:"ratio"`
	Enabled bool           `json:"enabled"`
	Created time.Time      `json:"created"`
	Tags    []string       `json:"tags"`
	Scores  map[string]int `json:"scores"`
	Owner   Owner          `json:"owner"`
	Parent  *Owner         `json:"parent,omitempty"`
	Payload []byte         `json:"payload"`
	Ignored string         `json:"-"`
}

func sampleValue() Sample {
	return Sample{
		ID:      "res-42",
		Name:    "proxy eu-west «α»",
		Count:   -9007199254740993, // beyond float64 precision
		Ratio:   0.1,
		Enabled: true,
		Created: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Tags:    []string{"fast", "", "eu"},
		Scores:  map[string]int{"b": 2, "a": 1, "c": -3, "zz": 1 << 40},
		Owner:   Owner{Name: "team-a", Level: 3},
		Parent:  &Owner{Name: "org", Level: -1},
		Payload: []byte{0, 1, 2, 0xfe, 0xff},
	}
}

// Small is the benchmark's small value: six fields, as in the notes.
type Small struct {
	ID      string    `json:"id"`
	Slot    string    `json:"slot"`
	Count   int64     `json:"count"`
	Weight  float64   `json:"weight"`
	Healthy bool      `json:"healthy"`
	Seen    time.Time `json:"seen"`
}

// Large is the benchmark's large value: 100-element slices and a 50-key map.
type Large struct {
	ID     string           `json:"id"`
	Items  []Small          `json:"items"`
	Names  []string         `json:"names"`
	Values []float64        `json:"values"`
	Counts map[string]int64 `json:"counts"`
}

func smallValue() Small {
	return Small{
		ID: "pool:proxies:17", Slot: "eu-west-1a", Count: 12345, Weight: 0.75, Healthy: true,
		Seen: time.Date(2025, 1, 2, 3, 4, 5, 6789, time.UTC),
	}
}

func largeValue() Large {
	l := Large{ID: "batch-1", Counts: make(map[string]int64, 50)}
	for i := range 100 {
		s := smallValue()
		s.Count = int64(i)
		l.Items = append(l.Items, s)
		l.Names = append(l.Names, "name-"+string(rune('a'+i%26)))
		l.Values = append(l.Values, float64(i)*1.5)
	}
	for i := range 50 {
		l.Counts["key-"+string(rune('A'+i%26))+string(rune('a'+i/26))] = int64(i * 1000)
	}
	return l
}

// cmpOpts compares decoded values: times by instant (and location checked
// separately where it matters), NaN equal to NaN, big.Int by value.
var cmpOpts = cmp.Options{
	cmpopts.EquateNaNs(),
	cmp.Comparer(func(a, b big.Int) bool { return a.Cmp(&b) == 0 }),
	cmp.Comparer(func(a, b float32) bool {
		return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
	}),
}

// equalDecoded is a linear-time deep equality for decoded values: NaN equals
// NaN, times compare by instant and location, big.Int by value. go-cmp is
// exponential in nesting depth for slices (it compares each element twice
// per level), which stalls the fuzzers on inputs like 40 nested arrays.
func equalDecoded(a, b any) bool {
	return equalValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	bigIntType = reflect.TypeFor[big.Int]()
)

func equalValue(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case timeType:
		if !a.CanInterface() {
			return true // an unexported field, which no codec writes
		}
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		return ta.Equal(tb) && ta.Location() == tb.Location()
	case bigIntType:
		if !a.CanInterface() {
			return true
		}
		ba, bb := a.Interface().(big.Int), b.Interface().(big.Int)
		return ba.Cmp(&bb) == 0
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		fa, fb := a.Float(), b.Float()
		return fa == fb || (math.IsNaN(fa) && math.IsNaN(fb))
	case reflect.Complex64, reflect.Complex128:
		return a.Complex() == b.Complex()
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return false
		}
		fallthrough
	case reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		// Keys that cannot be looked up (NaN, or containing one) are
		// matched pairwise instead.
		var lostA, lostB [][2]reflect.Value
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() {
				lostA = append(lostA, [2]reflect.Value{it.Key(), it.Value()})
				continue
			}
			if !equalValue(it.Value(), bv) {
				return false
			}
		}
		if len(lostA) == 0 {
			return true
		}
		for it := b.MapRange(); it.Next(); {
			if !a.MapIndex(it.Key()).IsValid() {
				lostB = append(lostB, [2]reflect.Value{it.Key(), it.Value()})
			}
		}
		for _, ea := range lostA {
			i := slices.IndexFunc(lostB, func(eb [2]reflect.Value) bool {
				return equalValue(ea[0], eb[0]) && equalValue(ea[1], eb[1])
			})
			if i < 0 {
				return false
			}
			lostB = slices.Delete(lostB, i, i+1)
		}
		return len(lostB) == 0
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue // codecs skip unexported fields
			}
			if !equalValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
