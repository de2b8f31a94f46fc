package redisallocator_test

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// libraryPackages are the packages a program imports to use the module;
// none of them may link a test backend.
var libraryPackages = []string{".", "./lock", "./pool", "./task", "./health", "./codec", "./script", "./otel"}

// testBackends are module paths that only tests, the test-support package
// and the CLI's demo may link.
var testBackends = []string{"github.com/alicebob/miniredis", "github.com/yuin/gopher-lua"}

// linkedTestBackends lists the dependencies of pkgs (go list -deps, non-test
// files) that belong to a test backend.
func linkedTestBackends(t *testing.T, pkgs ...string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	out, err := exec.Command(goTool, append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", strings.Join(pkgs, " "), err, stderr)
	}
	var bad []string
	for dep := range strings.FieldsSeq(string(out)) {
		if slices.ContainsFunc(testBackends, func(b string) bool { return strings.HasPrefix(dep, b) }) {
			bad = append(bad, dep)
		}
	}
	return bad
}

// TestLibraryLinksNoTestBackend: a program that imports the library
// (the root package, lock, pool, task, health, codec, script, otel) links
// neither miniredis nor gopher-lua; the embedded server lives in
// redisallocatortest.
func TestLibraryLinksNoTestBackend(t *testing.T) {
	t.Parallel()
	if bad := linkedTestBackends(t, libraryPackages...); len(bad) > 0 {
		t.Errorf("library packages link test backends (move the import to redisallocatortest or a _test.go file):\n\t%s",
			strings.Join(bad, "\n\t"))
	}
}

// TestTestBackendCheckSeesMiniredis: the check above can fail; the
// test-support package does link miniredis, and the check finds it.
func TestTestBackendCheckSeesMiniredis(t *testing.T) {
	t.Parallel()
	bad := linkedTestBackends(t, "./redisallocatortest")
	for _, want := range []string{"github.com/alicebob/miniredis/v2", "github.com/yuin/gopher-lua"} {
		if !slices.Contains(bad, want) {
			t.Errorf("go list -deps ./redisallocatortest: %s not reported in %q", want, bad)
		}
	}
}
