package codec_test

import (
	"testing"

	"github.com/redisallocator/redisallocator/codec"
)

// BenchmarkCodec measures one encode plus one decode per op and reports the
// encoded size as B/value.
//
//	go test -run '^$' -bench Codec -benchtime 1s -count 3 ./codec
func BenchmarkCodec(b *testing.B) {
	for _, c := range codecs {
		b.Run(c.codec.Name()+"/small", func(b *testing.B) { benchRoundTrip(b, c.codec, smallValue()) })
		b.Run(c.codec.Name()+"/large", func(b *testing.B) { benchRoundTrip(b, c.codec, largeValue()) })
	}
}

func benchRoundTrip[T any](b *testing.B, c codec.Codec, v T) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		data, err := c.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decode[T](c, data); err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "B/value")
}

// BenchmarkCompressed is BenchmarkCodec through [codec.Compressed] with the
// default threshold: the small value stays plain, the large one is
// compressed. Compare B/value with BenchmarkCodec for the saving.
//
//	go test -run '^$' -bench 'Codec|Compressed' -benchtime 1s -count 3 ./codec
func BenchmarkCompressed(b *testing.B) {
	for _, c := range codecs {
		z, err := codec.Compressed(c.codec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.codec.Name()+"/small", func(b *testing.B) { benchRoundTrip(b, z, smallValue()) })
		b.Run(c.codec.Name()+"/large", func(b *testing.B) { benchRoundTrip(b, z, largeValue()) })
	}
}
