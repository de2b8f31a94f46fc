package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/pool"
)

// File formats and the codec name that bypasses encoding.
const (
	formatJSONL = "jsonl"
	formatCSV   = "csv"
	codecRaw    = "raw"
)

// Bounds of import.
const (
	defaultImportBatch = 1000
	// maxLineBytes bounds one JSON Lines record (or CSV record).
	maxLineBytes = 64 << 20
	// maxShownErrors caps the validation errors printed.
	maxShownErrors = 20
	// progressMin is the record count from which a terminal gets a
	// progress bar.
	progressMin = 1000
)

// fileFields are the fields of a record, in the order export writes them.
var fileFields = []string{"key", "priority", "expires_at", "ttl", "value", "value_base64"}

// transferOptions are the flags shared by import and export.
type transferOptions struct {
	cliTarget
	pool   string
	format string
	codec  string
}

// The pool's limits, as pool.Priority, pool.LeaseTTL and Admin.Import
// document them. The CLI checks them itself so that every bad line of the
// input is reported, by number, before anything is written;
// TestPoolLimits keeps them equal to the library's.
const (
	poolMinPriority = -2048
	poolMaxPriority = 2047
	poolMaxBatch    = 10000
	poolMaxTTL      = 1 << 41 * time.Millisecond
)

func (o *transferOptions) flags(fs *flag.FlagSet) {
	o.cliTarget.flags(fs)
	fs.StringVar(&o.pool, "pool", "", "the pool's `name` (required)")
	fs.StringVar(&o.format, "format", "", "jsonl or csv (default: from the file extension; jsonl for -)")
	fs.StringVar(&o.codec, "codec", "",
		"how the pool encodes values: json, msgpack, cbor, zstd+json, zstd+msgpack, zstd+cbor,\n"+
			"or raw (values as base64 of the stored bytes, for exact copies); default: the codec\n"+
			"the pool records (pool.Inspector.Codec), else cbor")
}

// poolCodec settles --codec against the codec the pool records: an empty
// --codec takes the recorded one (cbor when none is: pool.New's default);
// a --codec other than the recorded one is refused for import (the
// application could not decode what it wrote) and noted for export. raw
// goes with any.
func (o *transferOptions) poolCodec(ctx context.Context, e env, in *pool.Inspector, writing bool) (string, error) {
	recorded, err := in.Codec(ctx)
	if err != nil {
		return "", redisFailure(err)
	}
	switch {
	case o.codec == "" && recorded == "":
		return "cbor", nil
	case o.codec == "":
		return recorded, nil
	case recorded == "" || o.codec == recorded || o.codec == codecRaw:
		return o.codec, nil
	case writing:
		return "", usageErr("pool %s records codec %s, not --codec %s: the application could not decode the values (omit --codec, or pass --codec raw with value_base64)", o.pool, recorded, o.codec)
	}
	fmt.Fprintf(termSafe{e.stderr}, "redisalloc: note: pool %s records codec %s; decoding with --codec %s as asked\n", o.pool, recorded, o.codec)
	return o.codec, nil
}

// resolveFormat picks the file format from --format or the file name.
func resolveFormat(format, file string) (string, error) {
	switch format {
	case formatJSONL, formatCSV:
		return format, nil
	case "":
	default:
		return "", usageErr("--format must be jsonl or csv, got %q", format)
	}
	if file == "-" {
		return formatJSONL, nil
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".csv":
		return formatCSV, nil
	case ".jsonl", ".ndjson", ".json":
		return formatJSONL, nil
	}
	return "", usageErr("cannot tell the format of %q from its extension: pass --format jsonl or csv", file)
}

// resolveCodec returns the codec named by --codec; nil for raw.
func resolveCodec(name string) (codec.Codec, error) {
	if name == codecRaw {
		return nil, nil
	}
	inner, zstd := strings.CutPrefix(name, "zstd+")
	c, err := codec.New(inner, codec.Limits{})
	if err != nil {
		// codec.New lists its own names; say the full list once.
		return nil, usageErr("--codec: %w: unknown codec %q (want json, msgpack, cbor, zstd+<one of them> or raw)", codec.ErrInvalid, name)
	}
	if zstd {
		if c, err = codec.Compressed(c); err != nil {
			return nil, usageErr("--codec: %w", err)
		}
	}
	return c, nil
}

