package redisallocator_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock is one ```go block of a Markdown file.
type goBlock struct {
	heading string // the "#…" line the block is under ("" before any)
	first   int    // the file line of the block's first code line
	code    string
}

// goBlocks returns every ```go block of the Markdown file doc.
func goBlocks(t *testing.T, doc string) []goBlock {
	t.Helper()
	f, err := os.Open(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var (
		blocks  []goBlock
		b       strings.Builder
		heading string
		in      bool
		first   int
		fence   bool // inside a non-go ``` block
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case in && line == "```":
			blocks = append(blocks, goBlock{heading, first, b.String()})
			b.Reset()
			in = false
		case in:
			b.WriteString(line)
			b.WriteByte('\n')
		case line == "```go" && !fence:
			in, first = true, n+1
		case strings.HasPrefix(line, "```"):
			fence = !fence
		case !fence && strings.HasPrefix(line, "#"):
			heading = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if in {
		t.Fatalf("%s:%d: the ```go block is not closed", doc, first-1)
	}
	return blocks
}

// readmeCompiled lists the README sections whose one ```go block a test
// compiles (TestReadmeQuickStart, TestReadmeTesting).
var readmeCompiled = map[string]bool{"## Quick start": true, "## Testing your code": true}

// TestReadmeGoBlocksCompiled: every ```go block of the README is one that
// a test compiles, so no README example can drift from the code unseen.
func TestReadmeGoBlocksCompiled(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for _, b := range goBlocks(t, "README.md") {
		if !readmeCompiled[b.heading] {
			t.Errorf("README.md:%d: no test compiles this ```go block (under %q): make it part of a compiled section, "+
				"or add a test for it in readme_test.go", b.first-1, b.heading)
		}
		seen[b.heading]++
		if seen[b.heading] == 2 {
			t.Errorf("README.md:%d: a second ```go block under %q: the test compiles only the first", b.first-1, b.heading)
		}
	}
	for h := range readmeCompiled {
		if seen[h] == 0 {
			t.Errorf("README.md: no ```go block under %q", h)
		}
	}
}

// docHeaders holds, per file of docs/, what makes its ```go blocks (code
// fragments) a program: imports and the names the fragments assume, and
// the opening of the function their statements go in (each block in a
// block of its own). They are compiled in
// the CLI's module, which has the OpenTelemetry exporters the fragments
// use. A docs/ file with a ```go block must be listed here.
var docHeaders = map[string]string{
	"docs/metrics.md": `package docs

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

type (
	GPU   struct{ Slot int }
	Job   struct{ Scene string }
	Frame struct{ URL string }
)

func example(ctx context.Context, client rueidis.Client) {
`,
	"docs/tracing.md": `package docs

import (
	"context"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

type (
	GPU   struct{ Slot int }
	Job   struct{ Scene string }
	Frame struct{ URL string }
)

var render task.Handler[Job, Frame] = func(ctx context.Context, t *task.Task[Job]) (Frame, error) { return Frame{}, nil }

func example(ctx context.Context, client rueidis.Client) {
`,
}

// TestDocsGoBlocks type-checks every ```go block of docs/*.md as the body
// of a function, with the declarations of docHeaders; an error is reported
// at its docs/ line. A variable a fragment declares and does not use is
// allowed: fragments show a setup, not a whole program.
func TestDocsGoBlocks(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		blocks := goBlocks(t, doc)
		if len(blocks) == 0 {
			continue
		}
		header, ok := docHeaders[doc]
		if !ok {
			t.Errorf("%s:%d: no test compiles this ```go block: add %s to docHeaders", doc, blocks[0].first-1, doc)
			continue
		}
		t.Run(filepath.Base(doc), func(t *testing.T) {
			t.Parallel()
			var src strings.Builder
			src.WriteString(header)
			offsets := make([]int, len(blocks)) // generated line of each block's first line
			for i, b := range blocks {
				checkFormatIn(t, doc, b.code, b.first)
				src.WriteString("{\n")
				offsets[i] = strings.Count(src.String(), "\n") + 1
				src.WriteString(b.code)
				src.WriteString("}\n")
			}
			src.WriteString("}\n")
			dir := docsDir(t, "cmd/redisalloc", "main.go", src.String())
			// The compiler with -e lists every error (vet stops at the first,
			// which may be an unused variable); a package that is not main
			// is compiled, not linked.
			cmd := exec.Command(goTool, "build", "-gcflags=-e", "./"+filepath.ToSlash(dir))
			cmd.Dir = "cmd/redisalloc"
			out, err := cmd.CombinedOutput()
			if err == nil {
				return
			}
			var bad []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "main.go:") && !strings.Contains(line, "declared and not used") {
					bad = append(bad, docLine(line, dir, doc, blocks, offsets))
				}
			}
			if len(bad) > 0 || !strings.Contains(string(out), "declared and not used") {
				t.Errorf("go build: the ```go blocks of %s do not compile: %v\n%s", doc, err, strings.Join(bad, "\n"))
				if len(bad) == 0 {
					t.Log(string(out))
				}
			}
		})
	}
}

