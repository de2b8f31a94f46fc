package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/redisallocator/redisallocator/codec"
)

// marker is the compressed-value marker, as documented in compressed.go.
var marker = []byte{0xc1, 0x1c}

// Defaults of Compressed's options, as documented at WithThreshold and
// WithMaxDecompressedSize.
const (
	defaultCompressThreshold   = 1 << 10
	defaultMaxDecompressedSize = 8 << 20
)

func mustCompressed(t testing.TB, inner codec.Codec, opts ...codec.CompressOption) codec.Codec {
	t.Helper()
	c, err := codec.Compressed(inner, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// compressedCodecs wraps each built-in codec with the default options.
var compressedCodecs = func() []struct {
	name  string
	codec codec.Codec
} {
	out := make([]struct {
		name  string
		codec codec.Codec
	}, 0, len(codecs))
	for _, c := range codecs {
		z, err := codec.Compressed(c.codec)
		if err != nil {
			panic(err)
		}
		out = append(out, struct {
			name  string
			codec codec.Codec
		}{c.name, z})
	}
	return out
}()

func TestCompressedName(t *testing.T) {
	t.Parallel()
	for _, c := range compressedCodecs {
		if want := "zstd+" + strings.ToLower(c.name); c.codec.Name() != want {
			t.Errorf("Name() = %q, want %q", c.codec.Name(), want)
		}
	}
}

func TestCompressedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range compressedCodecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			large := largeValue()
			data := mustMarshal(t, c.codec, large)
			if !bytes.HasPrefix(data, marker) {
				t.Fatalf("large value (%d bytes) is not compressed", len(data))
			}
			got, err := decode[Large](c.codec, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(large, got, cmpOpts); diff != "" {
				t.Fatalf("large round trip (-want +got):\n%s", diff)
			}

			sample := sampleValue()
			gotSample, err := decode[Sample](c.codec, mustMarshal(t, c.codec, sample))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sample, gotSample, cmpOpts); diff != "" {
				t.Fatalf("sample round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompressedThreshold checks that values below the threshold are stored
// exactly as the inner codec writes them, and values at it are compressed.
func TestCompressedThreshold(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			small := smallValue()
			plain := mustMarshal(t, c.codec, small)
			if got := mustMarshal(t, mustCompressed(t, c.codec), small); !bytes.Equal(got, plain) {
				t.Errorf("small value with default threshold:\n got % x\nwant % x", got, plain)
			}

			// The default threshold is the documented 1 KiB: a compressible
			// value of exactly that size is compressed, one byte shorter not.
			atDefault := valueOfSize(t, c.codec, defaultCompressThreshold)
			if got := mustMarshal(t, mustCompressed(t, c.codec), atDefault); !bytes.HasPrefix(got, marker) {
				t.Errorf("value of %d bytes with the default threshold: not compressed", defaultCompressThreshold)
			}
			belowDefault := valueOfSize(t, c.codec, defaultCompressThreshold-1)
			if got := mustMarshal(t, mustCompressed(t, c.codec), belowDefault); bytes.HasPrefix(got, marker) {
				t.Errorf("value of %d bytes with the default threshold: compressed", defaultCompressThreshold-1)
			}

			// A compressible value exactly at and one byte below the threshold.
			v := strings.Repeat("a", 2000)
			n := len(mustMarshal(t, c.codec, v))
			at := mustMarshal(t, mustCompressed(t, c.codec, codec.WithThreshold(n)), v)
			if !bytes.HasPrefix(at, marker) || len(at) >= n {
				t.Errorf("value of %d bytes at threshold %d: not compressed (%d bytes)", n, n, len(at))
			}
			below := mustMarshal(t, mustCompressed(t, c.codec, codec.WithThreshold(n+1)), v)
			if bytes.HasPrefix(below, marker) || len(below) != n {
				t.Errorf("value of %d bytes below threshold %d: compressed", n, n+1)
			}
		})
	}
}

// valueOfSize returns a compressible string whose encoding by c is exactly
// n bytes long.
func valueOfSize(t *testing.T, c codec.Codec, n int) string {
	t.Helper()
	for l := n; l > 0; l-- {
		v := strings.Repeat("a", l)
		if len(mustMarshal(t, c, v)) == n {
			return v
		}
	}
	t.Fatalf("%s: no string encodes to %d bytes", c.Name(), n)
	return ""
}

// TestCompressedIncompressible checks that data zstd cannot shrink is
// stored plain rather than grown.
func TestCompressedIncompressible(t *testing.T) {
	t.Parallel()
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919>>3) ^ byte(i*104729>>11) ^ byte(i>>5*31)
	}
	// A zstd frame is close enough to random for this purpose.
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	random = enc.EncodeAll(bytes.Repeat(random, 50), nil)
	c := mustCompressed(t, codec.CBOR, codec.WithThreshold(1))
	data := mustMarshal(t, c, random)
	if plain := mustMarshal(t, codec.CBOR, random); !bytes.Equal(data, plain) {
		t.Fatalf("incompressible value: got %d bytes (marker %v), want the %d plain bytes", len(data), bytes.HasPrefix(data, marker), len(plain))
	}
	got, err := decode[[]byte](c, data)
	if err != nil || !bytes.Equal(got, random) {
		t.Fatalf("Decode = %d bytes, %v", len(got), err)
	}
}