// --- import ---

type importOptions struct {
	transferOptions
	batch  int
	dryRun bool
}

func poolImportFlags(o *importOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("pool import", flag.ContinueOnError)
	o.flags(fs)
	fs.IntVar(&o.batch, "batch", defaultImportBatch, "members per atomic batch")
	fs.BoolVar(&o.dryRun, "dry-run", false, "validate FILE only; do not connect or write")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, `usage: redisalloc pool import FILE --pool NAME --prefix P [flags]

Adds members to a pool, or updates existing ones, from FILE (- for stdin):
JSON Lines, one object a line, or CSV with a header line. Fields:

  key           the member (required)
  priority      %d to %d (default 0)
  expires_at    RFC 3339 time the member leaves the pool, or
  ttl           a duration from now (90m, 24h); neither: no expiry
  value         any JSON value, encoded with --codec (CSV: JSON text)
  value_base64  the stored bytes themselves, written as they are

The whole input is validated first; any error (reported by line) means
nothing is imported. Members are then applied in atomic batches: a batch
Redis rejects leaves nothing of itself applied, and later batches are not
sent. Held members stay held. A terminal gets a progress bar.

Exit status: 0 imported, 1 a batch failed, 2 invalid input or flags, or a
Redis that cannot be reached.

flags:
`, poolMinPriority, poolMaxPriority)
		printFlags(fs)
	}
	return fs
}

var poolImportUsage = flagUsage(poolImportFlags)

var poolImportCommand = flagCommand(poolImportFlags, 1, runImport)

// importRecord is one parsed, valid record and the line it came from.
type importRecord struct {
	line int
	rec  pool.Record
	// expiresAt is the record's expires_at; its TTL is worked out again
	// against the server's clock when its batch is sent.
	expiresAt time.Time
}

// lineError is a validation error of one input line.
type lineError struct {
	line int
	msg  string
}

