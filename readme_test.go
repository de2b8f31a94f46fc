package redisallocator_test

import (
	"bufio"
	"bytes"
	"context"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// readmeBlock returns the first ```go block in the section of README.md
// under heading (a "## " line) and the README line its first line is on.
func readmeBlock(t *testing.T, heading string) (code string, firstLine int) {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var b strings.Builder
	section, in := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !section:
			section = line == heading
		case !in && strings.HasPrefix(line, "## "):
			t.Fatalf("README.md:%d: the %q section has no ```go block", n, heading)
		case !in:
			if line == "```go" {
				in, firstLine = true, n+1
			}
		case line == "```":
			return b.String(), firstLine
		default:
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("README.md: no %q section with a closed ```go block", heading)
	return "", 0
}

// TestReadmeQuickStart compiles the README's Quick start as the complete
// program it claims to be, vets it, and runs it against an embedded Redis.
// A compile error is reported at its README.md line.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	code, first := readmeBlock(t, "## Quick start")
	if !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("README.md:%d: the Quick start must be a complete program starting with \"package main\"", first)
	}
	checkFormat(t, code, first)
	dir, goTool := readmeDir(t, "main.go", code)
	pkg := "./" + filepath.ToSlash(dir)
	bin := filepath.Join(t.TempDir(), "quickstart")
	for _, args := range [][]string{{"vet", pkg}, {"build", "-o", bin, pkg}} {
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: the README's Quick start does not compile: %v\n%s",
				args[0], err, readmePositions(out, dir, "main.go", first))
		}
	}

	srv := redisallocatortest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "REDIS_URL="+srv.URL())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Quick start program failed: %v\n%s", err, out)
	}
	if want := "using p1 at 10.0.0.1:3128, fence 1"; !strings.Contains(string(out), want) {
		t.Errorf("the Quick start printed %q, want it to contain %q", out, want)
	}
}

// testingHeader is put before the README's "Testing your code" block,
// which is a test function; it adds len(testingHeader lines) to positions.
const testingHeader = `package readme_test

import (
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

`

// TestReadmeTesting compiles and runs the README's "Testing your code"
// block, a test function, with the imports above.
func TestReadmeTesting(t *testing.T) {
	t.Parallel()
	code, first := readmeBlock(t, "## Testing your code")
	if !strings.HasPrefix(code, "func Test") {
		t.Fatalf("README.md:%d: the block must be one test function", first)
	}
	checkFormat(t, code, first)
	header := strings.Count(testingHeader, "\n")
	dir, goTool := readmeDir(t, "readme_test.go", testingHeader+code)
	out, err := exec.Command(goTool, "test", "-count=1", "-v", "./"+filepath.ToSlash(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("go test: the README's test fails: %v\n%s", err, readmePositions(out, dir, "readme_test.go", first-header))
	}
	if !bytes.Contains(out, []byte("--- PASS: Test")) {
		t.Errorf("the README's test did not run:\n%s", out)
	}
}

// checkFormat fails t when code, a README block, is not gofmt-formatted.
func checkFormat(t *testing.T, code string, first int) {
	t.Helper()
	checkFormatIn(t, "README.md", code, first)
}

// checkFormatIn fails t when code, a block of doc starting at line first,
// is not gofmt-formatted (a fragment of statements is formatted as such).
func checkFormatIn(t *testing.T, doc, code string, first int) {
	t.Helper()
	if formatted, err := format.Source([]byte(code)); err == nil && string(formatted) != code {
		t.Errorf("%s:%d: the block is not gofmt-formatted; gofmt gives:\n%s", doc, first, formatted)
	}
}

// readmeDir writes code to file in a new directory inside this module, so
// it builds against this tree with its go.mod and nothing is downloaded;
// the leading dot keeps the directory out of ./... patterns. It returns the
// directory and the go command.
func readmeDir(t *testing.T, file, code string) (dir, goTool string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	dir, err = os.MkdirTemp(".", ".readme-")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Clean(dir) // MkdirTemp answers "./.readme-…"; the compiler says ".readme-…"
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, file), []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, goTool
}

// readmePositions rewrites "dir/file:L" in compiler and test output to the
// README.md line the code came from (line 1 of file is README line first).
func readmePositions(out []byte, dir, file string, first int) []byte {
	re := regexp.MustCompile(`(?:\./)?(?:` + regexp.QuoteMeta(filepath.ToSlash(dir)) + `/)?` + regexp.QuoteMeta(file) + `:(\d+)`)
	return re.ReplaceAllFunc(out, func(m []byte) []byte {
		n, _ := strconv.Atoi(string(re.FindSubmatch(m)[1]))
		return []byte("README.md:" + strconv.Itoa(first+n-1))
	})
}

// TestReadmePositions: a compile error in the program points at its
// README line.
func TestReadmePositions(t *testing.T) {
	t.Parallel()
	got := readmePositions([]byte("# x\n.readme-1/main.go:3:9: undefined: pool.Nope\n"), ".readme-1", "main.go", 40)
	if want := "README.md:42:9: undefined: pool.Nope"; !bytes.Contains(got, []byte(want)) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
	// go test prints failures by file name only.
	got = readmePositions([]byte("    readme_test.go:12: boom\n"), ".readme-2", "readme_test.go", 100)
	if want := "README.md:111: boom"; !bytes.Contains(got, []byte(want)) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
}