// TestCompressedReadsPlain checks that values stored by the inner codec
// alone, before the wrapper was introduced, still decode: the golden files
// of every inner codec.
func TestCompressedReadsPlain(t *testing.T) {
	t.Parallel()
	for i, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			old, err := os.ReadFile(goldenPath(c.codec))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode[Sample](compressedCodecs[i].codec, old)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sampleValue(), got, cmpOpts); diff != "" {
				t.Fatalf("decoding %s (-want +got):\n%s", goldenPath(c.codec), diff)
			}
			// Large old values too (above the threshold, yet plain).
			large := largeValue()
			gotLarge, err := decode[Large](compressedCodecs[i].codec, mustMarshal(t, c.codec, large))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(large, gotLarge, cmpOpts); diff != "" {
				t.Fatalf("plain large value (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompressedMarkerIsNotInnerData proves that no value written by a
// built-in codec starts with the marker, so plain old data is never taken
// for compressed data: by the first-byte rules of each format, and by
// asking each library.
func TestCompressedMarkerIsNotInnerData(t *testing.T) {
	t.Parallel()
	suffixes := make([][]byte, 0, 257)
	suffixes = append(suffixes, nil)
	for b := range 256 {
		suffixes = append(suffixes, []byte{byte(b), '0', 0x00})
	}

	t.Run("JSON", func(t *testing.T) {
		t.Parallel()
		// RFC 8259: JSON-text = ws value ws. The first byte is whitespace
		// or begins a value.
		first := []byte(" \t\n\r{[\"-0123456789tfn")
		if bytes.IndexByte(first, marker[0]) >= 0 {
			t.Fatalf("marker byte %#x can start JSON text", marker[0])
		}
		for _, s := range suffixes {
			data := append(bytes.Clone(marker), s...)
			if json.Valid(data) {
				t.Errorf("% x is valid JSON", data)
			}
			var v any
			if err := codec.JSON.Unmarshal(data, &v); err == nil {
				t.Errorf("codec.JSON decodes % x", data)
			}
		}
	})

	t.Run("MsgPack", func(t *testing.T) {
		t.Parallel()
		// The MessagePack spec gives every first byte a type except 0xc1,
		// "never used".
		if marker[0] != 0xc1 {
			t.Fatalf("marker byte %#x is a MessagePack type code", marker[0])
		}
		for _, s := range suffixes {
			data := append(bytes.Clone(marker), s...)
			var v any
			if err := msgpack.Unmarshal(data, &v); err == nil {
				t.Errorf("msgpack decodes % x", data)
			}
			if err := codec.MsgPack.Unmarshal(data, &v); err == nil {
				t.Errorf("codec.MsgPack decodes % x", data)
			}
		}
	})

	t.Run("CBOR", func(t *testing.T) {
		t.Parallel()
		// RFC 8949: 0xc1 is tag 1 (major type 6, argument 1), which must
		// be followed by a data item; 0x1c has major type 0 with additional
		// information 28, reserved, so no well-formed item starts with it.
		if marker[0]>>5 != 6 || marker[1]>>5 != 0 || marker[1]&0x1f != 28 {
			t.Fatalf("marker % x is not tag + reserved head", marker)
		}
		for _, s := range suffixes {
			data := append(bytes.Clone(marker), s...)
			if err := cbor.Wellformed(data); err == nil {
				t.Errorf("% x is well-formed CBOR", data)
			}
			var v any
			if err := codec.CBOR.Unmarshal(data, &v); err == nil {
				t.Errorf("codec.CBOR decodes % x", data)
			}
		}
	})

	t.Run("Encoded", func(t *testing.T) {
		t.Parallel()
		values := []any{
			nil, 0, -1, 1.5, true, "", "\xc1\x1c", time.Unix(1, 0),
			sampleValue(), smallValue(), largeValue(),
			[]byte{0xc1, 0x1c},
			map[string]any{},
			[]any{},
			Sample{},
			&Owner{},
		}
		for _, c := range codecs {
			for _, v := range values {
				if data := mustMarshal(t, c.codec, v); bytes.HasPrefix(data, marker) {
					t.Errorf("%s encodes %#v as % x", c.name, v, data)
				}
			}
		}
	})
}

// markerCodec is a user codec whose output starts with the marker.
type markerCodec struct{}

func (markerCodec) Name() string { return "marker" }

func (markerCodec) Marshal(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%w: want a string", codec.ErrEncode)
	}
	return append(bytes.Clone(marker), s...), nil
}

func (markerCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*string)
	if !ok || !bytes.HasPrefix(data, marker) {
		return fmt.Errorf("%w: want *string and the marker", codec.ErrDecode)
	}
	*p = string(data[len(marker):])
	return nil
}

