// Package leasetest stops a real process for longer than a lease, to test
// what a lease holder sees when it resumes: a stall no fake clock can make
// (the timers, the holder and an embedded server all stop together).
//
// A test using it runs itself twice: the parent calls [Stall], which starts
// the test binary again as a child for the same test with an environment
// variable set; the child ([Child] reports true) holds its lease, prints
// "ready", waits with [AwaitStall] and prints one line about what it saw.
package leasetest

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child reports whether this process is the child of a Stall for env.
func Child(env string) bool { return os.Getenv(env) == "1" }

// Stall runs the test named test again as a child with env=1 set, waits for
// its first line ("ready"), lets it run for warm, stops it (SIGSTOP) for
// stop, resumes it and returns the first line it prints after that. It
// skips the test under -short.
func Stall(t testing.TB, test, env string, warm, stop time.Duration) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "ready") {
		t.Fatalf("leasetest: child said %q", buf[:n])
	}
	time.Sleep(warm)
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(stop)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	rest := new(strings.Builder)
	tmp := make([]byte, 256)
	for {
		n, err := out.Read(tmp)
		rest.Write(tmp[:n])
		if err != nil || strings.Contains(rest.String(), "\n") {
			break
		}
	}
	line, _, _ := strings.Cut(rest.String(), "\n")
	return line
}

// AwaitStall returns once the calling goroutine sees the clock jump by more
// than gap between two looks a millisecond apart: the process was stopped.
func AwaitStall(gap time.Duration) {
	last := time.Now()
	for {
		time.Sleep(time.Millisecond)
		now := time.Now()
		if now.Sub(last) > gap {
			return
		}
		last = now
	}
}
