package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/compress/zstd"
)

// Defaults of [Compressed]'s options.
const (
	// Encoded values shorter than 1 KiB are stored as they are: zstd's
	// frame overhead and CPU cost outweigh the saving on small values.
	defaultCompressThreshold   = 1 << 10
	defaultMaxDecompressedSize = defaultMaxSize
)

// compressedMarker opens every compressed value; the zstd frame (with its
// own magic number) follows it. No value of the built-in codecs can start
// with it: 0xc1 is not a valid first byte of JSON text (nor of UTF-8), it is
// the one byte MessagePack never uses, and in CBOR it is tag 1 whose content
// would start with 0x1c, whose additional information 28 is reserved, so the
// input is not well-formed. TestCompressedMarkerIsNotInnerData proves it.
var compressedMarker = []byte{0xc1, 0x1c}

// CompressOption configures [Compressed].
type CompressOption func(*compressConfig)

type compressConfig struct {
	threshold int
	maxSize   int
}

// WithThreshold sets the encoded size, in bytes, from which values are
// compressed; shorter ones are stored as the inner codec wrote them. Zero
// means the default, 1024 (1 KiB): below it zstd's frame overhead and CPU
// cost outweigh the saving. A negative value is an error. Use 1 to compress
// every value.
func WithThreshold(n int) CompressOption { return func(c *compressConfig) { c.threshold = n } }

// WithMaxDecompressedSize bounds, in bytes, what one compressed value may
// inflate to; a larger one fails as described at [Compressed]. Marshal
// refuses values whose inner encoding is larger, so nothing is written
// that could not be read back. Zero means the default, 8 MiB (8388608, the
// default [Limits.MaxSize]); a value below 1 KiB ([zstd.MinWindowSize]) or above math.MaxInt/2 is an
// error. Keep it at or above the inner codec's [Limits.MaxSize], which the
// inner codec still enforces.
func WithMaxDecompressedSize(n int) CompressOption { return func(c *compressConfig) { c.maxSize = n } }