// TestCompressedUserCodec checks that any inner codec works, including one
// whose short output looks compressed: such values are compressed anyway.
func TestCompressedUserCodec(t *testing.T) {
	t.Parallel()
	c := mustCompressed(t, markerCodec{})
	if c.Name() != "zstd+marker" {
		t.Errorf("Name() = %q", c.Name())
	}
	for _, in := range []string{"", "x", strings.Repeat("long ", 1000)} {
		data := mustMarshal(t, c, in)
		got, err := decode[string](c, data)
		if err != nil || got != in {
			t.Errorf("round trip of %d bytes: %d bytes, %v", len(in), len(got), err)
		}
	}
	if _, err := c.Marshal(1); !errors.Is(err, codec.ErrEncode) {
		t.Errorf("inner Marshal error = %v, want ErrEncode", err)
	}
}

// bomb returns marker + a zstd frame that inflates to n zero bytes: with
// the size in its header (as EncodeAll writes) or without (as a stream),
// then with a window of window bytes (0: the encoder's default, 8 MiB).
func bomb(t testing.TB, n int, withSize bool, window int) []byte {
	t.Helper()
	zeros := make([]byte, n)
	out := bytes.Clone(marker)
	if withSize {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(zeros, out)
	}
	buf := bytes.NewBuffer(out)
	opts := []zstd.EOption{zstd.WithEncoderConcurrency(1)}
	if window > 0 {
		opts = append(opts, zstd.WithWindowSize(window))
	}
	enc, err := zstd.NewWriter(buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(zeros); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressedBomb checks that a tiny payload inflating beyond the limit
// fails with ErrDecode and ErrLimitExceeded, fast and without allocating
// the inflated size. It is not parallel, so the allocation count is its own.
func TestCompressedBomb(t *testing.T) {
	const small = 1 << 20
	for _, tt := range []struct {
		name     string
		limit    int
		inflated int
		withSize bool
		window   int
		maxAlloc uint64
		wantMsg  string
	}{
		// The header declares the size: refused before inflating.
		{"SizeInHeader", defaultMaxDecompressedSize, 64 << 20, true, 0, 64 << 10, "decompressed size exceeds limit 8388608"},
		// A stream whose window (8 MiB) is above the limit: refused at the header.
		{"LargeWindow", small, 64 << 20, false, 0, 64 << 10, "zstd window exceeds decompressed size limit 1048576"},
		// A stream with a 1 KiB window (and so 1 KiB blocks, hence the
		// smaller bomb): inflated up to the limit, then refused.
		{"SmallWindow", small, 16 << 20, false, 1 << 10, 8 * small, "decompressed size exceeds limit 1048576"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCompressed(t, codec.CBOR, codec.WithMaxDecompressedSize(tt.limit))
			data := bomb(t, tt.inflated, tt.withSize, tt.window)
			if len(data) > tt.inflated/64 {
				t.Fatalf("bomb is %d bytes", len(data))
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			start := time.Now()
			var v []byte
			err := c.Unmarshal(data, &v)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&ms)
			allocated := ms.TotalAlloc - before
			if !errors.Is(err, codec.ErrDecode) || !errors.Is(err, codec.ErrLimitExceeded) {
				t.Fatalf("Unmarshal(%d-byte bomb) error = %v, want ErrDecode and ErrLimitExceeded", len(data), err)
			}
			if want := "codec: zstd+cbor: decode failed: " + tt.wantMsg; err.Error() != want {
				t.Errorf("error text %q, want %q", err, want)
			}
			if allocated > tt.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", allocated, tt.maxAlloc)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v", elapsed)
			}
			t.Logf("%d-byte bomb of %d MiB: %d bytes allocated, %v", len(data), tt.inflated>>20, allocated, elapsed)
		})
	}

	// A payload just within the limit still inflates (and then fails in
	// CBOR, since zeros are not one CBOR value, but not on the limit).
	c := mustCompressed(t, codec.CBOR, codec.WithMaxDecompressedSize(small))
	var v []byte
	if err := c.Unmarshal(bomb(t, small, true, 0), &v); errors.Is(err, codec.ErrLimitExceeded) {
		t.Fatalf("payload of exactly the limit: %v", err)
	}
}

