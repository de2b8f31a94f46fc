package script

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	reErrReply = regexp.MustCompile(`(?:error_reply|error)\(\s*'([A-Z_]+)[ ']`)
	// Commands that change data; a read-only script must not call them.
	writeCommands = []string{
		"SET", "SETEX", "PSETEX", "SETNX", "GETSET", "GETDEL", "GETEX", "DEL", "UNLINK", "EXPIRE", "PEXPIRE",
		"EXPIREAT", "PEXPIREAT", "PERSIST", "INCR", "INCRBY", "DECR", "DECRBY", "INCRBYFLOAT", "APPEND",
		"HSET", "HSETNX", "HMSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "ZADD", "ZREM", "ZINCRBY",
		"ZPOPMIN", "ZPOPMAX", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "SADD", "SREM", "SPOP", "LPUSH",
		"RPUSH", "LPOP", "RPOP", "LMOVE", "LREM", "LSET", "LTRIM", "XADD", "XDEL", "XTRIM", "XACK",
		"RENAME", "COPY", "MSET", "PUBLISH",
	}
)

func TestEveryFileRegisteredOnce(t *testing.T) {
	t.Parallel()
	names := fileNames()
	if len(names) == 0 {
		t.Fatal("no embedded scripts")
	}
	for _, n := range names {
		if _, ok := registry[n]; !ok {
			t.Errorf("lua/%s.lua is embedded but no Script value registers it", n)
		}
	}
	for n := range registry {
		if !slices.Contains(names, n) {
			t.Errorf("script %q registered without a file", n)
		}
	}
	if len(All()) != len(names) {
		t.Errorf("All() has %d scripts, %d files embedded", len(All()), len(names))
	}
}

// TestHeaderContract pins the descriptor read from one header, so that a
// parser change cannot silently drop what callers rely on.
func TestHeaderContract(t *testing.T) {
	t.Parallel()
	want := &Script{
		Name: "pool_free",
		Keys: []string{
			"free set", "holders", "unhealthy", "timers", "priorities", "values",
			"fence counter", "bindings", "binding index", "wake-up list", "waiter count", "session index",
			"allocation counter",
		},
		Args: []string{
			"member",
			`holder token, empty to free whoever holds it, or "=" and a fence to free the lease only while it has that fence (administrators)`,
			"...",
		},
		Errors: []Code{CodeInvalid, CodeCorrupt},
	}
	got := *PoolFree
	got.Source = ""
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("PoolFree = %+v\nwant       %+v", &got, want)
	}
	if !PoolInspect.ReadOnly || PoolMalloc.ReadOnly {
		t.Errorf("read-only: pool_inspect %v, pool_malloc %v", PoolInspect.ReadOnly, PoolMalloc.ReadOnly)
	}
	if PoolScale.MinArgs() != 7 || len(PoolScale.Keys) != 15 {
		t.Errorf("pool_scale: %d args, %d keys, want 7 and 15", PoolScale.MinArgs(), len(PoolScale.Keys))
	}
}

// TestDocExampleMatchesFile keeps the header shown in doc.go equal to the
// file it quotes.
func TestDocExampleMatchesFile(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for line := range strings.SplitSeq(string(doc), "\n") {
		if l, ok := strings.CutPrefix(line, "//\t-- "); ok {
			example = append(example, "-- "+l)
		}
	}
	if len(example) == 0 {
		t.Fatal("doc.go shows no header")
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(example[0], "-- "), ":")
	src, err := files.ReadFile("lua/" + name + ".lua")
	if err != nil {
		t.Fatalf("doc.go quotes %s: %v", name, err)
	}
	lines := strings.Split(string(src), "\n")
	if len(lines) < len(example) || !slices.Equal(lines[:len(example)], example) {
		t.Errorf("doc.go's example differs from the header of lua/%s.lua:\ndoc:  %q\nfile: %q", name, example, lines[:min(len(lines), len(example))])
	}
}

