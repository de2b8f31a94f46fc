// Package leasetest stops a real process for longer than a lease, to test
// what a lease holder sees when it resumes: a stall no fake clock can make
// (the timers, the holder and an embedded server all stop together).
//
// A test using it runs itself twice: the parent calls [Stall], which starts
// the test binary again as a child for the same test with an environment
// variable set; the child ([Child] reports true) holds its lease, prints
// "ready", waits with [AwaitStall] and prints one line about what it saw.
//
// [Handover] runs the other real-time test of a lease: nobody else is
// granted the thing while its holder still reports it valid.
package leasetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
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

// logUniform draws a duration log-uniformly from [lo, hi].
func logUniform(lo, hi time.Duration) time.Duration {
	return time.Duration(float64(lo) * math.Pow(float64(hi)/float64(lo), rand.Float64()))
}

// Holding is what a trial's first holder has.
type Holding struct {
	Valid  func() bool
	CtxErr func() error // nil while its context (or any of them) is live
	// deadline is its local deadline (or a bound above it): the second
	// holder polls from just before it.
	Deadline time.Time
}

// ErrSkip is returned by a Handover hold to skip the trial: the holder lost
// the thing before it could be tested (a session that lapsed before the
// malloc under it, on a loaded machine). At most three quarters of the
// trials may be skipped.
var ErrSkip = errors.New("leasetest: trial skipped")

// Handover runs n trials, at most par at once. Trial i takes something
// with TTL ttl (hold) and then has another client try to take the same
// thing (take) in a tight loop from 3ms before the holder's local deadline
// until it gets it. The moment take succeeds the first holding must no
// longer report valid: neither Valid nor ctx.Err() may say it is held.
// The TTLs are drawn log-uniformly from [lo, hi]. It returns the smallest
// margin seen between the holder's local deadline and the second grant.
func Handover(t *testing.T, n, par int, lo, hi time.Duration,
	hold func(ctx context.Context, i int, ttl time.Duration) (Holding, error),
	take func(ctx context.Context, i int) (bool, error),
) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		errs      []error
		minMargin = time.Duration(math.MaxInt64)
		skipped   int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ttl := logUniform(lo, hi)
			h, err := hold(ctx, i, ttl)
			if errors.Is(err, ErrSkip) {
				mu.Lock()
				skipped++
				mu.Unlock()
				return
			}
			if err != nil {
				fail(fmt.Errorf("trial %d (ttl %v): hold: %w", i, ttl, err))
				return
			}
			time.Sleep(time.Until(h.Deadline.Add(-3 * time.Millisecond)))
			giveUp := time.Now().Add(ttl + 10*time.Second)
			for {
				ok, err := take(ctx, i)
				if err != nil {
					fail(fmt.Errorf("trial %d (ttl %v): take: %w", i, ttl, err))
					return
				}
				if ok {
					break
				}
				if time.Now().After(giveUp) {
					fail(fmt.Errorf("trial %d (ttl %v): never handed over", i, ttl))
					return
				}
			}
			// The second holder has it: the first must know it lost it.
			granted := time.Now()
			valid, ctxErr := h.Valid(), h.CtxErr()
			if valid || ctxErr == nil {
				fail(fmt.Errorf("trial %d (ttl %v): granted to another %v after the holder's local deadline, while the holder's Valid() = %v and ctx.Err() = %w",
					i, ttl, granted.Sub(h.Deadline), valid, ctxErr))
			}
			mu.Lock()
			minMargin = min(minMargin, granted.Sub(h.Deadline))
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if skipped > 3*n/4 {
		t.Fatalf("%d of %d trials skipped", skipped, n)
	}
	if skipped > 0 {
		t.Logf("%d of %d trials skipped", skipped, n)
	}
	return minMargin
}