// TestCompressedBadInput feeds malformed compressed values: each fails with
// an error wrapping ErrDecode, never a panic.
func TestCompressedBadInput(t *testing.T) {
	t.Parallel()
	c := compressedCodecs[2].codec // zstd+cbor
	good := mustMarshal(t, c, largeValue())
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	tests := []struct {
		name      string
		data      []byte
		wantLimit bool
	}{
		{"MarkerOnly", bytes.Clone(marker), false},
		{"Truncated", good[:len(good)/2], false},
		{"TruncatedHeader", good[:len(marker)+3], false},
		{"Corrupt", flipped, false},
		{"NotZstd", append(bytes.Clone(marker), "hello, world"...), false},
		{"TooLong", append(bytes.Clone(marker), make([]byte, defaultMaxDecompressedSize*2)...), true},
		{"Empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decode[Large](c, tt.data)
			if !errors.Is(err, codec.ErrDecode) {
				t.Fatalf("error = %v, want ErrDecode", err)
			}
			if errors.Is(err, codec.ErrLimitExceeded) != tt.wantLimit {
				t.Errorf("error = %v, ErrLimitExceeded = %v, want %v", err, !tt.wantLimit, tt.wantLimit)
			}
			if strings.Contains(err.Error(), "recovered panic") {
				t.Fatal(err)
			}
		})
	}

	// Bad targets fail before any inflating.
	for _, target := range []any{nil, Large{}, (*Large)(nil)} {
		if err := c.Unmarshal(good, target); !errors.Is(err, codec.ErrDecode) {
			t.Errorf("Unmarshal into %T: %v, want ErrDecode", target, err)
		}
	}
}

