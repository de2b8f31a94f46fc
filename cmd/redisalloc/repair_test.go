package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// repairPool is a pool with one lapsed lease (due for GC) and one
// permanent lease.
func repairPool(t *testing.T, b *redisxtest.Backend) *pool.Pool[string] {
	t.Helper()
	ctx := t.Context()
	p, err := pool.New[string](b.Client, b.Prefix, "res")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddKeys(ctx, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.MallocMember(ctx, "a", pool.LeaseTTL(pool.Permanent)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.MallocMember(ctx, "b", pool.LeaseTTL(10*time.Millisecond)); err != nil { // the shortest lease
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s, err := p.Admin().Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.LapsedLeases == 1 {
			return p
		}
	}
	t.Fatal("the short lease never lapsed")
	return nil
}

func TestPoolGCConfirmation(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		p := repairPool(t, b)
		args := []string{"pool", "gc", "--redis", backendURL(b), "--prefix", b.Prefix, "--pool", "res"}
		lapsed := func() int {
			s, err := p.Admin().Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return s.LapsedLeases
		}

		// No terminal, no --yes: refused, nothing done.
		r := runCLI(t, cliEnv{}, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "refusing to change Redis without --yes") || lapsed() != 1 {
			t.Errorf("no tty: exit %d, stderr %q, lapsed %d", r.code, r.stderr, lapsed())
		}
		wantLine(t, r.stdout, `^pool res: 1 due timer\(s\): 1 lapsed lease\(s\), 0 dead session\(s\), `)

		// A terminal answering no: aborted, nothing done.
		r = runCLI(t, cliEnv{stdin: "n\n", stdinTTY: true}, args...)
		if r.code != exitFail || !strings.Contains(r.stderr, "run GC on 1 pool(s) under prefix") ||
			!strings.Contains(r.stderr, "aborted") || lapsed() != 1 {
			t.Errorf("answer no: exit %d, stderr %q, lapsed %d", r.code, r.stderr, lapsed())
		}

		// Yes: the lease is reclaimed.
		r = runCLI(t, cliEnv{stdin: "y\n", stdinTTY: true}, args...)
		if r.code != exitOK || lapsed() != 0 {
			t.Errorf("answer yes: exit %d, stderr %q, lapsed %d", r.code, r.stderr, lapsed())
		}
		wantLine(t, r.stdout, `^pool res: reclaimed 1 lease\(s\)`)
		if st, _ := memberState(t.Context(), p.Admin(), "b"); st != pool.StateFree {
			t.Errorf("b is %s after gc", st)
		}

		// Nothing due: nothing asked, exit 0 even without --yes.
		r = runCLI(t, cliEnv{}, append(args[:len(args)-2], "--all")...)
		if r.code != exitOK || !strings.Contains(r.stdout, "nothing is due") {
			t.Errorf("nothing due: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

func TestPoolFreeCommand(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		p := repairPool(t, b)
		args := []string{"pool", "free", "--redis", backendURL(b), "--prefix", b.Prefix, "--pool", "res"}
		state := func(k string) pool.State {
			st, err := memberState(t.Context(), p.Admin(), k)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}

		r := runCLI(t, cliEnv{}, append(args, "a")...)
		if r.code != exitUsage || state("a") != pool.StateHeld {
			t.Errorf("no tty: exit %d, a %s", r.code, state("a"))
		}
		wantLine(t, r.stdout, `^a: held, fence \d+, permanent lease$`)

		// An unknown key: nothing freed at all.
		r = runCLI(t, cliEnv{}, append(args, "a", "zz", "--yes")...)
		if r.code != exitFail || !strings.Contains(r.stderr, "not members of pool res: zz; nothing was freed") || state("a") != pool.StateHeld {
			t.Errorf("unknown key: exit %d, stderr %q, a %s", r.code, r.stderr, state("a"))
		}

		r = runCLI(t, cliEnv{}, append(args, "a", "c", "--yes")...)
		if r.code != exitOK || state("a") != pool.StateFree {
			t.Errorf("--yes: exit %d, stderr %q, a %s", r.code, r.stderr, state("a"))
		}
		wantLine(t, r.stdout, `^c: free, not held: left alone$`)
		wantLine(t, r.stdout, `^freed 1 member\(s\)$`)
	})
}

func TestQueueRequeueCommand(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		q, err := task.NewInspector(b.Client, b.Prefix, "emails")
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"queue", "requeue", "--redis", backendURL(b), "--prefix", b.Prefix, "--queue", "emails"}
		stats := func() task.Stats {
			st, err := q.Stats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return st
		}

		r := runCLI(t, cliEnv{stdin: "no\n", stdinTTY: true}, append(args, "--all")...)
		if r.code != exitFail || stats().Dead != 1 {
			t.Errorf("answer no: exit %d, stats %+v", r.code, stats())
		}
		wantLine(t, r.stdout, `^queue emails: 1 task\(s\) dead-lettered, 0 ready`)

		// An id not in the set is skipped and named, and the exit status
		// says not everything asked for was done.
		r = runCLI(t, cliEnv{stdin: "yes\n", stdinTTY: true}, append(args, "t-fail", "t-other")...)
		if r.code != exitFail || stats().Dead != 0 || stats().Ready != 1 || !strings.Contains(r.stderr, "not requeued") ||
			!strings.Contains(r.stderr, "t-other") || strings.Contains(r.stderr, "t-fail") {
			t.Errorf("answer yes: exit %d, stderr %q, stats %+v", r.code, r.stderr, stats())
		}
		wantLine(t, r.stdout, `^requeued 1 task\(s\); 1 were not dead-lettered$`)

		r = runCLI(t, cliEnv{}, append(args, "--all")...)
		if r.code != exitOK || !strings.Contains(r.stdout, "nothing to requeue") {
			t.Errorf("empty set: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestUnreadablePoolFailsCommands: when Redis refuses to read a pool (here a
// key of the wrong type in its namespace; BUSY, LOADING or READONLY after a
// failover do the same), the repairs and `inspect pool NAME` fail with exit
// status 2 instead of reporting "nothing to do" or an empty pool.
func TestUnreadablePoolFailsCommands(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		p := repairPool(t, b)
		if err := b.Client.Do(t.Context(), b.Client.B().Set().Key(b.Prefix+":{pool:res}:bindidx").Value("x").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		url := backendURL(b)
		bad := b.Prefix + ":{pool:res}:bindidx"
		// The repairs refuse (the scripts check the key before writing)
		// and name the key; inspect reports it as a violation.
		for _, args := range [][]string{
			{"pool", "gc", "--pool", "res", "--yes"},
			{"pool", "gc", "--all", "--yes"},
			{"pool", "free", "a", "--pool", "res", "--yes"},
		} {
			r := runCLI(t, cliEnv{}, append(args, "--redis", url, "--prefix", b.Prefix)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "corrupt state: "+bad) {
				t.Errorf("%q on a corrupt pool: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
			}
		}
		r := runCLI(t, cliEnv{}, "inspect", "pool", "res", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitFail || !strings.Contains(r.stdout, "key "+bad+" is a string") {
			t.Errorf("inspect on a corrupt pool: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		// The pool had no bindings: without the bad key it reads again.
		if err := b.Client.Do(t.Context(), b.Client.B().Del().Key(b.Prefix+":{pool:res}:bindidx").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if st, err := memberState(t.Context(), p.Admin(), "a"); err != nil || st != pool.StateHeld {
			t.Errorf("a is %s (%v) after the refused repairs", st, err)
		}
	})
}

// memberState is a member's state as the pool's Snapshot reports it, or
// pool.ErrNotMember.
func memberState(ctx context.Context, a *pool.Admin, key string) (pool.State, error) {
	snap, err := a.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range snap.Members {
		if m.Key == key {
			return m.State, nil
		}
	}
	return "", pool.ErrNotMember
}
