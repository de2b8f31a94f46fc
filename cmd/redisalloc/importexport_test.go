package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// item is a typed value, as an application would keep in a pool.
type item struct {
	Addr  string         `json:"addr"`
	Port  int            `json:"port"`
	Tags  []string       `json:"tags"`
	Ratio float64        `json:"ratio"`
	Meta  map[string]any `json:"meta,omitempty"`
	// Hash goes beyond int64: CBOR decodes it as a big.Int, and JSON
	// numbers must stay exact integers on the way back.
	Hash uint64 `json:"hash,omitempty"`
}

func items() map[string]item {
	return map[string]item{
		"m1":         {Addr: "10.0.0.1", Port: 8001, Tags: []string{"eu"}, Ratio: 0.5, Hash: 12345678901234567891},
		"m2":         {Addr: "10.0.0.2", Port: 8002, Tags: []string{}, Ratio: 1, Meta: map[string]any{"zone": "b"}},
		"with,comma": {Addr: `quote"d`, Port: 1, Tags: []string{"a\nb"}},
	}
}

// fillPool puts items into pool name with cd, priorities and an expiry.
func fillPool(t *testing.T, b *redisxtest.Backend, name string, cd codec.Codec) *pool.Pool[item] {
	t.Helper()
	p, err := pool.New[item](b.Client, b.Prefix, name, pool.WithCodec(cd))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for k, v := range items() {
		opts := []pool.MemberOption{pool.Priority(len(k))}
		if k == "m2" {
			opts = append(opts, pool.MemberTTL(time.Hour))
		}
		if _, err := p.Add(ctx, map[string]item{k: v}, opts...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.AddKeys(ctx, []string{"novalue"}, pool.Priority(-3)); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportExportRoundTrip exports a pool and imports the file into a
// new pool, per codec and format; the copy's records and typed values
// match the original.
func TestImportExportRoundTrip(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		dir := t.TempDir()
		url := backendURL(b)
		for _, cname := range []string{"json", "msgpack", "cbor", "zstd+cbor", codecRaw} {
			for _, format := range []string{formatJSONL, formatCSV} {
				inner := strings.TrimPrefix(cname, "zstd+")
				if cname == codecRaw {
					inner = "msgpack"
				}
				cd, err := codec.New(inner, codec.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				src := fmt.Sprintf("src-%s-%s", strings.ReplaceAll(cname, "+", ""), format)
				dst := "copy" + strings.TrimPrefix(src, "src")
				fillPool(t, b, src, cd)
				file := filepath.Join(dir, src+"."+format)
				common := []string{"--redis", url, "--prefix", b.Prefix, "--codec", cname}

				r := runCLI(t, cliEnv{}, append([]string{"pool", "export", "--pool", src, "--output", file}, common...)...)
				if r.code != exitOK {
					t.Fatalf("%s: export: exit %d, %s", src, r.code, r.stderr)
				}
				r = runCLI(t, cliEnv{}, append([]string{"pool", "import", file, "--pool", dst}, common...)...)
				if r.code != exitOK || !strings.Contains(r.stdout, "imported 4 member(s) into pool "+dst+" (4 new, 0 updated) in 1 batch(es)") {
					t.Fatalf("%s: import: exit %d\n%s%s", src, r.code, r.stdout, r.stderr)
				}

				want, got := exportRecords(t, b, src), exportRecords(t, b, dst)
				if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool {
					// The expiry is carried by the server's clock, to the ms,
					// with the time between export and import in between.
					return a.Sub(b).Abs() < 5*time.Second
				})); d != "" {
					t.Errorf("%s: copy differs (-src +dst):\n%s", src, d)
				}
				// Only raw keeps the bytes: the others go through JSON, which
				// may reorder fields (here: struct order becomes sorted).
				if cname == codecRaw {
					checkBytesEqual(t, b, src, dst)
				}
				copyPool, err := pool.New[item](b.Client, b.Prefix, dst, pool.WithCodec(cd))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range items() {
					gv, err := copyPool.Get(t.Context(), k)
					if err != nil {
						t.Errorf("%s: Get %s: %v", dst, k, err)
					} else if d := cmp.Diff(v, gv); d != "" {
						t.Errorf("%s: value of %s (-want +got):\n%s", dst, k, d)
					}
				}

				// The second export of the copy is the same file (stdout).
				r = runCLI(t, cliEnv{}, append([]string{"pool", "export", "--pool", dst, "--format", format}, common...)...)
				first, _ := os.ReadFile(file)
				if r.code != exitOK || stripExpiry(r.stdout) != stripExpiry(string(first)) {
					t.Errorf("%s: re-export differs:\n%s\nvs\n%s", src, r.stdout, first)
				}
			}
		}
	})
}