// TestCompressedMarshalLimit checks that Marshal refuses an inner encoding
// larger than the decompressed limit, which Unmarshal would refuse.
func TestCompressedMarshalLimit(t *testing.T) {
	t.Parallel()
	c := mustCompressed(t, codec.CBOR, codec.WithMaxDecompressedSize(4096))
	_, err := c.Marshal(strings.Repeat("a", 5000))
	if !errors.Is(err, codec.ErrEncode) || !errors.Is(err, codec.ErrLimitExceeded) {
		t.Fatalf("error = %v, want ErrEncode and ErrLimitExceeded", err)
	}
	if _, err := c.Marshal(strings.Repeat("a", 4000)); err != nil {
		t.Fatal(err)
	}
}

func TestCompressedOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		inner codec.Codec
		opts  []codec.CompressOption
		want  string // "" for success, else a substring of the error
	}{
		{"Defaults", codec.CBOR, nil, ""},
		{"NilOption", codec.CBOR, []codec.CompressOption{nil}, ""},
		{"ThresholdOne", codec.JSON, []codec.CompressOption{codec.WithThreshold(1)}, ""},
		{"MaxAtMinimum", codec.JSON, []codec.CompressOption{codec.WithMaxDecompressedSize(1024)}, ""},
		{"NilInner", nil, nil, "inner codec is nil"},
		{"NegativeThreshold", codec.CBOR, []codec.CompressOption{codec.WithThreshold(-1)}, "WithThreshold"},
		{"NegativeMax", codec.CBOR, []codec.CompressOption{codec.WithMaxDecompressedSize(-1)}, "WithMaxDecompressedSize"},
		{"TinyMax", codec.CBOR, []codec.CompressOption{codec.WithMaxDecompressedSize(1023)}, "WithMaxDecompressedSize"},
		{"HugeMax", codec.CBOR, []codec.CompressOption{codec.WithMaxDecompressedSize(math.MaxInt)}, "WithMaxDecompressedSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := codec.Compressed(tt.inner, tt.opts...)
			if tt.want == "" {
				if err != nil || c == nil {
					t.Fatalf("Compressed = %v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, codec.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want ErrInvalid naming %s", err, tt.want)
			}
		})
	}
}