func runImport(ctx context.Context, e env, o importOptions, pos []string) error {
	if len(pos) != 1 {
		return usageErr("name the FILE to import (- for stdin)")
	}
	file := pos[0]
	if !o.dryRun {
		if err := o.check(e); err != nil {
			return err
		}
	}
	if err := poolName(o.pool); err != nil {
		return err
	}
	if o.batch < 1 || o.batch > poolMaxBatch {
		return usageErr("--batch must be between 1 and %d, got %d", poolMaxBatch, o.batch)
	}
	format, err := resolveFormat(o.format, file)
	if err != nil {
		return err
	}
	if o.codec != "" {
		if _, err := resolveCodec(o.codec); err != nil {
			return err // a bad --codec before anything else
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var (
		client rueidis.Client
		pl     *pool.Admin
	)
	codecName := cmp.Or(o.codec, "cbor")
	if !o.dryRun {
		// The pool's recorded codec encodes the values, so connect first.
		if client, err = o.connect(ctx); err != nil {
			return err
		}
		defer client.Close()
		if pl, err = pool.NewAdmin(client, o.prefix, o.pool); err != nil {
			return usageErr("%w", err)
		}
		if codecName, err = o.poolCodec(ctx, e, pl.Inspector, true); err != nil {
			return err
		}
	}
	cd, err := resolveCodec(codecName)
	if err != nil {
		return usageErr("pool %s records codec %q, which redisalloc does not know: %w (pass --codec raw with value_base64)", o.pool, codecName, err)
	}
	in, closeIn, err := openInput(e, file)
	if err != nil {
		return err
	}
	defer closeIn()

	p := recordParser{cd: cd, now: time.Now(), seen: map[string]int{}}
	if format == formatCSV {
		p.parseCSV(in)
	} else {
		p.parseJSONL(in)
	}
	if len(p.errs) > 0 {
		for _, le := range p.errs[:min(len(p.errs), maxShownErrors)] {
			fmt.Fprintf(e.stderr, "%s:%d: %s\n", file, le.line, le.msg)
		}
		if n := len(p.errs) - maxShownErrors; n > 0 {
			fmt.Fprintf(e.stderr, "... and %d more\n", n)
		}
		return usageErr("%d invalid record(s) in %s: nothing was imported", len(p.errs), file)
	}
	if o.dryRun {
		fmt.Fprintf(e.stdout, "%d record(s) valid; nothing imported (--dry-run)\n", len(p.recs))
		return nil
	}
	if len(p.recs) == 0 {
		fmt.Fprintln(e.stdout, "no records: nothing to import")
		return nil
	}

	skew, err := serverSkew(ctx, client)
	if err != nil {
		return redisFailure(err)
	}
	bar := newProgress(e, "importing", len(p.recs))
	added, batches := 0, 0
	for start := 0; start < len(p.recs); start += o.batch {
		chunk := p.recs[start:min(start+o.batch, len(p.recs))]
		recs := make([]pool.Record, len(chunk))
		serverNow := time.Now().Add(skew)
		for i, r := range chunk {
			recs[i] = r.rec
			if !r.expiresAt.IsZero() {
				// Already past by now: leave at once rather than never.
				recs[i].TTL = max(r.expiresAt.Sub(serverNow).Truncate(time.Millisecond), time.Millisecond)
			}
		}
		n, err := pl.Import(ctx, recs)
		if err != nil {
			bar.finish()
			applied := ""
			if start > 0 {
				applied = fmt.Sprintf("; the %d batch(es) before it (%d members, lines %d-%d) were applied",
					batches, start, p.recs[0].line, p.recs[start-1].line)
			}
			if !refused(err) {
				// The script may have run and its reply been lost (a
				// timeout, a dropped connection): say so, never "nothing".
				return &exitError{exitFail, fmt.Errorf("batch %d (lines %d-%d) failed: %w: it may or may not have been applied (check with redisalloc inspect pool %s; importing the same file again is safe), later batches were not sent%s",
					batches+1, chunk[0].line, chunk[len(chunk)-1].line, err, o.pool, applied)}
			}
			return &exitError{exitFail, fmt.Errorf("batch %d (lines %d-%d) rejected: %w: nothing of it or later batches was applied%s",
				batches+1, chunk[0].line, chunk[len(chunk)-1].line, err, applied)}
		}
		added += n
		batches++
		bar.add(len(chunk))
	}
	bar.finish()
	fmt.Fprintf(e.stdout, "imported %d member(s) into pool %s (%d new, %d updated) in %d batch(es)\n",
		len(p.recs), o.pool, added, len(p.recs)-added, batches)
	return nil
}

// refused reports whether err says Redis refused a batch before it wrote
// anything: the import script's own refusals (hostile state, invalid
// input, checked before its first write) and error replies, which Redis
// gives before a script runs (NOSCRIPT aside, retried by the runner) or
// for a script that stopped. Anything else (a timeout, a connection lost
// after the script was sent) leaves the outcome unknown.
func refused(err error) bool {
	var re *rueidis.RedisError
	return errors.Is(err, redisallocator.ErrCorrupt) || errors.Is(err, pool.ErrInvalid) || errors.As(err, &re)
}

// serverSkew returns how far the server's clock is ahead of ours, so that
// expires_at means the server's time, as in the exported file.
func serverSkew(ctx context.Context, c rueidis.Client) (time.Duration, error) {
	t0 := time.Now()
	ss, err := c.Do(ctx, c.B().Time().Build()).AsStrSlice()
	if err != nil {
		return 0, err
	}
	t1 := time.Now()
	if len(ss) != 2 {
		return 0, fmt.Errorf("TIME: unexpected reply %q", ss)
	}
	sec, err1 := strconv.ParseInt(ss[0], 10, 64)
	usec, err2 := strconv.ParseInt(ss[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("TIME: unexpected reply %q", ss)
	}
	mid := t0.Add(t1.Sub(t0) / 2)
	return time.Unix(sec, usec*1000).Sub(mid), nil
}

func openInput(e env, file string) (io.Reader, func(), error) {
	if file == "-" {
		if e.stdin == nil {
			return nil, nil, usageErr("no stdin to read")
		}
		return e.stdin, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, usageErr("%w", err)
	}
	return f, func() { _ = f.Close() }, nil
}

// recordParser validates records, collecting errors by line.
type recordParser struct {
	cd   codec.Codec // nil: --codec raw
	now  time.Time
	seen map[string]int // key -> line of its first record
	recs []importRecord
	errs []lineError
}

func (p *recordParser) fail(line int, format string, args ...any) {
	p.errs = append(p.errs, lineError{line, fmt.Sprintf(format, args...)})
}

func (p *recordParser) parseJSONL(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf")) // a BOM, as the CSV reader allows
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		// encoding/json would turn invalid UTF-8 into U+FFFD: a key would
		// change without a word.
		if !utf8.Valid(text) {
			p.fail(line, "is not valid UTF-8")
			continue
		}
		var fields map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(text))
		if err := dec.Decode(&fields); err != nil {
			p.fail(line, "not a JSON object: %v", err)
			continue
		}
		if dec.More() {
			p.fail(line, "more than one JSON value on the line")
			continue
		}
		if fields == nil {
			p.fail(line, "not a JSON object: null")
			continue
		}
		raw := map[string]string{}
		var value json.RawMessage
		hasValue, ok := false, true
		for _, k := range sortedFieldNames(fields) {
			v := fields[k]
			switch k {
			case "value":
				value, hasValue = v, true
			case "priority":
				raw[k] = string(v)
			case "key", "expires_at", "ttl", "value_base64":
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					p.fail(line, "%s must be a string", k)
					ok = false
					continue
				}
				raw[k] = s
			default:
				p.fail(line, "unknown field %q (want %s)", k, strings.Join(fileFields, ", "))
				ok = false
			}
		}
		if ok {
			p.record(line, raw, value, hasValue)
		}
	}
	if err := sc.Err(); err != nil {
		p.fail(line+1, "cannot read: %v", err)
	}
}

