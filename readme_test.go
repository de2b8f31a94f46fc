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

// quickStart returns the first ```go block after the "## Quick start"
// heading of README.md and the README line its first line is on.
func quickStart(t *testing.T) (code string, firstLine int) {
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
			section = line == "## Quick start"
		case !in && strings.HasPrefix(line, "## "):
			t.Fatalf("README.md:%d: the Quick start section has no ```go block", n)
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
	t.Fatal("README.md: no \"## Quick start\" section with a closed ```go block")
	return "", 0
}

// TestReadmeQuickStart compiles the README's Quick start as the complete
// program it claims to be, vets it, and runs it against an embedded Redis.
// A compile error is reported at its README.md line.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	code, first := quickStart(t)
	if !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("README.md:%d: the Quick start must be a complete program starting with \"package main\"", first)
	}
	if formatted, err := format.Source([]byte(code)); err == nil && string(formatted) != code {
		t.Errorf("README.md:%d: the Quick start is not gofmt-formatted; gofmt gives:\n%s", first, formatted)
	}

	// A directory inside this module, so the program builds against this
	// tree with its go.mod and nothing is downloaded; the leading dot keeps
	// it out of ./... patterns.
	dir, err := os.MkdirTemp(".", ".readme-quickstart-")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Clean(dir) // MkdirTemp answers "./.readme-…"; the compiler says ".readme-…"
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	pkg := "./" + filepath.ToSlash(dir)
	bin := filepath.Join(t.TempDir(), "quickstart")
	for _, args := range [][]string{{"vet", pkg}, {"build", "-o", bin, pkg}} {
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: the README's Quick start does not compile: %v\n%s",
				args[0], err, readmePositions(out, dir, first))
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

// readmePositions rewrites "dir/main.go:L:C" in compiler output to the
// README.md line the code came from.
func readmePositions(out []byte, dir string, first int) []byte {
	re := regexp.MustCompile(`(?:\./)?` + regexp.QuoteMeta(filepath.ToSlash(dir)) + `/main\.go:(\d+)`)
	return re.ReplaceAllFunc(out, func(m []byte) []byte {
		n, _ := strconv.Atoi(string(re.FindSubmatch(m)[1]))
		return []byte("README.md:" + strconv.Itoa(first+n-1))
	})
}

// TestReadmePositions: a compile error in the program points at its
// README line.
func TestReadmePositions(t *testing.T) {
	t.Parallel()
	got := readmePositions([]byte("# x\n.readme-quickstart-1/main.go:3:9: undefined: pool.Nope\n"), ".readme-quickstart-1", 40)
	if want := "README.md:42:9: undefined: pool.Nope"; !bytes.Contains(got, []byte(want)) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
}