// TestCompressedDeterministic pins the encoder settings: the bytes do not
// depend on how many EncodeAll calls may run at once, and a reference
// encoder with concurrency 1 and the pinned level writes the same frame.
func TestCompressedDeterministic(t *testing.T) {
	t.Parallel()
	ref, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range compressedCodecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := mustMarshal(t, c.codec, largeValue())
			inner := mustMarshal(t, innerOf(c.name), largeValue())
			if ref := append(bytes.Clone(marker), ref.EncodeAll(inner, nil)...); !bytes.Equal(ref, want) {
				t.Fatalf("reference encoder differs: %d vs %d bytes", len(ref), len(want))
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 20 {
						if got := mustMarshal(t, c.codec, largeValue()); !bytes.Equal(got, want) {
							t.Error("concurrent Marshal output differs")
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func innerOf(name string) codec.Codec {
	for _, c := range codecs {
		if c.name == name {
			return c.codec
		}
	}
	panic("bug: no codec " + name)
}

// TestCompressedConcurrentUse shares each wrapper across goroutines that
// encode and decode both forms; run with -race.
func TestCompressedConcurrentUse(t *testing.T) {
	t.Parallel()
	for _, c := range compressedCodecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 20 {
						if (g+i)%2 == 0 {
							v := largeValue()
							v.ID = fmt.Sprint(g, i)
							got, err := decode[Large](c.codec, mustMarshal(t, c.codec, v))
							if err != nil || got.ID != v.ID {
								t.Errorf("large: %q, %v", got.ID, err)
								return
							}
							continue
						}
						v := smallValue()
						got, err := decode[Small](c.codec, mustMarshal(t, c.codec, v))
						if err != nil || got.ID != v.ID {
							t.Errorf("small: %q, %v", got.ID, err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// compressedGoldenPath names the golden file of the large value compressed
// over inner, e.g. testdata/large.zstd+cbor.
func compressedGoldenPath(c codec.Codec) string {
	return filepath.Join("testdata", "large."+c.Name())
}

// TestCompressedGolden pins the compressed wire bytes of the large value
// for each inner codec, and checks that they still decode. A diff after a
// klauspost/compress upgrade is not a compatibility break (any zstd decoder
// reads the old frames, which this test also checks), but it must be
// looked at before re-blessing with -update.
func TestCompressedGolden(t *testing.T) {
	t.Parallel()
	for _, c := range compressedCodecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := compressedGoldenPath(c.codec)
			want := checkGolden(t, path, mustMarshal(t, c.codec, largeValue()))
			decoded, err := decode[Large](c.codec, want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(largeValue(), decoded, cmpOpts); diff != "" {
				t.Errorf("decoding %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// FuzzUnmarshalCompressed feeds arbitrary bytes to the zstd+cbor wrapper
// with the default limits, as FuzzUnmarshalCBOR does to CBOR: no panic,
// every error wraps ErrDecode, and what decodes survives a round trip.
// Seeds live in testdata/fuzz/FuzzUnmarshalCompressed/ (see
// TestCompressedFuzzSeeds).
func FuzzUnmarshalCompressed(f *testing.F) {
	c := compressedCodecs[2].codec
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip[Large](t, c, data)
		roundTrip[any](t, c, data)
		roundTrip[map[string]any](t, c, data)
	})
}

// compressedFuzzSeeds are the hand-made inputs of FuzzUnmarshalCompressed.
func compressedFuzzSeeds(t *testing.T) map[string][]byte {
	t.Helper()
	golden, err := os.ReadFile(compressedGoldenPath(compressedCodecs[2].codec))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile(goldenPath(codec.CBOR))
	if err != nil {
		t.Fatal(err)
	}
	small := mustMarshal(t, mustCompressed(t, codec.CBOR, codec.WithThreshold(1)), map[string]int{"a": 1})
	return map[string][]byte{
		"golden":         golden,
		"plain-cbor":     plain,
		"small":          small,
		"marker-only":    bytes.Clone(marker),
		"truncated":      golden[:len(golden)/2],
		"bad-checksum":   append(bytes.Clone(golden[:len(golden)-1]), golden[len(golden)-1]^0xff),
		"not-zstd":       append(bytes.Clone(marker), 0xa1, 0x61, 'a', 0x01),
		"bomb-size":      bomb(t, defaultMaxDecompressedSize+1, true, 0),
		"bomb-window":    bomb(t, 1<<20, false, 32<<20),
		"two-frames":     append(bytes.Clone(small), small[len(marker):]...),
		"skippable-only": append(bytes.Clone(marker), 0x50, 0x2a, 0x4d, 0x18, 0x01, 0, 0, 0, 0),
	}
}

// TestCompressedFuzzSeeds keeps testdata/fuzz/FuzzUnmarshalCompressed in
// step with the golden file and the seeds above; -update rewrites them.
func TestCompressedFuzzSeeds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshalCompressed")
	for seed, data := range compressedFuzzSeeds(t) {
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
		if strings.HasPrefix(seed, "bomb-") {
			var v any
			if err := compressedCodecs[2].codec.Unmarshal(data, &v); !errors.Is(err, codec.ErrLimitExceeded) {
				t.Errorf("seed %s: error = %v, want ErrLimitExceeded", seed, err)
			}
		}
	}
}
