package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

// TestVersion: `redisalloc version` names the command's module version,
// the library's and Go's; build information comes from the binary.
func TestVersion(t *testing.T) {
	r := runCLI(t, cliEnv{}, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "redisalloc ") || !strings.Contains(r.stdout, runtime.Version()) ||
		!strings.Contains(r.stdout, libraryPath) {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, cliEnv{}, "version", "x"); r.code != exitUsage {
		t.Errorf("version x: exit %d", r.code)
	}
	bi := &debug.BuildInfo{
		GoVersion: "go1.99", Main: debug.Module{Path: "github.com/redisallocator/redisallocator/cmd/redisalloc", Version: "v1.2.3"},
		Deps: []*debug.Module{{Path: libraryPath, Version: "v1.2.0"}},
	}
	if got, want := versionLine(func() (*debug.BuildInfo, bool) { return bi, true }),
		"redisalloc v1.2.3 (library "+libraryPath+" v1.2.0) go1.99"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := versionLine(func() (*debug.BuildInfo, bool) { return nil, false }); !strings.Contains(got, "unknown version") {
		t.Errorf("no build info: %q", got)
	}
	if !strings.Contains(runCLI(t, cliEnv{}, "help").stdout, "version ") {
		t.Error("help does not list version")
	}
}

// TestHelpFlagsDashes: every command's help writes its flags --name, as
// its usage line and docs/cli.md do, and every flag docs/cli.md names
// with two dashes exists.
func TestHelpFlagsDashes(t *testing.T) {
	groups := map[string]func() []subcommand{
		"pool": poolSubcommands, "queue": queueSubcommands, "task": taskSubcommands,
		"cron": cronSubcommands, "workers": workersSubcommands,
	}
	docs, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range commands {
		// A group's help lists verbs, not flags: each verb's help is read,
		// from the group's own table, so a new verb is checked too.
		names := []string{c.name}
		if subs, ok := groups[c.name]; ok {
			names = nil
			for _, s := range subs() {
				names = append(names, c.name+" "+s.name)
			}
		}
		for _, name := range names {
			r := runCLI(t, cliEnv{}, append(strings.Fields(name), "--help")...)
			if r.code != exitOK {
				t.Fatalf("%s --help: exit %d, %s", name, r.code, r.stderr)
			}
			single := regexp.MustCompile(`(?m)^  -[a-z]`).FindAllString(r.stdout, -1)
			double := regexp.MustCompile(`(?m)^  --([a-z-]+)`).FindAllStringSubmatch(r.stdout, -1)
			if len(single) > 0 || len(double) == 0 {
				t.Errorf("%s --help: %d flags with one dash, %d with two:\n%s", name, len(single), len(double), r.stdout)
			}
			for _, m := range double {
				known[m[1]] = true
			}
		}
	}
	for _, m := range regexp.MustCompile("`[^`]*?--([a-z][a-z-]+)").FindAllStringSubmatch(string(docs), -1) {
		if !known[m[1]] {
			t.Errorf("docs/cli.md names --%s, which no command's help lists", m[1])
		}
	}
	// Both spellings parse.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	p := fs.String("prefix", "", "")
	if err := fs.Parse([]string{"-prefix", "a"}); err != nil || *p != "a" {
		t.Fatal(err)
	}
}

