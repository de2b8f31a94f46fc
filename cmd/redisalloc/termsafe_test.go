package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func TestTermSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text\tand tab\n", "plain text\tand tab\n"},
		{"évidemment ünïcode ✓", "évidemment ünïcode ✓"},
		{"evil\x1b]0;PWNED\x07\x1b[31mRED\x1b[0m\rZZ", `evil\x1b]0;PWNED\x07\x1b[31mRED\x1b[0m\x0dZZ`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bad\xffbyte", `bad\xffbyte`},
	} {
		var b bytes.Buffer
		n, err := termSafe{&b}.Write([]byte(tc.in))
		if err != nil || n != len(tc.in) || b.String() != tc.want {
			t.Errorf("%q: wrote %q (%d, %v), want %q", tc.in, b.String(), n, err, tc.want)
		}
	}
}

// TestInspectEscapesKeys: a member key with terminal escape sequences is
// shown escaped in the tables, never sent to the terminal as it is.
func TestInspectEscapesKeys(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	p, err := pool.New[string](b.Client, b.Prefix, "esc")
	if err != nil {
		t.Fatal(err)
	}
	evil := "evil\x1b]0;PWNED\x07\x1b[31mRED"
	if _, err := p.AddKeys(t.Context(), []string{evil}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, cliEnv{}, "inspect", "pool", "esc", "--redis", backendURL(b), "--prefix", b.Prefix)
	if r.code != exitOK || strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, `evil\x1b]0;PWNED\x07\x1b[31mRED`) {
		t.Errorf("exit %d, output %q", r.code, r.stdout)
	}
}