// exportRecords reads a pool's records, Values dropped (encodings of equal
// maps may differ in order for msgpack inputs); values are compared typed.
func exportRecords(t *testing.T, b *redisxtest.Backend, name string) []pool.Record {
	t.Helper()
	p, err := pool.New[item](b.Client, b.Prefix, name)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := p.Admin().Export(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Value, recs[i].TTL = nil, 0
	}
	return recs
}

func checkBytesEqual(t *testing.T, b *redisxtest.Backend, src, dst string) {
	t.Helper()
	read := func(name string) []pool.Record {
		p, _ := pool.New[item](b.Client, b.Prefix, name)
		recs, err := p.Admin().Export(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	s, d := read(src), read(dst)
	for i := range s {
		if !bytes.Equal(s[i].Value, d[i].Value) {
			t.Errorf("%s: stored bytes of %s differ: %q vs %q", dst, s[i].Key, s[i].Value, d[i].Value)
		}
	}
}

// stripExpiry blanks expiry times, which move by the ms across copies.
func stripExpiry(s string) string {
	return regexp.MustCompile(`\d{4}-\d\d-\d\dT[0-9:.]+Z`).ReplaceAllString(s, "T")
}

// TestImportValidation: errors come by line and nothing is written.
func TestImportValidation(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		dir := t.TempDir()
		url := backendURL(b)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		jsonl := strings.Join([]string{
			`{"key":"ok1","priority":3,"value":{"a":1}}`,
			`{"key":"bad-prio","priority":5000}`,
			``,
			`{"key":"ok1"}`,
			`not json`,
			`{"key":"x","extra":1}`,
			`{"key":"y","expires_at":"` + past + `"}`,
			`{"key":"z","ttl":"soon"}`,
			`{"key":"w","value":{"a":1},"value_base64":"AA=="}`,
			`{"priority":1}`,
			`{"key":"ok2","ttl":"1h","value":[1,2.5,"s",null,true]}`,
		}, "\n")
		csvText := "key,priority,value\nok,1,\"{\"\"a\"\":1}\"\nbad,x,\nbad2,1,{oops\nbad3,1\n"
		cases := []struct {
			name, file, content string
			want                []string
		}{
			{"JSONL", "m.jsonl", jsonl, []string{
				"m.jsonl:2: priority 5000 is outside [-2048, 2047]",
				`m.jsonl:4: duplicate key "ok1" (first on line 1)`,
				"m.jsonl:5: not a JSON object",
				`m.jsonl:6: unknown field "extra"`,
				"m.jsonl:7: expires_at " + past + " is in the past",
				`m.jsonl:8: ttl "soon" is not a duration`,
				"m.jsonl:9: value and value_base64 both given",
				"m.jsonl:10: redisallocator: invalid name: key \"\" is empty",
				"8 invalid record(s) in",
				"nothing was imported",
			}},
			{"CSV", "m.csv", csvText, []string{
				"m.csv:3: priority x is not an integer",
				"m.csv:4: value is not valid JSON",
				"m.csv:5: bad CSV: record on line 5: wrong number of fields",
				"3 invalid record(s)",
			}},
			{"CSVHeader", "h.csv", "key,colour\na,red\n", []string{`h.csv:1: unknown column "colour"`}},
			// An integer no codec holds exactly is refused, not rounded.
			{"BigInt", "big.jsonl", `{"key":"a","value":{"n":123456789012345678901234567890}}`, []string{"big.jsonl:1:", "integer 123456789012345678901234567890 out of range"}},
			// A BOM is skipped; invalid UTF-8 is refused, not turned into U+FFFD.
			{"JSONLUTF8", "u.jsonl", "\xef\xbb\xbf{\"key\":\"ok\"}\n{\"key\":\"caf\xe9\"}\n", []string{"u.jsonl:2: is not valid UTF-8", "1 invalid record(s)"}},
			{"RawValue", "r.jsonl", `{"key":"a","value":1}`, []string{"r.jsonl:1: --codec raw takes value_base64, not value"}},
		}
		for _, tc := range cases {
			file := filepath.Join(dir, tc.file)
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"pool", "import", file, "--redis", url, "--prefix", b.Prefix, "--pool", "target"}
			if tc.name == "RawValue" {
				args = append(args, "--codec", "raw")
			}
			r := runCLI(t, cliEnv{}, args...)
			if r.code != exitUsage {
				t.Errorf("%s: exit %d", tc.name, r.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, r.stderr)
				}
			}
		}
		if keys := b.Keys(t); len(keys) != 0 {
			t.Errorf("rejected imports wrote %v", keys)
		}

		// --dry-run accepts a valid file without connecting.
		good := filepath.Join(dir, "good.jsonl")
		if err := os.WriteFile(good, []byte(`{"key":"a"}`+"\n"+`{"key":"b","ttl":"1h"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, cliEnv{}, "pool", "import", good, "--pool", "target", "--dry-run")
		if r.code != exitOK || !strings.Contains(r.stdout, "2 record(s) valid") {
			t.Errorf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestImportStdinBatches imports from stdin in several batches and updates
// existing members, keeping a held one held.
func TestImportStdinBatches(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		p, err := pool.New[map[string]any](b.Client, b.Prefix, "dst", pool.WithCodec(codec.JSON))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"k0"}); err != nil {
			t.Fatal(err)
		}
		held, err := p.MallocMember(ctx, "k0", pool.LeaseTTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var in strings.Builder
		for i := range 25 {
			fmt.Fprintf(&in, `{"key":"k%d","priority":%d,"value":{"n":%d}}`+"\n", i, i%5, i)
		}
		r := runCLI(t, cliEnv{stdin: in.String()}, "pool", "import", "-", "--batch", "10",
			"--redis", backendURL(b), "--prefix", b.Prefix, "--pool", "dst", "--codec", "json")
		if r.code != exitOK || !strings.Contains(r.stdout, "imported 25 member(s) into pool dst (24 new, 1 updated) in 3 batch(es)") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if st, _ := memberState(ctx, p.Admin(), "k0"); st != pool.StateHeld {
			t.Errorf("k0 is %s", st)
		}
		if err := held.Release(ctx); err != nil {
			t.Errorf("holder's Free: %v", err)
		}
		if v, err := p.Get(ctx, "k7"); err != nil || v["n"] != float64(7) {
			t.Errorf("k7: %v, %v", v, err)
		}
	})
}

// TestImportRejectedBatch: a batch Redis refuses leaves nothing of itself
// and stops the import, saying which lines were applied.
func TestImportRejectedBatch(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		// A foreign string where the pool's free set belongs.
		free := b.Prefix + ":{pool:dst}:free"
		if err := b.Client.Do(ctx, b.Client.B().Set().Key(free).Value("x").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, cliEnv{stdin: `{"key":"a","value":1}` + "\n" + `{"key":"b"}` + "\n"}, "pool", "import", "-",
			"--redis", backendURL(b), "--prefix", b.Prefix, "--pool", "dst")
		if r.code != exitFail || !strings.Contains(r.stderr, "batch 1 (lines 1-2) rejected") ||
			!strings.Contains(r.stderr, "nothing of it or later batches was applied") {
			t.Errorf("exit %d, stderr %s", r.code, r.stderr)
		}
		if keys := b.Keys(t); len(keys) != 1 || keys[0] != free {
			t.Errorf("keys after a rejected batch: %v", keys)
		}
	})
}

// TestExportCodecMismatch: values the codec cannot decode fail the export
// and leave no file.
func TestExportCodecMismatch(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	fillPool(t, b, "p", codec.CBOR)
	file := filepath.Join(t.TempDir(), "out.jsonl")
	r := runCLI(t, cliEnv{}, "pool", "export", "--pool", "p", "--codec", "json", "--output", file,
		"--redis", backendURL(b), "--prefix", b.Prefix)
	if r.code != exitUsage || !strings.Contains(r.stderr, "is --codec json the pool's codec?") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s (%v)", file, err)
	}
	// The CSV export is valid CSV with a header.
	r = runCLI(t, cliEnv{}, "pool", "export", "--pool", "p", "--codec", "cbor", "--format", "csv",
		"--redis", backendURL(b), "--prefix", b.Prefix)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != "key,priority,expires_at,value" {
		t.Fatalf("csv: %v, %q", err, rows)
	}
	var v item
	if err := json.Unmarshal([]byte(rows[4][3]), &v); err != nil || v.Addr != `quote"d` {
		t.Errorf("row %q: %+v, %v", rows[4], v, err)
	}
}

// TestImportProgress: a terminal on stderr gets a progress bar for large
// inputs, and a pipe does not.
func TestImportProgress(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	var in strings.Builder
	for i := range progressMin {
		fmt.Fprintf(&in, `{"key":"k%d"}`+"\n", i)
	}
	for _, tty := range []bool{true, false} {
		var out, errb bytes.Buffer
		e := env{
			stdout: &out, stderr: &errb, stdin: strings.NewReader(in.String()), stderrTTY: tty,
			getenv: func(string) string { return "" },
		}
		code := run(t.Context(), e,
			[]string{"pool", "import", "-", "--batch", "100", "--redis", backendURL(b), "--prefix", b.Prefix, "--pool", fmt.Sprint(tty)})
		bar := fmt.Sprintf("importing [%s] %d/%d (100%%)", strings.Repeat("=", 30), progressMin, progressMin)
		if code != exitOK || strings.Contains(errb.String(), bar) != tty {
			t.Errorf("tty %v: exit %d, stderr %q", tty, code, errb.String())
		}
	}
}

// TestPoolLimits: the CLI's copies of the pool's limits are the library's:
// the library takes a record at each limit and refuses one just past it.
func TestPoolLimits(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		a, err := pool.NewAdmin(b.Client, b.Prefix, "limits")
		if err != nil {
			t.Fatal(err)
		}
		ok := []pool.Record{
			{Key: "lo", Priority: poolMinPriority},
			{Key: "hi", Priority: poolMaxPriority, TTL: poolMaxTTL},
		}
		if _, err := a.Import(ctx, ok); err != nil {
			t.Fatalf("records at the limits: %v", err)
		}
		for name, bad := range map[string][]pool.Record{
			"priority below": {{Key: "x", Priority: poolMinPriority - 1}},
			"priority above": {{Key: "x", Priority: poolMaxPriority + 1}},
			"ttl above":      {{Key: "x", TTL: poolMaxTTL + time.Millisecond}},
			"batch above":    make([]pool.Record, poolMaxBatch+1),
		} {
			if _, err := a.Import(ctx, bad); !errors.Is(err, pool.ErrInvalid) {
				t.Errorf("%s: err = %v, want pool.ErrInvalid", name, err)
			}
		}
		recs := make([]pool.Record, poolMaxBatch)
		for i := range recs {
			recs[i] = pool.Record{Key: fmt.Sprintf("m%d", i)}
		}
		if n, err := a.Import(ctx, recs); n != poolMaxBatch || err != nil {
			t.Fatalf("a full batch: %d, %v", n, err)
		}
	})
}