// TestEmptyPrefix: a prefix with nothing under it (a mistyped --prefix)
// is not "healthy": inspect and diagnose say nothing was found and exit 1;
// the JSON report carries an empty-prefix warning.
func TestEmptyPrefix(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		url := backendURL(b)
		p, err := pool.New[item](b.Client, b.Prefix, "real")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(t.Context(), []string{"m1"}); err != nil {
			t.Fatal(err)
		}
		typo := b.Prefix + "-typo"
		for _, cmd := range []string{"inspect", "diagnose"} {
			r := runCLI(t, cliEnv{}, cmd, "--redis", url, "--prefix", typo)
			if r.code != exitFail || !strings.Contains(r.stdout, `nothing found under prefix "`+typo+`"`) {
				t.Errorf("%s: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
			}
			r = runCLI(t, cliEnv{}, cmd, "--json", "--redis", url, "--prefix", typo)
			if r.code != exitFail || !strings.Contains(r.stdout, `"code": "empty-prefix"`) || !strings.Contains(r.stdout, `"health": "degraded"`) {
				t.Errorf("%s --json: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
			}
			// The right prefix is healthy.
			if r := runCLI(t, cliEnv{}, cmd, "--redis", url, "--prefix", b.Prefix); r.code != exitOK {
				t.Errorf("%s on the right prefix: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
			}
		}
	})
}

// TestInspectExitFollowsHealth: inspect exits 1 when the health is
// degraded (here: lapsed leases and dead letters of the seeded prefix),
// as diagnose does, and prints the findings behind it.
func TestInspectExitFollowsHealth(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	seedAll(t, b)
	r := runCLI(t, cliEnv{}, "inspect", "--redis", backendURL(b), "--prefix", b.Prefix)
	if r.code != exitFail || !strings.Contains(r.stderr, "health degraded") || !strings.Contains(r.stdout, "WARNING dead-letters") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	d := runCLI(t, cliEnv{}, "diagnose", "--redis", backendURL(b), "--prefix", b.Prefix)
	if d.code != r.code {
		t.Errorf("inspect exits %d, diagnose %d", r.code, d.code)
	}
}

// TestExportKnowsPoolCodec: without --codec, export decodes with the codec
// the pool records (msgpack here), where it used to assume CBOR and fail;
// import encodes with it; a --codec other than the recorded one is refused
// for import.
func TestExportKnowsPoolCodec(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		url := backendURL(b)
		fillPool(t, b, "mp", codec.MsgPack)
		file := filepath.Join(t.TempDir(), "mp.jsonl")
		r := runCLI(t, cliEnv{}, "pool", "export", "--pool", "mp", "--output", file, "--redis", url, "--prefix", b.Prefix)
		if r.code != exitOK {
			t.Fatalf("export: exit %d, %s", r.code, r.stderr)
		}
		data, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(data), `"addr":"10.0.0.1"`) {
			t.Fatalf("export: %v\n%s", err, data)
		}
		// Import back into the same pool: values stay msgpack.
		r = runCLI(t, cliEnv{}, "pool", "import", file, "--pool", "mp", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitOK {
			t.Fatalf("import: exit %d, %s", r.code, r.stderr)
		}
		p, err := pool.New[item](b.Client, b.Prefix, "mp", pool.WithCodec(codec.MsgPack))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := p.Get(t.Context(), "m1"); err != nil || v.Addr != "10.0.0.1" {
			t.Errorf("m1 after import: %+v, %v", v, err)
		}
		r = runCLI(t, cliEnv{}, "pool", "import", file, "--pool", "mp", "--codec", "json", "--redis", url, "--prefix", b.Prefix)
		if r.code != exitUsage || !strings.Contains(r.stderr, "records codec msgpack, not --codec json") {
			t.Errorf("import with another codec: exit %d, %s", r.code, r.stderr)
		}
	})
}

// dropProxy forwards one Redis connection at a time to addr, but when
// the client sends a command carrying marker, it passes the command on
// and then closes the client's connection instead of forwarding the
// integer reply: the script ran, its reply is lost.
type dropProxy struct {
	ln      net.Listener
	addr    string
	marker  []byte
	mu      sync.Mutex
	dropped bool
}

func newDropProxy(t *testing.T, addr, marker string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, addr: addr, marker: []byte(marker)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *dropProxy) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	s, err := net.Dial("tcp", p.addr)
	if err != nil {
		return
	}
	defer func() { _ = s.Close() }()
	armed := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 && bytes.HasPrefix(buf[:n], []byte("*2\r\n$7\r\nCLUSTER\r\n")) {
				// miniredis answers as a one-node cluster with its own
				// address, which would route around the proxy: be standalone.
				if _, err := c.Write([]byte("-ERR This instance has cluster support disabled\r\n")); err != nil {
					return
				}
				continue
			}
			if n > 0 {
				p.mu.Lock()
				hit := !p.dropped && bytes.Contains(buf[:n], p.marker)
				p.mu.Unlock()
				if hit {
					select {
					case armed <- struct{}{}:
					default:
					}
				}
				if _, err := s.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				_ = s.Close()
				return
			}
		}
	}()
	rd := bufio.NewReader(s)
	for {
		b, err := rd.Peek(1)
		if err != nil {
			return
		}
		select {
		case <-armed:
			if b[0] == ':' { // the script's reply: lose it
				p.mu.Lock()
				p.dropped = true
				p.mu.Unlock()
				return
			}
			armed <- struct{}{} // NOSCRIPT or another reply first
		default:
		}
		n := rd.Buffered()
		chunk := make([]byte, n)
		if _, err := io.ReadFull(rd, chunk); err != nil {
			return
		}
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// TestImportLostReplyNotNothing: when the import script ran but its reply
// was lost, import must not claim that nothing of the batch was applied
// (it was): it says the outcome is unknown. Old code said "nothing of it
// or later batches was applied" while the members were in the pool.
func TestImportLostReplyNotNothing(t *testing.T) {
	b := redisxtest.New(t, redisxtest.BackendMini)
	px := newDropProxy(t, b.Mini.Addr(), "k-lost-1")
	r := runCLI(t, cliEnv{stdin: `{"key":"k-lost-1","priority":3}` + "\n" + `{"key":"k-lost-2"}` + "\n"}, "pool", "import", "-",
		"--redis", "redis://"+px.ln.Addr().String(), "--prefix", b.Prefix, "--pool", "dst", "--timeout", "20s")
	in, err := pool.NewInspector(b.Client, b.Prefix, "dst")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := in.Export(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	px.mu.Lock()
	dropped := px.dropped
	px.mu.Unlock()
	if !dropped {
		t.Fatalf("the proxy dropped no reply (exit %d, %s%s)", r.code, r.stdout, r.stderr)
	}
	if len(recs) != 2 {
		t.Fatalf("the batch was not applied: %+v", recs)
	}
	if r.code != exitFail || strings.Contains(r.stderr, "nothing of it") || !strings.Contains(r.stderr, "may or may not have been applied") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}
