package script

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// header is what a file's opening comment block declares.
type header struct {
	name     string
	summary  string
	keys     []string
	args     []string
	errors   []Code
	readOnly bool
	returns  bool
}

var (
	reNameLine = regexp.MustCompile(`^([a-z][a-z0-9_]*): (.+)$`)
	reKeyLine  = regexp.MustCompile(`^KEYS\[(\d+)\] (.+)$`)
	reArgLine  = regexp.MustCompile(`^ARGV\[(\d+)\] (.+)$`)
	reErrReply = regexp.MustCompile(`error_reply\(\s*'([A-Z_]+)[ ']`)
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

// parseHeader reads the leading "-- " comment block of a script file.
func parseHeader(src string) (header, error) {
	var h header
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		text, ok := strings.CutPrefix(line, "-- ")
		if !ok {
			if i == 0 {
				return h, fmt.Errorf("file does not open with a '-- name: summary' line")
			}
			break
		}
		switch {
		case i == 0:
			m := reNameLine.FindStringSubmatch(text)
			if m == nil {
				return h, fmt.Errorf("first line %q is not 'name: summary'", text)
			}
			h.name, h.summary = m[1], m[2]
		case reKeyLine.MatchString(text):
			m := reKeyLine.FindStringSubmatch(text)
			if n, _ := strconv.Atoi(m[1]); n != len(h.keys)+1 {
				return h, fmt.Errorf("KEYS[%s] out of order, want KEYS[%d]", m[1], len(h.keys)+1)
			}
			h.keys = append(h.keys, m[2])
		case reArgLine.MatchString(text):
			m := reArgLine.FindStringSubmatch(text)
			if n, _ := strconv.Atoi(m[1]); n != len(h.args)+1 {
				return h, fmt.Errorf("ARGV[%s] out of order, want ARGV[%d]", m[1], len(h.args)+1)
			}
			h.args = append(h.args, m[2])
		case strings.HasPrefix(text, "ARGV... "): // variadic: what follows says how
			h.args = append(h.args, "...")
		case strings.HasPrefix(text, "Returns"):
			h.returns = true
		case strings.HasPrefix(text, "Errors: "):
			for c := range strings.SplitSeq(strings.TrimPrefix(text, "Errors: "), ",") {
				h.errors = append(h.errors, Code(strings.TrimSpace(c)))
			}
		case text == "Read-only.":
			h.readOnly = true
		}
	}
	return h, nil
}

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

func TestHeaderMatchesDescription(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			h, err := parseHeader(s.Source)
			if err != nil {
				t.Fatalf("header: %v", err)
			}
			if h.name != s.Name {
				t.Errorf("header names %q, file and Script say %q", h.name, s.Name)
			}
			if !slices.Equal(h.keys, s.Keys) {
				t.Errorf("KEYS differ:\nheader: %q\nGo:     %q", h.keys, s.Keys)
			}
			if !slices.Equal(h.args, s.Args) {
				t.Errorf("ARGV differ:\nheader: %q\nGo:     %q", h.args, s.Args)
			}
			if !slices.Equal(h.errors, s.Errors) {
				t.Errorf("Errors differ: header %q, Go %q", h.errors, s.Errors)
			}
			if h.readOnly != s.ReadOnly {
				t.Errorf("read-only: header %v, Go %v", h.readOnly, s.ReadOnly)
			}
			if !h.returns {
				t.Errorf("header has no 'Returns' line")
			}
			if len(s.Keys) == 0 {
				t.Errorf("script has no KEYS: every script needs one key to route it in a cluster")
			}
		})
	}
}

func TestErrorRepliesAreDeclared(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
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

func TestScriptsNeverBuildKeyNames(t *testing.T) {
	t.Parallel()
	// A key built in Lua escapes the hash tag check and breaks Redis Cluster:
	// every redis.call key argument must be KEYS[n].
	// Locals bound straight to KEYS entries ("local FREE, HOLDERS = KEYS[1],
	// KEYS[2]") count as KEYS.
	reCall := regexp.MustCompile(`redis\.p?call\(\s*'([A-Za-z]+)'\s*,\s*([^,)]+)`)
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
			if first := strings.TrimSpace(m[2]); !strings.HasPrefix(first, "KEYS[") && !keyNames[first] {
				t.Errorf("%s: redis.call('%s', %s ...): first argument must be a KEYS entry", s.Name, m[1], first)
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
		"ArgsOutOfOrder": "-- x: y\n-- KEYS[1] a\n-- ARGV[2] b\n",
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
	for _, s := range All() {
		if strings.Contains(s.Source, includeMarker) {
			t.Errorf("%s: include marker left after expansion", s.Name)
		}
	}
	for _, n := range fileNames() {
		src, _ := files.ReadFile("lua/" + n + ".lua")
		for _, line := range strings.Split(string(src), "\n") {
			if lib, ok := strings.CutPrefix(line, includeMarker); ok {
				used[strings.TrimSpace(lib)] = true
			}
		}
	}
	libs, _ := files.ReadDir("lua/lib")
	for _, l := range libs {
		if n := strings.TrimSuffix(l.Name(), ".lua"); !used[n] {
			t.Errorf("library lua/lib/%s is included by no script", l.Name())
		}
	}
}