// Compressed wraps inner so that encoded values of at least the threshold
// ([WithThreshold], default 1 KiB) are compressed with zstd and stored
// behind a two-byte marker; shorter ones are stored unchanged. Its Name is
// "zstd+" plus the inner codec's name, such as "zstd+cbor".
//
// Unmarshal reads both forms, so wrapping the codec of an existing pool or
// queue keeps the values already stored there readable, whatever inner
// codec wrote them (values of the built-in codecs never start with the
// marker). The reverse does not hold: once compressed values are stored,
// every reader needs the wrapper. A custom inner codec whose output might
// start with the bytes 0xc1 0x1c still round-trips (such values are always
// compressed), but data it stored before being wrapped could be misread.
//
// Unmarshal treats its input as untrusted: a value that would inflate
// beyond [WithMaxDecompressedSize] (default 8 MiB)
// fails with an error wrapping [ErrDecode] and [ErrLimitExceeded]. One
// whose zstd frame header declares its size (as ours do) or a window above
// the bound fails before inflating anything; one that declares neither is
// inflated until it passes the bound, allocating a few times the bound in
// all, never the size it would reach. A corrupt or truncated frame fails
// with an error wrapping [ErrDecode]. Errors of the inner codec are
// returned unchanged.
//
// The encoder settings are fixed (level SpeedDefault, with checksums), so
// the same value always compresses to the same bytes with the same
// library version. Compressed returns an error wrapping [ErrInvalid],
// naming the argument, for a nil inner codec or an out-of-range option.
// The result is safe for concurrent use; build it once and share it.
func Compressed(inner Codec, opts ...CompressOption) (Codec, error) {
	if inner == nil {
		return nil, fmt.Errorf("%w: inner codec is nil", ErrInvalid)
	}
	cfg := compressConfig{}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.threshold == 0 {
		cfg.threshold = defaultCompressThreshold
	}
	if cfg.maxSize == 0 {
		cfg.maxSize = defaultMaxDecompressedSize
	}
	switch {
	case cfg.threshold < 0:
		return nil, fmt.Errorf("%w: WithThreshold %d is negative", ErrInvalid, cfg.threshold)
	case cfg.maxSize < zstd.MinWindowSize || cfg.maxSize > math.MaxInt/2:
		return nil, fmt.Errorf("%w: WithMaxDecompressedSize %d is outside [%d, %d]", ErrInvalid, cfg.maxSize, zstd.MinWindowSize, math.MaxInt/2)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(true),
		// EncodeAll compresses each value in one goroutine whatever this
		// says; it only sets how many calls may run at once.
		zstd.WithEncoderConcurrency(0),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd encoder: %w", ErrInvalid, err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(cfg.maxSize)),
		zstd.WithDecoderMaxWindow(uint64(cfg.maxSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd decoder: %w", ErrInvalid, err)
	}
	return &compressedCodec{
		name:  "zstd+" + inner.Name(),
		inner: inner,
		cfg:   cfg,
		enc:   enc,
		dec:   dec,
	}, nil
}

// compressedCodec never closes enc or dec: used only through EncodeAll and
// DecodeAll they start no goroutines and hold nothing but memory.
type compressedCodec struct {
	name  string
	inner Codec
	cfg   compressConfig
	enc   *zstd.Encoder
	dec   *zstd.Decoder
}

func (c *compressedCodec) Name() string { return c.name }

func (c *compressedCodec) Marshal(v any) (out []byte, err error) {
	defer recoverAs(&err, c.name, ErrEncode)
	plain, err := c.inner.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(plain) > c.cfg.maxSize {
		return nil, encodeError(c.name, sizeLimit(len(plain), c.cfg.maxSize))
	}
	looksCompressed := bytes.HasPrefix(plain, compressedMarker)
	if len(plain) < c.cfg.threshold && !looksCompressed {
		return plain, nil
	}
	out = make([]byte, len(compressedMarker), len(compressedMarker)+len(plain)/2+64)
	copy(out, compressedMarker)
	out = c.enc.EncodeAll(plain, out)
	// Incompressible data (already compressed, random) stays plain, unless
	// it would then be taken for a compressed value.
	if len(out) >= len(plain) && !looksCompressed {
		return plain, nil
	}
	return out, nil
}

func (c *compressedCodec) Unmarshal(data []byte, v any) (err error) {
	defer recoverAs(&err, c.name, ErrDecode)
	if !bytes.HasPrefix(data, compressedMarker) {
		return c.inner.Unmarshal(data, v)
	}
	if err := checkTarget(c.name, v); err != nil {
		return err
	}
	// Marshal stores a compressed value only when it is shorter than the
	// inner encoding, which is at most maxSize, or when the inner encoding
	// starts with the marker; zstd adds under 1% to incompressible input.
	if limit := c.cfg.maxSize + c.cfg.maxSize>>7 + 1<<10; len(data) > limit {
		return decodeError(c.name, sizeLimit(len(data), limit))
	}
	if len(data) == len(compressedMarker) {
		return decodeError(c.name, errors.New("no zstd frame after the compression marker"))
	}
	plain, err := c.dec.DecodeAll(data[len(compressedMarker):], nil)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return decodeError(c.name, &limitError{
			msg:   fmt.Sprintf("decompressed size exceeds limit %d", c.cfg.maxSize),
			cause: err,
		})
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		// Our encoder's frames declare their size, so their window never
		// exceeds it; a larger window means a larger value.
		return decodeError(c.name, &limitError{
			msg:   fmt.Sprintf("zstd window exceeds decompressed size limit %d", c.cfg.maxSize),
			cause: err,
		})
	case err != nil:
		return decodeError(c.name, fmt.Errorf("zstd: %w", err))
	}
	return c.inner.Unmarshal(plain, v)
}