func sortedFieldNames(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p *recordParser) parseCSV(in io.Reader) {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		p.fail(1, "empty input: CSV needs a header line (%s)", strings.Join(fileFields, ","))
		return
	}
	if err != nil {
		p.fail(1, "bad CSV: %v", err)
		return
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case !containsStr(fileFields, h):
			p.fail(1, "unknown column %q (want %s)", h, strings.Join(fileFields, ", "))
		case seen[h]:
			p.fail(1, "column %q twice", h)
		}
		seen[h] = true
		cols[i] = h
	}
	if !seen["key"] {
		p.fail(1, "no key column")
	}
	if len(p.errs) > 0 {
		return
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			p.fail(line, "bad CSV: %v", err)
			if pe == nil || !errors.Is(pe.Err, csv.ErrFieldCount) {
				return // the reader cannot resync after a syntax error
			}
			continue
		}
		line, _ := r.FieldPos(0)
		raw := map[string]string{}
		var value json.RawMessage
		hasValue := false
		for i, c := range cols {
			v := row[i]
			if c == "value" {
				if v != "" {
					value, hasValue = json.RawMessage(v), true
				}
				continue
			}
			if v != "" {
				raw[c] = v
			}
		}
		p.record(line, raw, value, hasValue)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// record validates one record's fields (strings, priority as JSON or CSV
// text) and keeps it.
func (p *recordParser) record(line int, raw map[string]string, value json.RawMessage, hasValue bool) {
	n := len(p.errs)
	r := pool.Record{Key: raw["key"]}
	if err := redisallocator.ValidateMember("key", r.Key); err != nil {
		p.fail(line, "%v", err)
	} else if first, dup := p.seen[r.Key]; dup {
		p.fail(line, "duplicate key %q (first on line %d)", r.Key, first)
	} else {
		p.seen[r.Key] = line
	}
	if s, ok := raw["priority"]; ok {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		switch {
		case err != nil:
			p.fail(line, "priority %s is not an integer", s)
		case v < poolMinPriority || v > poolMaxPriority:
			p.fail(line, "priority %d is outside [%d, %d]", v, poolMinPriority, poolMaxPriority)
		default:
			r.Priority = v
		}
	}
	var expiresAt time.Time
	exp, hasExp := raw["expires_at"]
	ttl, hasTTL := raw["ttl"]
	switch {
	case hasExp && hasTTL:
		p.fail(line, "expires_at and ttl both given: pick one")
	case hasExp:
		t, err := time.Parse(time.RFC3339Nano, exp)
		if err != nil {
			p.fail(line, "expires_at %q is not an RFC 3339 time", exp)
			break
		}
		d := t.Sub(p.now)
		if d < time.Millisecond {
			p.fail(line, "expires_at %s is in the past", exp)
			break
		}
		r.TTL, expiresAt = d.Truncate(time.Millisecond), t
	case hasTTL:
		d, err := time.ParseDuration(ttl)
		if err != nil || d < time.Millisecond {
			p.fail(line, "ttl %q is not a duration of at least 1ms (like 90m or 24h)", ttl)
			break
		}
		r.TTL = d.Truncate(time.Millisecond)
	}
	if r.TTL > poolMaxTTL {
		p.fail(line, "expiry %v is beyond the longest allowed, %v", r.TTL, poolMaxTTL)
	}
	b64, hasB64 := raw["value_base64"]
	switch {
	case hasValue && hasB64:
		p.fail(line, "value and value_base64 both given: pick one")
	case hasB64:
		v, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			p.fail(line, "value_base64 is not base64: %v", err)
			break
		}
		r.HasValue, r.Value = true, v
	case hasValue && p.cd == nil:
		p.fail(line, "--codec raw takes value_base64, not value")
	case hasValue:
		v, err := decodeJSONValue(value)
		if err != nil {
			p.fail(line, "value is not valid JSON: %v", err)
			break
		}
		b, err := p.cd.Marshal(v)
		if err != nil {
			p.fail(line, "value cannot be encoded: %v", err)
			break
		}
		r.HasValue, r.Value = true, b
	}
	if len(p.errs) == n {
		p.recs = append(p.recs, importRecord{line: line, rec: r, expiresAt: expiresAt})
	}
}

