package health_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOptionTypes proves that the compiler refuses an option that does not
// apply: testdata/options/bad passes the session option WithInterval to
// NewChecker and must fail to build with a type error, while
// testdata/options/good (every constructor with options it reads, shared
// ones included) builds.
func TestOptionTypes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compiler")
	}
	t.Parallel()
	if out, err := exec.Command("go", "build", "-o", "/dev/null", "./testdata/options/good").CombinedOutput(); err != nil {
		t.Fatalf("good options do not build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "build", "-o", "/dev/null", "./testdata/options/bad").CombinedOutput()
	if err == nil {
		t.Fatal("a session option passed to NewChecker compiled")
	}
	if !strings.Contains(string(out), "does not implement health.CheckerOption") {
		t.Fatalf("unexpected build failure:\n%s", out)
	}
}
