package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect/inspecttest"
	"github.com/redisallocator/redisallocator/health"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

// TestWorkersReapCommand: the dead-workers repair asks first, removes only
// dead sessions, and rejects bad or unknown groups.
func TestWorkersReapCommand(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		reg, err := health.NewRegistry(b.Client, b.Prefix, health.WithGroup(inspecttest.Group))
		if err != nil {
			t.Fatal(err)
		}
		ids := func() []string {
			ws, err := reg.Workers(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, w := range ws {
				out = append(out, w.ID)
			}
			return out
		}
		both := []string{inspecttest.LiveWorker, inspecttest.DeadWorker}
		slices.Sort(both)
		args := []string{"workers", "reap", "--redis", backendURL(b), "--prefix", b.Prefix, "--group", inspecttest.Group}

		// Without a terminal and --yes: refused, nothing removed.
		r := runCLI(t, cliEnv{}, args...)
		if r.code != exitUsage || !slices.Equal(ids(), both) || !strings.Contains(r.stderr, "--yes") {
			t.Errorf("no --yes: exit %d, workers %v\n%s", r.code, ids(), r.stderr)
		}
		wantLine(t, r.stdout, `^group workers: 2 session\(s\), 1 dead$`)

		r = runCLI(t, cliEnv{}, append(args, "--yes")...)
		if r.code != exitOK || !slices.Equal(ids(), []string{inspecttest.LiveWorker}) {
			t.Errorf("--yes: exit %d, workers %v\n%s%s", r.code, ids(), r.stdout, r.stderr)
		}
		wantLine(t, r.stdout, `^reaped 1 session\(s\)$`)

		r = runCLI(t, cliEnv{}, append(args, "--yes")...)
		if r.code != exitOK || !strings.Contains(r.stdout, "nothing to reap") {
			t.Errorf("again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}

		r = runCLI(t, cliEnv{}, "workers", "reap", "--redis", backendURL(b), "--prefix", b.Prefix, "--group", "nosuch", "--yes")
		if r.code != exitFail || !strings.Contains(r.stderr, `no worker sessions in group "nosuch"`) {
			t.Errorf("unknown group: exit %d\n%s", r.code, r.stderr)
		}
		r = runCLI(t, cliEnv{}, "workers", "reap", "--redis", backendURL(b), "--prefix", b.Prefix, "--group", "x{y}", "--yes")
		if r.code != exitUsage {
			t.Errorf("bad group: exit %d\n%s", r.code, r.stderr)
		}
	})
}
