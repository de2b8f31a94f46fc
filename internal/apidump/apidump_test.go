package apidump

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+File+" from the module's public packages")

// root is the module this package belongs to.
const root = "../.."

var (
	moduleOnce   sync.Once
	moduleReport *Report
	moduleErr    error
)

// dumpModule dumps this module once for all tests.
func dumpModule(t *testing.T) *Report {
	t.Helper()
	moduleOnce.Do(func() { moduleReport, moduleErr = Dump(root) })
	if moduleErr != nil {
		t.Fatal(moduleErr)
	}
	return moduleReport
}

// TestAPIFile fails when api/redisallocator.txt does not match the public
// packages: an API change must come with the regenerated file, so that it
// shows in review (and in the CHANGELOG).
func TestAPIFile(t *testing.T) {
	r := dumpModule(t)
	file := filepath.Join(root, File)
	got := r.Text()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d lines, %d exported identifiers)", File, len(r.Lines), r.Total())
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v\nCreate it with: %s (or go test ./internal/apidump -update)", err, Regenerate)
	}
	if string(want) != got {
		t.Errorf("the public API differs from %s (- file, + code):\n%s\nIf the change is intended, regenerate the file and say so in CHANGELOG.md:\n\t%s\n(or: go test ./internal/apidump -update)",
			File, diff(string(want), got), Regenerate)
	}
}

// TestDocumented fails when an exported identifier has no doc comment.
func TestDocumented(t *testing.T) {
	r := dumpModule(t)
	if len(r.Undocumented) > 0 {
		t.Errorf("%d exported identifier(s) without a doc comment:\n\t%s", len(r.Undocumented), strings.Join(r.Undocumented, "\n\t"))
	}
}

// TestCounts logs the exported identifiers per package (go test -v shows
// them) and checks the count against the lines.
func TestCounts(t *testing.T) {
	r := dumpModule(t)
	var b strings.Builder
	if err := r.WriteCounts(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("exported identifiers of %s:\n%s", r.Module, b.String())
	if r.Total() == 0 || len(r.Counts) == 0 {
		t.Fatalf("no exported identifiers found in %s", r.Module)
	}
}

// diff shows the lines only in want (-) and only in got (+); the body lines
// of both are sorted, so one merge pass finds them.
func diff(want, got string) string {
	split := func(s string) (head, body []string) {
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			if strings.HasPrefix(l, "#") {
				head = append(head, l)
			} else {
				body = append(body, l)
			}
		}
		slices.Sort(body)
		return head, body
	}
	wh, wb := split(want)
	gh, gb := split(got)
	var out []string
	for k := range max(len(wh), len(gh)) {
		switch {
		case k >= len(gh):
			out = append(out, "-"+wh[k])
		case k >= len(wh):
			out = append(out, "+"+gh[k])
		case wh[k] != gh[k]:
			out = append(out, "-"+wh[k], "+"+gh[k])
		}
	}
	i, j := 0, 0
	for i < len(wb) || j < len(gb) {
		switch {
		case j == len(gb) || (i < len(wb) && wb[i] < gb[j]):
			out = append(out, "-"+wb[i])
			i++
		case i == len(wb) || gb[j] < wb[i]:
			out = append(out, "+"+gb[j])
			j++
		default:
			i++
			j++
		}
	}
	return strings.Join(out, "\n")
}

func TestDiff(t *testing.T) {
	want := "# same\n# h1\na\nc\nd\n"
	got := "# same\n# h2\nb\nc\ne\n"
	d := diff(want, got)
	exp := "-# h1\n+# h2\n-a\n+b\n-d\n+e"
	if d != exp {
		t.Errorf("diff:\n%s\nwant:\n%s", d, exp)
	}
	if d := diff(want, want); d != "" {
		t.Errorf("diff of equal texts: %q", d)
	}
}

func TestPublic(t *testing.T) {
	for rel, want := range map[string]bool{
		"":                   true,
		"pool":               true,
		"pool/sub":           true,
		"internal":           false,
		"internal/script":    false,
		"pool/internal/x":    false,
		"cmd/redisalloc":     false,
		"benchmarks/torture": false,
		"e2e":                false,
		"x/testdata/y":       false,
		"cmdline":            true,
	} {
		if got := Public(rel); got != want {
			t.Errorf("Public(%q) = %v, want %v", rel, got, want)
		}
	}
}

// TestDumpShapes dumps testdata/mod, a module with one declaration of every
// kind, and compares every line.
func TestDumpShapes(t *testing.T) {
	r, err := Dump(filepath.Join("testdata", "mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`pkg m, const Answer = 42`,
		`pkg m, const Limit Size = 10`,
		`pkg m, const Version = "1.0"`,
		`pkg m, func Bare()`,
		`pkg m, method (Size) String() string`,
		`pkg m, type Size int`,
		`pkg m, var Documented int`,
		`pkg m, var Err error`,
		`pkg m, var Undocumented int`,
		`pkg shape, func New[$0 any, $1 comparable](io.Reader, <-chan $0) *Box[$0, $1]`,
		`pkg shape, func Sum[$0 Number](...$0) $0`,
		`pkg shape, method (*Box[$0, $1]) Put($1, ...$0) error`,
		`pkg shape, method (*Inner) Grow(int) int`,
		`pkg shape, method (Box[$0, $1]) Get(context.Context, $1) ($0, bool)`,
		`pkg shape, method (Box[$0, $1]) Grow(int) int`,
		`pkg shape, type Alias = Inner`,
		`pkg shape, type Box[$0 any, $1 comparable] struct`,
		`pkg shape, type Box[$0 any, $1 comparable] struct, Keys map[$1][]$0`,
		`pkg shape, type Box[$0 any, $1 comparable] struct, Value $0`,
		`pkg shape, type Box[$0 any, $1 comparable] struct, embedded *Inner`,
		`pkg shape, type Func func(context.Context, [2]byte) (chan int, error)`,
		`pkg shape, type Inner struct`,
		`pkg shape, type Inner struct, N int`,
		`pkg shape, type Number interface { ~int | ~float64 }`,
		`pkg shape, type Reader interface { Read, Size }`,
		`pkg shape, type Reader interface, Read([]byte) (int, error)`,
		`pkg shape, type Reader interface, Size() int64`,
		`pkg shape, type Sealed interface { Name, unexported methods }`,
		`pkg shape, type Sealed interface, Name() string`,
	}
	if !slices.Equal(r.Lines, want) {
		t.Errorf("lines (- want, + got):\n%s", diff(strings.Join(want, "\n"), strings.Join(r.Lines, "\n")))
	}
	wantUndoc := []string{
		"pkg m, func Bare (m.go:26)",
		"pkg m, var Undocumented (m.go:24)",
	}
	if !slices.Equal(r.Undocumented, wantUndoc) {
		t.Errorf("undocumented = %q, want %q", r.Undocumented, wantUndoc)
	}
	wantCounts := []PackageCount{
		{Package: "m", Funcs: 1, Methods: 1, Types: 1, Vars: 3, Consts: 3},
		{Package: "shape", Funcs: 2, Methods: 3, Types: 7},
	}
	if !slices.Equal(r.Counts, wantCounts) {
		t.Errorf("counts = %+v, want %+v", r.Counts, wantCounts)
	}
	if r.Total() != 21 {
		t.Errorf("total = %d, want 21", r.Total())
	}
	if !strings.HasPrefix(r.Text(), "# The public API of example.com/m") || !strings.Contains(r.Text(), "# Exported identifiers: 21 (m 9, shape 12).\n") {
		t.Errorf("header:\n%s", r.Text())
	}
}
