package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// newMsgPack returns a MessagePack codec (vmihailenco/msgpack/v5) with the
// given limits; zero fields take the defaults. It returns an error wrapping
// [ErrInvalid] if a field is out of range.
func newMsgPack(l Limits) (Codec, error) {
	l, err := l.withDefaults(1, 1)
	if err != nil {
		return nil, err
	}
	return &msgpackCodec{limits: l}, nil
}

type msgpackCodec struct {
	limits Limits
	// The library's encoders and decoders are cheap to reset and costly to
	// build; each pool entry is used by one goroutine at a time.
	encoders sync.Pool // *mpEncoder
	decoders sync.Pool // *mpDecoder
}

type mpEncoder struct {
	buf   bytes.Buffer
	enc   *msgpack.Encoder
	canon mpCanon
}

type mpDecoder struct {
	r   mpReader
	dec *msgpack.Decoder
}

// maxPooledBuffer keeps one huge value from pinning its buffer in the pool.
const maxPooledBuffer = 64 << 10

func (c *msgpackCodec) Name() string { return "msgpack" }

func (c *msgpackCodec) Marshal(v any) (out []byte, err error) {
	defer recoverAs(&err, "msgpack", ErrEncode)
	e, _ := c.encoders.Get().(*mpEncoder)
	if e == nil {
		e = &mpEncoder{enc: msgpack.NewEncoder(nil)}
	}
	e.buf.Reset()
	e.enc.Reset(&e.buf) // Reset also clears the options below
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	if err = e.enc.Encode(v); err == nil {
		// The copy into out doubles as the sort; e.buf is then free again.
		out, err = canonicalMsgpack(e.buf.Bytes(), c.limits, &e.canon)
	}
	if e.buf.Cap() <= maxPooledBuffer && cap(e.canon.scratch) <= maxPooledBuffer {
		c.encoders.Put(e)
	}
	if err != nil {
		return nil, encodeError("msgpack", err)
	}
	return out, nil
}

func (c *msgpackCodec) Unmarshal(data []byte, v any) (err error) {
	defer recoverAs(&err, "msgpack", ErrDecode)
	if err := checkTarget("msgpack", v); err != nil {
		return err
	}
	d, _ := c.decoders.Get().(*mpDecoder)
	if d == nil {
		d = &mpDecoder{dec: msgpack.NewDecoder(nil)}
	}
	d.r.reset(data)
	if err := checkMsgpack(data, c.limits, &d.r.fences); err != nil {
		d.r.reset(nil)
		c.decoders.Put(d)
		return decodeError("msgpack", err)
	}
	d.dec.Reset(&d.r) // mpReader is a ByteScanner, so no bufio copy
	d.dec.SetCustomStructTag("json")
	d.dec.UseLooseInterfaceDecoding(true)
	d.dec.SetMapDecoder(decodeAnyMap)
	err = d.dec.Decode(v)
	d.r.reset(nil) // do not pin the caller's bytes in the pool
	c.decoders.Put(d)
	if err != nil {
		return decodeError("msgpack", err)
	}
	// The library decodes timestamps with time.Unix, i.e. in time.Local, and
	// a positive integer in an interface as int64 or uint64 depending on the
	// wire code; normalize makes both predictable.
	if err := normalize(v, c.limits.MaxDepth, normalizeOptions{ints: true}); err != nil {
		return decodeError("msgpack", err)
	}
	return nil
}

// decodeAnyMap decodes a map held in an interface. The library's default
// insists on string keys, so a map[int]T read back into any would fail; this
// returns map[string]any when every key is a string and map[any]any otherwise.
// checkMsgpack has already bounded n by the input length and MaxElements.
func decodeAnyMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	strMap := make(map[string]any, n)
	var anyMap map[any]any
	for range n {
		k, err := d.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		v, err := d.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		if s, ok := k.(string); ok && anyMap == nil {
			strMap[s] = v
			continue
		}
		if anyMap == nil {
			anyMap = make(map[any]any, n)
			for ks, vs := range strMap {
				anyMap[ks] = vs
			}
		}
		// Arrays and maps decode to slices and maps, which would panic as keys.
		if k != nil && !reflect.ValueOf(k).Comparable() {
			return nil, fmt.Errorf("msgpack: map key of type %T cannot be a Go map key", k)
		}
		anyMap[k] = v
	}
	if anyMap != nil {
		return anyMap, nil
	}
	return strMap, nil
}