func TestErrorRepliesAreDeclared(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		if len(s.Errors) != len(slices.Compact(slices.Clone(s.Errors))) {
			t.Errorf("%s declares an error code twice: %q", s.Name, s.Errors)
		}
		for _, m := range reErrReply.FindAllStringSubmatch(s.Source, -1) {
			if !slices.Contains(s.Errors, Code(m[1])) {
				t.Errorf("%s raises %s but does not declare it in Errors", s.Name, m[1])
			}
		}
		for _, c := range s.Errors {
			if !strings.Contains(s.Source, "'"+string(c)) {
				t.Errorf("%s declares %s but never raises it", s.Name, c)
			}
		}
	}
}

// TestErrorCodesAreConstants: every code a header declares is a Code
// constant of this package (the name the feature packages' error tables
// use), and every constant is declared by some header.
func TestErrorCodesAreConstants(t *testing.T) {
	t.Parallel()
	consts := codeConstants(t)
	declared := map[Code]bool{}
	for _, s := range All() {
		for _, c := range s.Errors {
			declared[c] = true
			if consts[c] == "" {
				t.Errorf("%s declares %s, which is no Code constant", s.Name, c)
			}
		}
	}
	for c, name := range consts {
		if !declared[c] {
			t.Errorf("%s (%s) is declared by no script header", name, c)
		}
	}
}

// codeConstants reads the Code constants of this package's Go files:
// value -> constant name.
func codeConstants(t *testing.T) map[Code]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[Code]string{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: %s is not a string literal", p, n.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					if prev, dup := out[Code(v)]; dup {
						t.Errorf("%s and %s are both %q", prev, n.Name, v)
					}
					out[Code(v)] = n.Name
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no Code constants found")
	}
	return out
}

func TestScriptsNeverBuildKeyNames(t *testing.T) {
	t.Parallel()
	// A key built in Lua escapes the hash tag check and breaks Redis Cluster:
	// every redis.call key argument must be KEYS[n].
	// Locals bound straight to KEYS entries ("local FREE, HOLDERS = KEYS[1],
	// KEYS[2]") count as KEYS.
	reCall := regexp.MustCompile(`redis\.p?call\(\s*'([A-Za-z]+)'\s*,\s*([^,)]+)`)
	// The library helpers that take a key (their own redis.call passes
	// their parameter "key"): their callers must pass KEYS entries too.
	reHelper := regexp.MustCompile(`\b((?:want_type|want|has_type|check|read_counter|corrupt|next_fences)\(|(?:checked|read)\(\s*'[A-Za-z]+'\s*,)\s*([^,)]+)`)
	reBind := regexp.MustCompile(`(?m)^local ([A-Z_][A-Z0-9_]*(?:,\s*[A-Z_][A-Z0-9_]*)*)\s*=\s*((?:KEYS\[\d+\],?\s*)+)`)
	noKey := map[string]bool{"TIME": true}
	for _, s := range All() {
		keyNames := map[string]bool{}
		for _, m := range reBind.FindAllStringSubmatch(s.Source, -1) {
			names := strings.Split(m[1], ",")
			if n := strings.Count(m[2], "KEYS["); n != len(names) {
				t.Errorf("%s: %d names bound to %d KEYS entries", s.Name, len(names), n)
			}
			for _, n := range names {
				keyNames[strings.TrimSpace(n)] = true
			}
		}
		for _, m := range reCall.FindAllStringSubmatch(s.Source, -1) {
			if noKey[strings.ToUpper(m[1])] {
				continue
			}
			if first := strings.TrimSpace(m[2]); !strings.HasPrefix(first, "KEYS[") && !keyNames[first] && first != "key" {
				t.Errorf("%s: redis.call('%s', %s ...): first argument must be a KEYS entry", s.Name, m[1], first)
			}
		}
		for _, m := range reHelper.FindAllStringSubmatch(s.Source, -1) {
			if first := strings.TrimSpace(m[2]); !strings.HasPrefix(first, "KEYS[") && !keyNames[first] && first != "key" {
				t.Errorf("%s: %s %s ...): the key argument must be a KEYS entry", s.Name, m[1], first)
			}
		}
	}
}

func TestReadOnlyScriptsDoNotWrite(t *testing.T) {
	t.Parallel()
	reCall := regexp.MustCompile(`redis\.p?call\(\s*'([A-Za-z]+)'`)
	for _, s := range All() {
		if !s.ReadOnly {
			continue
		}
		for _, m := range reCall.FindAllStringSubmatch(s.Source, -1) {
			if slices.Contains(writeCommands, strings.ToUpper(m[1])) {
				t.Errorf("read-only script %s calls %s", s.Name, m[1])
			}
		}
	}
}

