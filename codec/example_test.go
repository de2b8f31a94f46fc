package codec_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redisallocator/redisallocator/codec"
)

// Proxy is what a pool might hand out. Only json tags: every codec uses them.
type Proxy struct {
	Addr    string    `json:"addr"`
	Region  string    `json:"region"`
	Weight  int       `json:"weight"`
	Expires time.Time `json:"expires"`
}

func ExampleDecode() {
	in := Proxy{
		Addr:    "10.0.0.7:3128",
		Region:  "eu-west",
		Weight:  3,
		Expires: time.Date(2025, 6, 1, 12, 0, 0, 500, time.FixedZone("CEST", 2*3600)),
	}
	data, err := codec.MsgPack.Marshal(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out Proxy
	if err := codec.MsgPack.Unmarshal(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.Addr, out.Region, out.Weight)
	fmt.Println(out.Expires, out.Expires.Equal(in.Expires))
	// Output:
	// 10.0.0.7:3128 eu-west 3
	// 2025-06-01 10:00:00.0000005 +0000 UTC true
}

func ExampleNew() {
	// The codec name is stored next to the data, so a reader can pick the
	// codec the writer used.
	c, err := codec.New("cbor", codec.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := c.Marshal(map[string]int{"b": 2, "a": 1})
	fmt.Printf("%s: % x\n", c.Name(), data)

	_, err = codec.New("yaml", codec.Limits{})
	fmt.Println(errors.Is(err, codec.ErrInvalid))
	// Output:
	// cbor: a2 61 61 01 61 62 02
	// true
}

func ExampleNew_limits() {
	// A codec for small queue payloads: anything over 1 KiB is refused,
	// on both Marshal and Unmarshal.
	small, err := codec.New("msgpack", codec.Limits{MaxSize: 1024})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = small.Marshal(make([]byte, 2048))
	fmt.Println(errors.Is(err, codec.ErrEncode), errors.Is(err, codec.ErrLimitExceeded))

	// Five bytes claiming a 2^31-element array fail without allocating it.
	var v []Proxy
	err = small.Unmarshal([]byte{0xdd, 0x7f, 0xff, 0xff, 0xff}, &v)
	fmt.Println(err)
	// Output:
	// true true
	// codec: msgpack: decode failed: 2147483647 elements in one array or map exceed limit 131072
}

// gzipCodec compresses another codec's output: worth it for large, repetitive
// task payloads. Any type with these three methods plugs in wherever a
// codec.Codec is taken.
type gzipCodec struct{ inner codec.Codec }

func (g gzipCodec) Name() string { return g.inner.Name() + "+gzip" }

func (g gzipCodec) Marshal(v any) ([]byte, error) {
	raw, err := g.inner.Marshal(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", codec.ErrEncode, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", codec.ErrEncode, err)
	}
	return buf.Bytes(), nil
}

func (g gzipCodec) Unmarshal(data []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %w", codec.ErrDecode, err)
	}
	// Bound the inflated size too: a zip bomb is the compressed cousin of
	// a huge length prefix.
	raw, err := io.ReadAll(io.LimitReader(zr, 8<<20+1))
	if err != nil {
		return fmt.Errorf("%w: %w", codec.ErrDecode, err)
	}
	return g.inner.Unmarshal(raw, v)
}

func Example_customCodec() {
	var c codec.Codec = gzipCodec{inner: codec.JSON}
	in := Proxy{Addr: "10.0.0.8:3128", Region: "us-east", Weight: 1}
	data, err := c.Marshal(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out Proxy
	if err := c.Unmarshal(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Name(), out.Addr, out.Region)

	err = c.Unmarshal([]byte("not gzip"), &out)
	fmt.Println(errors.Is(err, codec.ErrDecode))
	// Output:
	// json+gzip 10.0.0.8:3128 us-east
	// true
}

// Settings is a sizeable value, such as a configuration bundle kept per
// pool member.
type Settings struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

func ExampleCompressed() {
	// Values whose CBOR encoding reaches 1 KiB are compressed with zstd;
	// smaller ones are stored as plain CBOR. Use it as any codec, e.g.
	// pool.WithCodec(zc).
	zc, err := codec.Compressed(codec.CBOR)
	if err != nil {
		fmt.Println(err)
		return
	}
	in := Settings{Name: "eu-west"}
	for i := range 200 {
		in.Hosts = append(in.Hosts, fmt.Sprintf("proxy-%03d.eu-west.example.com:3128", i))
	}
	plain, _ := codec.CBOR.Marshal(in)
	data, err := zc.Marshal(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out Settings
	if err := zc.Unmarshal(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(zc.Name(), len(out.Hosts), out.Hosts[199])
	fmt.Println("smaller:", len(data) < len(plain)/4)

	// Values stored before compression was turned on still decode.
	old, _ := codec.CBOR.Marshal(Settings{Name: "old"})
	var older Settings
	fmt.Println(older, zc.Unmarshal(old, &older))

	// Eleven bytes claiming to inflate to 256 MiB fail at once: the
	// compression marker, then a zstd frame header declaring that size.
	bomb := []byte{0xc1, 0x1c, 0x28, 0xb5, 0x2f, 0xfd, 0xa4, 0x00, 0x00, 0x00, 0x10}
	err = zc.Unmarshal(bomb, &out)
	fmt.Println(errors.Is(err, codec.ErrDecode), errors.Is(err, codec.ErrLimitExceeded))
	fmt.Println(err)
	// Output:
	// zstd+cbor 200 proxy-199.eu-west.example.com:3128
	// smaller: true
	// {old []} <nil>
	// true true
	// codec: zstd+cbor: decode failed: decompressed size exceeds limit 8388608
}