// decodeJSONValue decodes one JSON value, numbers as int64 when they are
// integers that fit and float64 otherwise, so that msgpack and CBOR store
// integers as integers.
func decodeJSONValue(b []byte) (any, error) {
	v, err := decodeJSONNumbers(b)
	if err != nil {
		return nil, err
	}
	return fixNumbers(v)
}

// decodeJSONNumbers decodes one JSON value with its numbers as written
// (json.Number): decoding into any would make each a float64.
func decodeJSONNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func fixNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u, nil // above int64: still an exact integer
		}
		if !strings.ContainsAny(string(x), ".eE") {
			// A float would change it without a word.
			return nil, fmt.Errorf("integer %s out of range (at most 64 bits)", x)
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s out of range", x)
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			var err error
			if x[k], err = fixNumbers(e); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, e := range x {
			var err error
			if x[i], err = fixNumbers(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// --- export ---

type exportOptions struct {
	transferOptions
	output string
}

func poolExportFlags(o *exportOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("pool export", flag.ContinueOnError)
	o.flags(fs)
	fs.StringVar(&o.output, "output", "-", "`file` to write (- for stdout)")
	setHelp(fs, `usage: redisalloc pool export --pool NAME --prefix P [flags]

Writes every member of a pool (key, priority, expires_at, value) as JSON
Lines or CSV, read in one atomic script: a consistent copy while the pool is
in use. Values are decoded with --codec and written as JSON; binary values
come out as base64 strings and times as RFC 3339 text, so for an exact copy
(pool import takes it back) use --codec raw. Leases, quarantines and
bindings are not exported. A file is written whole or not at all.

Exit status: 0 written, 2 bad flags, a value --codec cannot decode, or a
Redis that cannot be reached.

flags:
`)
	return fs
}

var poolExportUsage = flagUsage(poolExportFlags)

var poolExportCommand = flagCommand(poolExportFlags, 0, runExport)

func runExport(ctx context.Context, e env, o exportOptions, _ []string) error {
	if err := o.check(e); err != nil {
		return err
	}
	if err := poolName(o.pool); err != nil {
		return err
	}
	format, err := resolveFormat(o.format, o.output)
	if err != nil {
		return err
	}
	if o.codec != "" {
		if _, err := resolveCodec(o.codec); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	pl, err := pool.NewInspector(client, o.prefix, o.pool)
	if err != nil {
		return usageErr("%w", err)
	}
	if err := requireName(ctx, e, client, "pool export", o.prefix, inspect.DefaultScanLimit, catPool, o.pool); err != nil {
		return err
	}
	codecName, err := o.poolCodec(ctx, e, pl, false)
	if err != nil {
		return err
	}
	cd, err := resolveCodec(codecName)
	if err != nil {
		return usageErr("pool %s records codec %q, which redisalloc does not know: %w (--codec raw copies the bytes)", o.pool, codecName, err)
	}
	recs, err := pl.Export(ctx)
	if err != nil {
		return redisFailure(err)
	}

	// Encode everything before writing anything: a value that does not
	// decode leaves no partial file.
	var buf bytes.Buffer
	var cw *csv.Writer
	valueCol := "value"
	if cd == nil {
		valueCol = "value_base64"
	}
	if format == formatCSV {
		cw = csv.NewWriter(&buf)
		_ = cw.Write([]string{"key", "priority", "expires_at", valueCol})
	}
	bar := newProgress(e, "exporting", len(recs))
	for _, r := range recs {
		exp := ""
		if !r.Expiry.IsZero() {
			exp = r.Expiry.UTC().Format(time.RFC3339Nano)
		}
		var val []byte // JSON text, or base64 for raw
		if r.HasValue {
			if cd == nil {
				val = []byte(base64.StdEncoding.EncodeToString(r.Value))
			} else if val, err = exportValue(cd, r.Value); err != nil {
				bar.finish()
				return usageErr("member %q: %w; is --codec %s the pool's codec? (--codec raw copies bytes as they are)", shortText(r.Key), err, codecName)
			}
		}
		if cw != nil {
			_ = cw.Write([]string{r.Key, strconv.Itoa(r.Priority), exp, string(val)})
		} else {
			writeJSONLRecord(&buf, r, exp, valueCol, val)
		}
		bar.add(1)
	}
	bar.finish()
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	if err := writeOutput(e, o.output, buf.Bytes()); err != nil {
		return err
	}
	if o.output != "-" {
		fmt.Fprintf(e.stderr, "exported %d member(s) of pool %s to %s\n", len(recs), o.pool, o.output)
	}
	return nil
}

// writeJSONLRecord writes one line with the fields in a fixed order.
func writeJSONLRecord(buf *bytes.Buffer, r pool.Record, exp, valueCol string, val []byte) {
	k, _ := json.Marshal(r.Key)
	fmt.Fprintf(buf, `{"key":%s,"priority":%d`, k, r.Priority)
	if exp != "" {
		fmt.Fprintf(buf, `,"expires_at":%q`, exp)
	}
	if r.HasValue {
		if valueCol == "value_base64" {
			fmt.Fprintf(buf, `,"value_base64":%q`, val)
		} else {
			fmt.Fprintf(buf, `,"value":%s`, val)
		}
	}
	buf.WriteString("}\n")
}

// exportValue decodes a stored value with cd and renders it as JSON.
func exportValue(cd codec.Codec, b []byte) ([]byte, error) {
	if cd.Name() == "json" || strings.HasSuffix(cd.Name(), "+json") {
		// Stored JSON keeps its numbers as written: through a float64,
		// integers beyond 2^53 would change.
		var raw json.RawMessage
		if err := cd.Unmarshal(b, &raw); err != nil {
			return nil, err
		}
		v, err := decodeJSONNumbers(raw)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	var v any
	if err := cd.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	v = jsonable(v)
	return json.Marshal(v)
}

// jsonable turns what codecs decode into any (CBOR maps with any keys)
// into values encoding/json can write.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case big.Int: // CBOR decodes integers beyond int64 so; JSON would print {}
		return json.Number(x.String())
	case *big.Int:
		if x != nil {
			return json.Number(x.String())
		}
	}
	return v
}

// writeOutput writes data to stdout or, through a temporary file renamed
// into place, to file.
func writeOutput(e env, file string, data []byte) error {
	if file == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		// Name the file asked for, not the temporary one.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usageErr("cannot write %s: %w", file, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// progress is a one-line progress bar on stderr, drawn only on a terminal
// and for inputs of at least progressMin records. Hand-rolled: a few lines
// against a dependency.
type progress struct {
	w            io.Writer
	label        string
	total, done  int
	last         time.Time
	on, finished bool
}

func newProgress(e env, label string, total int) *progress {
	return &progress{w: e.stderr, label: label, total: total, on: e.stderrTTY && total >= progressMin}
}

func (p *progress) add(n int) {
	p.done += n
	if !p.on || (time.Since(p.last) < 100*time.Millisecond && p.done < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := width * p.done / max(p.total, 1)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d (%d%%)", p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		p.done, p.total, 100*p.done/max(p.total, 1))
}

func (p *progress) finish() {
	if p.on && !p.finished {
		p.finished = true
		fmt.Fprintln(p.w)
	}
}