func TestParseHeaderRejectsBadHeaders(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"NoHeader":       "return 1\n",
		"BadFirstLine":   "-- Lock Acquire takes a lock\n",
		"KeysOutOfOrder": "-- x: y\n-- KEYS[2] b\n",
		"ArgsOutOfOrder": "-- x: y\n-- KEYS[1] a\n-- ARGV[2] b\n-- Returns 1.\n",
		"NoReturns":      "-- x: y\n-- KEYS[1] a\n-- ARGV[1] b\n",
		"NoKeys":         "-- x: y\n-- ARGV[1] b\n-- Returns 1.\n",
		"UnknownLine":    "-- x: y\n-- KEYS[1] a\n-- Error: INVALID\n-- Returns 1.\n",
		"KeysAfterArgs":  "-- x: y\n-- ARGV[1] b\n-- KEYS[1] a\n-- Returns 1.\n",
		"ErrorsFirst":    "-- x: y\n-- KEYS[1] a\n-- Errors: INVALID\n-- Returns 1.\n",
		"TwoReturns":     "-- x: y\n-- KEYS[1] a\n-- Returns 1.\n-- Returns 2.\n",
		"LowerCaseCode":  "-- x: y\n-- KEYS[1] a\n-- Returns 1.\n-- Errors: invalid\n",
		"EmptyKey":       "-- x: y\n-- KEYS[1] \n-- Returns 1.\n",
		"VariadicAlone":  "-- x: y\n-- KEYS[1] a\n-- ARGV... more\n-- Returns 1.\n",
		"ArgsAfterDots":  "-- x: y\n-- KEYS[1] a\n-- ARGV[1] b\n-- ARGV... more\n-- ARGV[2] c\n-- Returns 1.\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := parseHeader(src); err == nil {
				t.Errorf("parseHeader(%q) accepted a bad header", src)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	src := "-- x_1: does y.\n-- KEYS[1] a key\n-- KEYS[2] b\n-- ARGV[1] c: d, e\n-- ARGV... repeats\n" +
		"-- Returns 1.\n-- Errors: INVALID, NOT_HELD\n-- Read-only.\n-- @include pool\n-- KEYS[3] not header\nreturn 1\n"
	got, err := parseHeader(src)
	if err != nil {
		t.Fatal(err)
	}
	want := &Script{
		Name: "x_1", Keys: []string{"a key", "b"}, Args: []string{"c: d, e", "..."},
		Errors: []Code{CodeInvalid, CodeNotHeld}, ReadOnly: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseHeader = %+v, want %+v", got, want)
	}
}