// docLine rewrites "dir/main.go:L" in a compiler message to the docs/ line
// the code came from.
func docLine(msg, dir, doc string, blocks []goBlock, offsets []int) string {
	i := strings.Index(msg, "main.go:")
	prefix := strings.TrimSuffix(strings.TrimSuffix(msg[:i], filepath.ToSlash(dir)+"/"), "./")
	rest := msg[i+len("main.go:"):]
	var l int
	if _, err := fmt.Sscanf(rest, "%d", &l); err != nil {
		return msg
	}
	for k := len(blocks) - 1; k >= 0; k-- {
		if l >= offsets[k] {
			n := blocks[k].first + l - offsets[k]
			return prefix + doc + ":" + fmt.Sprint(n) + rest[len(fmt.Sprint(l)):]
		}
	}
	return msg
}

// docsDir is readmeDir in the module at base: it writes code to file in a
// new dot-directory there and returns its path relative to base.
func docsDir(t *testing.T, base, file, code string) string {
	t.Helper()
	dir, err := os.MkdirTemp(base, ".docs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, file), []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// apiIndex is what api/redisallocator.txt lists: package-level names
// ("pool.New") and, per type ("pool.Admin"), its methods and fields, and
// the types it embeds.
type apiIndex struct {
	top     map[string]bool
	members map[string]map[string]bool
	embeds  map[string][]string
}

var (
	apiLine   = regexp.MustCompile(`^pkg (\w+), (func|type|var|const|method) (?:\((?:\*)?(\w+)(?:\[[^\]]*\])?\) )?(\w+)(.*)$`)
	apiMember = regexp.MustCompile(`^(?:\[[^\]]*\])? (?:struct|interface), (embedded \*?(\w+)|(\w+))`)
)

func readAPI(t *testing.T) apiIndex {
	t.Helper()
	data, err := os.ReadFile("api/redisallocator.txt")
	if err != nil {
		t.Fatal(err)
	}
	idx := apiIndex{top: map[string]bool{}, members: map[string]map[string]bool{}, embeds: map[string][]string{}}
	add := func(typ, m string) {
		if idx.members[typ] == nil {
			idx.members[typ] = map[string]bool{}
		}
		idx.members[typ][m] = true
	}
	for _, line := range strings.Split(string(data), "\n") {
		m := apiLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pkg, kind, recv, name, rest := m[1], m[2], m[3], m[4], m[5]
		if kind == "method" {
			add(pkg+"."+recv, name)
			continue
		}
		idx.top[pkg+"."+name] = true
		if typ := strings.TrimSpace(rest); kind == "var" && !strings.ContainsAny(typ, ".[ ") {
			idx.embeds[pkg+"."+name] = []string{pkg + "." + typ} // a var has its type's methods
		}
		if kind == "type" {
			if mm := apiMember.FindStringSubmatch(rest); mm != nil {
				if mm[2] != "" {
					idx.embeds[pkg+"."+name] = append(idx.embeds[pkg+"."+name], pkg+"."+mm[2])
					add(pkg+"."+name, mm[2])
				} else {
					add(pkg+"."+name, mm[3])
				}
			}
		}
	}
	return idx
}

// has reports whether typ has the method or field m, promoted ones included.
func (idx apiIndex) has(typ, m string) bool {
	if idx.members[typ][m] {
		return true
	}
	for _, e := range idx.embeds[typ] {
		if idx.has(e, m) {
			return true
		}
	}
	return false
}

// apiRef is a reference to the module's public API in documentation:
// pkg.Name or pkg.Type.Member, not part of a longer path ("go.opentelemetry.io/otel.X")
// and not an error-message prefix ("lock.Lock: …").
// typeRef is Type.Member without a package; Type is taken to be any
// exported type of that name (pool.Lease or lock.Lease).
var typeRef = regexp.MustCompile(`(^|[^\w./])([A-Z]\w*)\.([A-Z]\w*)`)

var apiRef = regexp.MustCompile(`(^|[^\w./])(codec|health|lock|otel|pool|redisallocator|redisallocatortest|script|task)\.([A-Z]\w*)(?:\.([A-Z]\w*))?(:?)`)

// TestDocsNameAPI: every pkg.Name and pkg.Type.Member that the README,
// docs/*.md, the packages' doc.go files and the commands' package docs
// mention (in code spans, for Markdown; in comments, for Go) is in the
// public API as api/redisallocator.txt records it, so
// a renamed or removed identifier cannot linger in the prose.
func TestDocsNameAPI(t *testing.T) {
	t.Parallel()
	idx := readAPI(t)
	files := []string{"README.md"}
	for _, pattern := range []string{
		"docs/*.md", "*/doc.go", "cmd/redisalloc/inspect/doc.go",
		"redisallocatortest/redisallocatortest.go", "cmd/redisalloc/main.go", "benchmarks/torture/doc.go",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	codeSpan := regexp.MustCompile("`[^`]+`")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		inBlock := false
		for n, line := range strings.Split(string(data), "\n") {
			texts := []string{line}
			if strings.HasSuffix(file, ".go") && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue // code compiles; comments are what can drift
			}
			if strings.HasSuffix(file, ".md") {
				if strings.HasPrefix(line, "```") {
					inBlock = !inBlock
					continue
				}
				if !inBlock {
					texts = codeSpan.FindAllString(line, -1)
				}
			}
			for _, text := range texts {
				for _, m := range typeRef.FindAllStringSubmatch(text, -1) {
					typ, member := m[2], m[3]
					var types []string
					for _, pkg := range []string{"codec", "health", "lock", "otel", "pool", "redisallocator", "redisallocatortest", "script", "task"} {
						if idx.top[pkg+"."+typ] {
							types = append(types, pkg+"."+typ)
						}
					}
					found := len(types) == 0 // not a type of the module
					for _, tp := range types {
						found = found || idx.has(tp, member)
					}
					if !found {
						t.Errorf("%s:%d: %s.%s: no type %s of the module has a method or field %s", file, n+1, typ, member, typ, member)
					}
				}
				for _, m := range apiRef.FindAllStringSubmatch(text, -1) {
					pkg, name, member, colon := m[2], m[3], m[4], m[5]
					ref := pkg + "." + name
					switch {
					case colon != "" && member == "":
						// an error message's prefix, such as "lock.Lock: "
					case !idx.top[ref]:
						t.Errorf("%s:%d: %s is not in the public API (api/redisallocator.txt)", file, n+1, ref)
					case member != "" && !idx.has(ref, member):
						t.Errorf("%s:%d: %s has no method or field %s", file, n+1, ref, member)
					}
				}
			}
		}
	}
}
