package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// TestMistypedNamesFail: a pool or queue that does not exist is an error
// (exit 1, inspect's wording), not a silent success that did nothing.
func TestMistypedNamesFail(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		url := backendURL(b)
		out := filepath.Join(t.TempDir(), "x.jsonl")
		for name, tt := range map[string]struct {
			args []string
			want string
		}{
			"Export":  {[]string{"pool", "export", "--pool", "nosuch", "--output", out}, `no pool named "nosuch" under prefix "` + b.Prefix + `"`},
			"GC":      {[]string{"pool", "gc", "--pool", "nosuch", "--yes"}, `no pool named "nosuch" under prefix "` + b.Prefix + `"`},
			"Free":    {[]string{"pool", "free", "k", "--pool", "nosuch", "--yes"}, `no pool named "nosuch" under prefix "` + b.Prefix + `"`},
			"Requeue": {[]string{"queue", "requeue", "--queue", "nosuchq", "--all", "--yes"}, `no queue named "nosuchq" under prefix "` + b.Prefix + `"`},
			"Inspect": {[]string{"inspect", "pool", "nosuch"}, `no pool named "nosuch" under prefix "` + b.Prefix + `"`},
		} {
			r := runCLI(t, cliEnv{}, append(tt.args, "--redis", url, "--prefix", b.Prefix)...)
			if r.code != exitFail || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("%s: exit %d, stderr %q; want 1, %q", name, r.code, r.stderr, tt.want)
			}
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("export of a missing pool wrote %s: %v", out, err)
		}
	})
}

// TestInvalidNamesAreUsageErrors: names that cannot exist are rejected
// (exit 2) with the validation message before Redis is asked, here one
// that cannot be reached: nothing is applied.
func TestInvalidNamesAreUsageErrors(t *testing.T) {
	url := "redis://127.0.0.1:1"
	long := strings.Repeat("k", 100<<10)
	for name, tt := range map[string]struct {
		args []string
		want string
	}{
		"InspectBrace": {[]string{"inspect", "pool", "x{y}"}, "brace"},
		"InspectEmpty": {[]string{"inspect", "pool", ""}, "is empty"},
		"QueueEmpty":   {[]string{"inspect", "queue", ""}, "is empty"},
		"FreeEmptyKey": {[]string{"pool", "free", "", "--pool", "p"}, "is empty"},
		"FreeLongKey":  {[]string{"pool", "free", long, "--pool", "p"}, "longer than"},
		"RequeueBadID": {[]string{"queue", "requeue", "--queue", "q", "ok", "bad\x00id"}, "NUL"},
		"RequeueBadQ":  {[]string{"queue", "requeue", "--queue", "a{b}", "--all"}, "brace"},
		"CodecOnce":    {[]string{"pool", "export", "--pool", "p", "--codec", "nope"}, `unknown codec "nope" (want json, msgpack, cbor, zstd+<one of them> or raw)`},
		"ImportCodec":  {[]string{"pool", "import", "--pool", "p", "--codec", "zstd+nope", "x.jsonl"}, `unknown codec "zstd+nope"`},
	} {
		r := runCLI(t, cliEnv{}, append(tt.args, "--redis", url, "--prefix", "p")...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "connect") {
			t.Errorf("%s: exit %d, stderr %.300q; want 2, %q", name, r.code, r.stderr, tt.want)
		}
		if len(r.stderr) > 1000 {
			t.Errorf("%s: stderr of %d bytes: long names must be cut", name, len(r.stderr))
		}
		if strings.Count(r.stderr, "want json") > 1 {
			t.Errorf("%s: codec list twice: %s", name, r.stderr)
		}
	}
}

// TestLongKeyCutInErrors: a valid but long key that is not a member is
// named by its first bytes and its length.
func TestLongKeyCutInErrors(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		key := strings.Repeat("k", 1000)
		r := runCLI(t, cliEnv{}, "pool", "free", key, "--pool", "proxies", "--yes", "--redis", backendURL(b), "--prefix", b.Prefix)
		if r.code != exitFail || !strings.Contains(r.stderr, "…(1000 bytes)") || len(r.stderr) > 300 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestRequeueBadIDAppliesNothing: one invalid id fails the command before
// any valid one is requeued.
func TestRequeueBadIDAppliesNothing(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		r := runCLI(t, cliEnv{}, "queue", "requeue", "t-fail", "", "--queue", "emails", "--yes", "--redis", backendURL(b), "--prefix", b.Prefix)
		q, err := task.NewInspector(b.Client, b.Prefix, "emails")
		if err != nil {
			t.Fatal(err)
		}
		st, err := q.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r.code != exitUsage || st.Dead != 1 {
			t.Errorf("exit %d, stderr %q, stats %+v", r.code, r.stderr, st)
		}
	})
}

// TestExportOutputError names the file asked for, not the temporary one.
func TestExportOutputError(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		seedAll(t, b)
		out := "/nonexistent/dir/x.jsonl"
		r := runCLI(t, cliEnv{}, "pool", "export", "--pool", "proxies", "--codec", "json", "--output", out, "--redis", backendURL(b), "--prefix", b.Prefix)
		if r.code != exitUsage || !strings.Contains(r.stderr, out) || strings.Contains(r.stderr, ".x.jsonl.") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
