package codec_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/redisallocator/redisallocator/codec"
)

// Run "go test ./codec -run 'TestGolden|TestFuzzSeeds' -update" after a
// deliberate wire change. Data already in Redis must stay readable, so a
// golden diff is a compatibility break, not a test to re-bless casually.
var update = flag.Bool("update", false, "rewrite golden files and fuzz seeds under testdata/")

func goldenPath(c codec.Codec) string {
	return filepath.Join("testdata", "sample."+c.Name())
}

// checkGolden rewrites path with got under -update, then fails the test
// unless got equals the file's bytes, which it returns for decoding.
func checkGolden(t *testing.T, path string, got []byte) []byte {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal output differs from %s:\n got % x\nwant % x", path, got, want)
	}
	return want
}

// TestGolden pins each codec's wire bytes for Sample and checks that the
// pinned bytes still decode to the same value.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := goldenPath(c.codec)
			want := checkGolden(t, path, mustMarshal(t, c.codec, sampleValue()))
			decoded, err := decode[Sample](c.codec, want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sampleValue(), decoded, cmpOpts); diff != "" {
				t.Errorf("decoding %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// fuzzSeeds are the hand-made inputs committed for each fuzz target, next
// to the golden bytes: length claims, deep nesting, odd but valid encodings.
var fuzzSeeds = map[string]map[string][]byte{
	"FuzzUnmarshalJSON": {
		"deep-arrays":     []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)),
		"deep-objects":    []byte(strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)),
		"brackets-string": []byte(`{"id":"[[[{{{,,,\"]]]","tags":["]","[",","]}`),
		"bad-surrogate":   []byte(`{"name":"\ud800\udc00\ud800x"}`),
		"huge-number":     []byte(`{"count":1e400}`),
		"offset-time":     []byte(`{"created":"2024-01-02T05:34:05.123456789+02:30"}`),
		"null":            []byte(`null`),
		"duplicate-keys":  []byte(`{"id":"a","id":"b","ID":"c"}`),
		"int-map":         []byte(`{"scores":{"a":1,"b":-2},"payload":"AAEC"}`),
	},
	"FuzzUnmarshalMsgPack": {
		"array-claim":    claim(0xdd, 1<<31-1),
		"map-claim":      claim(0xdf, 1<<31-1),
		"nested-claim":   append([]byte{0x81, 0xa4, 't', 'a', 'g', 's'}, claim(0xdd, 100_000)...),
		"str-claim":      claim(0xdb, 1<<31-1),
		"ext-claim":      claim(0xc9, 1<<31-1, 0xff),
		"deep":           nested(0x91, 0xc0, 100),
		"deep-maps":      deepMsgpackMaps(100),
		"trailing":       {0x80, 0xc0},
		"unknown-ext":    {0xd4, 0x05, 0x00},
		"bad-time-ext":   {0xc7, 0x03, 0xff, 0, 0, 0},
		"time-ext-96":    {0xc7, 0x0c, 0xff, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"int-key-map":    {0x82, 0x01, 0xa1, 'a', 0x02, 0xa1, 'b'},
		"array-key-map":  {0x81, 0x91, 0x01, 0x01},
		"never-used":     {0xc1},
		"ts-spells-map":  {0xd7, 0xff, 0x81, 0xa1, 'x', 0xdd, 0x7f, 0xff, 0xff, 0xff},
		"struct-as-list": {0x93, 0xa1, 'x', 0x01, 0xc3},
	},
	"FuzzUnmarshalCBOR": {
		"array-claim":     claim(0x9a, 1<<31-1),
		"map-claim":       claim(0xba, 1<<31-1),
		"bytes-claim":     claim(0x5a, 1<<31-1),
		"deep":            nested(0x81, 0xf6, 100),
		"deep-indefinite": nested(0x9f, 0xf6, 100),
		"epoch-float":     {0xc1, 0xfb, 0x41, 0xd9, 0x65, 0x93, 0x5d, 0x26, 0x66, 0x66},
		"offset-time":     append([]byte{0xc0, 0x78, 27}, "2024-01-01T22:04:05.6-05:00"...),
		"bignum":          {0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0},
		"undefined":       {0xf7},
		"duplicate-keys":  {0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02},
		"invalid-utf8":    {0x62, 0xff, 0xfe},
		"int-key-map":     {0xa2, 0x01, 0x61, 'a', 0x02, 0x61, 'b'},
	},
}

// TestFuzzSeeds keeps testdata/fuzz in step with the golden files and the
// seeds above; -update rewrites them. Files found by the fuzzer (crashers
// kept as regressions) are left alone.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	targets := map[string]codec.Codec{
		"FuzzUnmarshalJSON": codec.JSON, "FuzzUnmarshalMsgPack": codec.MsgPack, "FuzzUnmarshalCBOR": codec.CBOR,
	}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			golden, err := os.ReadFile(goldenPath(targets[name]))
			if err != nil {
				t.Fatal(err)
			}
			seeds := map[string][]byte{"golden": golden}
			for k, v := range fuzzSeeds[name] {
				seeds[k] = v
			}
			dir := filepath.Join("testdata", "fuzz", name)
			for seed, data := range seeds {
				path := filepath.Join(dir, seed)
				want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
				if *update {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, want, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s is stale (run with -update)", path)
				}
			}
		})
	}
}
