package codec_test

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/redisallocator/redisallocator/codec"
)

// TestDeterministicMaps is a property test: the same map value encodes to
// the same bytes every time, and after being rebuilt by inserting its keys in
// another order. Go randomises map iteration on every range, so any codec
// that writes entries in iteration order fails within a few encodings.
func TestDeterministicMaps(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			t.Run("StringInt", rapid.MakeCheck(func(t *rapid.T) {
				m := rapid.MapOfN(rapid.String(), rapid.Int(), 2, 40).Draw(t, "m")
				checkSameBytes(t, c.codec, m, rebuild(t, m))
			}))
			t.Run("IntString", rapid.MakeCheck(func(t *rapid.T) {
				m := rapid.MapOfN(rapid.Int(), rapid.String(), 2, 40).Draw(t, "m")
				checkSameBytes(t, c.codec, m, rebuild(t, m))
			}))
			t.Run("StringStruct", rapid.MakeCheck(func(t *rapid.T) {
				m := rapid.MapOfN(rapid.String(), ownerGen(), 2, 20).Draw(t, "m")
				checkSameBytes(t, c.codec, m, rebuild(t, m))
			}))
			t.Run("NestedIntKeys", rapid.MakeCheck(func(t *rapid.T) {
				inner := rapid.MapOfN(rapid.Int64(), rapid.Int(), 0, 10)
				m := rapid.MapOfN(rapid.StringMatching(`[a-z]{1,4}`), inner, 2, 10).Draw(t, "m")
				checkSameBytes(t, c.codec, m, rebuild(t, m))
			}))
			t.Run("StructWithMaps", rapid.MakeCheck(func(t *rapid.T) {
				s := sampleValue()
				s.Scores = rapid.MapOfN(rapid.String(), rapid.Int(), 2, 30).Draw(t, "scores")
				s2 := s
				s2.Scores = rebuild(t, s.Scores)
				checkSameBytes(t, c.codec, s, s2)
			}))
			t.Run("AnyTree", rapid.MakeCheck(func(t *rapid.T) {
				m := anyMap(t, 3)
				checkSameBytes(t, c.codec, m, rebuild(t, m))
			}))
		})
	}
}

// checkSameBytes encodes a ten times and b once; all must be equal.
func checkSameBytes(t *rapid.T, c codec.Codec, a, b any) {
	want, err := c.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		got, err := c.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoding %d differs:\n% x\n% x", i, got, want)
		}
	}
	got, err := c.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("rebuilt map encodes differently:\n% x\n% x", got, want)
	}
}

// rebuild copies m by inserting its keys in a drawn order, into a map that
// starts small so it grows through different layouts.
func rebuild[K cmp.Ordered, V any](t *rapid.T, m map[K]V) map[K]V {
	keys := slices.Sorted(maps.Keys(m)) // sorted first so rapid can replay the draw
	order := rapid.Permutation(keys).Draw(t, "order")
	out := make(map[K]V)
	for _, k := range order {
		out[k] = m[k]
	}
	return out
}

func ownerGen() *rapid.Generator[Owner] {
	return rapid.Custom(func(t *rapid.T) Owner {
		return Owner{Name: rapid.String().Draw(t, "name"), Level: rapid.Int32().Draw(t, "level")}
	})
}

// anyMap draws a map[string]any whose values are scalars, slices and nested
// maps, the shape of free-form metadata.
func anyMap(t *rapid.T, depth int) map[string]any {
	n := rapid.IntRange(2, 8).Draw(t, "n")
	m := make(map[string]any, n)
	for range n {
		m[rapid.StringMatching(`[a-z]{1,6}`).Draw(t, "key")] = anyValue(t, depth-1)
	}
	return m
}

func anyValue(t *rapid.T, depth int) any {
	kinds := 4
	if depth > 0 {
		kinds = 6
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "kind") {
	case 0:
		return rapid.String().Draw(t, "s")
	case 1:
		return rapid.Int64().Draw(t, "i")
	case 2:
		return rapid.Bool().Draw(t, "b")
	case 3:
		return nil
	case 4:
		return []any{anyValue(t, depth-1), anyValue(t, depth-1)}
	default:
		return anyMap(t, depth)
	}
}
