package codec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/redisallocator/redisallocator/codec"
)

// The fuzz targets feed arbitrary bytes to Unmarshal. Decoding must never
// panic (a recovered panic counts as a failure here, since it means a
// library bug we should guard against explicitly), every error must wrap
// ErrDecode, and whatever decodes must survive Marshal then Unmarshal
// unchanged. Seeds live in testdata/fuzz/<FuzzName>/ (see TestFuzzSeeds).

func FuzzUnmarshalJSON(f *testing.F)    { fuzzUnmarshal(f, codec.JSON) }
func FuzzUnmarshalMsgPack(f *testing.F) { fuzzUnmarshal(f, codec.MsgPack) }
func FuzzUnmarshalCBOR(f *testing.F)    { fuzzUnmarshal(f, codec.CBOR) }

func fuzzUnmarshal(f *testing.F, c codec.Codec) {
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip[Sample](t, c, data)
		roundTrip[any](t, c, data)
		roundTrip[map[string]any](t, c, data)
	})
}

func roundTrip[T any](t *testing.T, c codec.Codec, data []byte) {
	t.Helper()
	v, err := decode[T](c, data)
	if err != nil {
		if !errors.Is(err, codec.ErrDecode) {
			t.Fatalf("Decode[%T] error %v does not wrap ErrDecode", v, err)
		}
		if strings.Contains(err.Error(), "recovered panic") {
			t.Fatalf("Decode[%T] panicked: %v", v, err)
		}
		return
	}
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("decoded %T %#v does not re-encode: %v", v, v, err)
	}
	again, err := decode[T](c, b)
	if err != nil {
		t.Fatalf("re-encoded %T does not decode: %v\n% x", v, err, b)
	}
	if !equalDecoded(v, again) {
		t.Fatalf("Decode(Encode(v)) != v for %T:\nfirst  %#v\nsecond %#v", v, v, again)
	}
}
