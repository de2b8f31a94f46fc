package lock_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOptionTypes proves that the compiler refuses a Locker option given
// to one Mutex: testdata/options/bad passes WithMeterProvider to Locker.Mutex and
// must fail to build with a type error, while testdata/options/good (mutex
// options at the constructor and per mutex) builds.
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
		t.Fatal("a Locker option passed to Locker.Mutex compiled")
	}
	if !strings.Contains(string(out), "does not implement lock.MutexOption") {
		t.Fatalf("unexpected build failure:\n%s", out)
	}
}