func TestVariadic(t *testing.T) {
	t.Parallel()
	s := &Script{Args: []string{"a", "b", "..."}}
	if !s.Variadic() || s.MinArgs() != 2 {
		t.Errorf("Variadic=%v MinArgs=%d, want true 2", s.Variadic(), s.MinArgs())
	}
	s = &Script{Args: []string{"a"}}
	if s.Variadic() || s.MinArgs() != 1 {
		t.Errorf("Variadic=%v MinArgs=%d, want false 1", s.Variadic(), s.MinArgs())
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	if s, ok := Lookup("ceiling"); !ok || s != Ceiling {
		t.Errorf("Lookup(ceiling) = %v, %v", s, ok)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
}

func TestIncludesExpanded(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	libs, _ := files.ReadDir("lua/lib")
	for _, s := range All() {
		if strings.Contains(s.Source, includeMarker) {
			t.Errorf("%s: include marker left after expansion", s.Name)
		}
		// Each library enters once: its opening comment line appears at
		// most once.
		for _, l := range libs {
			body, _ := files.ReadFile("lua/lib/" + l.Name())
			first, _, _ := strings.Cut(string(body), "\n")
			if n := strings.Count(s.Source, first+"\n"); n > 1 {
				t.Errorf("%s: library %s included %d times", s.Name, l.Name(), n)
			}
		}
	}
	paths, _ := fs.Glob(files, "lua/*.lua")
	more, _ := fs.Glob(files, "lua/lib/*.lua")
	for _, p := range append(paths, more...) {
		src, _ := files.ReadFile(p)
		for line := range strings.SplitSeq(string(src), "\n") {
			if lib, ok := strings.CutPrefix(line, includeMarker); ok {
				used[strings.TrimSpace(lib)] = true
			}
		}
	}
	for _, l := range libs {
		if n := strings.TrimSuffix(l.Name(), ".lua"); !used[n] {
			t.Errorf("library lua/lib/%s is included by no script", l.Name())
		}
	}
}

func TestIncludeOnce(t *testing.T) {
	t.Parallel()
	got := expandIncludes("t", "-- t: x\n-- @include pool_write\n-- @include pool\n-- @include common\nreturn {now_ms(), FREE, wake}\n")
	for _, lib := range []string{"common", "pool", "pool_write"} {
		body, _ := files.ReadFile("lua/lib/" + lib + ".lua")
		first, _, _ := strings.Cut(string(body), "\n")
		if n := strings.Count(got, first+"\n"); n != 1 {
			t.Errorf("%s included %d times, want once", lib, n)
		}
	}
	if c, p := strings.Index(got, "local function now_ms"), strings.Index(got, "local function wake"); c < 0 || p < c {
		t.Errorf("common must come before pool_write: now_ms at %d, wake at %d", c, p)
	}
}

// TestIncludeKeepsOnlyWhatIsUsed: a library contributes the definitions the
// script uses, directly or through other definitions, and nothing else.
func TestIncludeKeepsOnlyWhatIsUsed(t *testing.T) {
	t.Parallel()
	got := expandIncludes("t", "-- t: x\n-- @include pool_write\nlocal s = free_score(0, 1)\nwake(1)\nreturn s\n")
	for _, want := range []string{
		"local function fmt", "local function free_score", "local function wake", "local function call_chunked",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("expansion lacks %q (used)", want)
		}
	}
	// Used constants are written where they are used; key names stay.
	for _, want := range []string{"2199023255552", "1704067200000", "60000", "local FREE, HOLDERS"} {
		if !strings.Contains(got, want) {
			t.Errorf("expansion lacks the inlined %q", want)
		}
	}
	for _, inlined := range []string{"local SPAN", "local EPOCH", "local WAITER_STALE", "SPAN", "WAITER_STALE"} {
		if strings.Contains(got, inlined) {
			t.Errorf("expansion keeps %q (inlined)", inlined)
		}
	}
	for _, unused := range []string{"local function now_ms", "local function fire_timers", "local function release", "local function parse_lease", "local function state(", "local function prio_of"} {
		if strings.Contains(got, unused) {
			t.Errorf("expansion keeps %q (unused)", unused)
		}
	}
	// A library with other top-level statements is kept whole.
	if got := expandIncludes("t", "-- t: x\n-- @include lock_compare\nreturn 1\n"); !strings.Contains(got, "local function decimal") {
		t.Error("lock_compare was pruned although its top level runs checks")
	}
	if !strings.Contains(PoolMalloc.Source, "local function fire_due") || strings.Contains(PoolUnwait.Source, "local function fire_due") {
		t.Error("pool_malloc must keep fire_due, pool_unwait must not")
	}
}

// BenchmarkInit measures what package initialisation does for every script:
// read the file, parse its header, expand its includes.
func BenchmarkInit(b *testing.B) {
	names := fileNames()
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			src, _ := files.ReadFile("lua/" + n + ".lua")
			if _, err := parseHeader(string(src)); err != nil {
				b.Fatal(err)
			}
			expandIncludes(n, string(src))
		}
	}
}

func TestNamesAndCodes(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"pool_malloc": true, "a1": true, "x": true, "": false, "_a": false, "1a": false, "Pool": false, "a-b": false} {
		if got := isName(s); got != want {
			t.Errorf("isName(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{"NOT_HELD": true, "INVALID": true, "": false, "Invalid": false, "NOT-HELD": false, "E1": false} {
		if got := isCode(s); got != want {
			t.Errorf("isCode(%q) = %v", s, got)
		}
	}
}
