package script

import (
	"embed"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

//go:embed lua/*.lua lua/lib/*.lua
var files embed.FS

// Code is the first word of a script's error reply, for example "NOT_HELD"
// in redis.error_reply('NOT_HELD lock held by another owner').
type Code string

// Codes shared by every feature. Feature-specific codes are declared next to
// the scripts that raise them. A test checks that the codes the headers
// declare and the constants of this package are the same set.
const (
	// CodeInvalid reports an argument the script refused (a defence in depth:
	// Go validates first, so seeing it means a bug or a foreign caller).
	CodeInvalid Code = "INVALID"
	// CodeCorrupt reports hostile state the script found before its first
	// write: a key of the wrong type, a counter that is no integer, a record
	// that does not parse. The message names the key (and the hash field).
	// Scripts raise it with common.lua's corrupt, so Redis wraps its text;
	// internal/redisx finds the code inside.
	CodeCorrupt Code = "CORRUPT"
)

// Script describes one atomic operation. Every field but Source is read
// from the header of its file (see the package doc); values are created
// once, at package initialisation, and must not be modified.
type Script struct {
	// Name is the operation name and the file name without ".lua".
	Name string
	// Keys describes KEYS[1..n] in order, as in the file header.
	Keys []string
	// Args describes ARGV[1..n] in order, as in the file header. A trailing
	// "..." entry means the script takes a variable number of further
	// arguments of the shape described by the entries before it.
	Args []string
	// Errors lists the codes the script may return with error_reply.
	Errors []Code
	// ReadOnly scripts run with EVALSHA_RO, so they may go to replicas and
	// are refused by Redis if they write.
	ReadOnly bool
	// Source is the Lua text, loaded from the embedded file, with its
	// libraries included.
	Source string
}

// Variadic reports whether the script accepts more ARGV entries than Args
// describes.
func (s *Script) Variadic() bool {
	return len(s.Args) > 0 && s.Args[len(s.Args)-1] == "..."
}

// MinArgs is the number of ARGV entries every call must pass.
func (s *Script) MinArgs() int {
	if s.Variadic() {
		return len(s.Args) - 1
	}
	return len(s.Args)
}

// String returns the script name.
func (s *Script) String() string { return s.Name }

var registry = map[string]*Script{}

// register builds the Script of lua/<name>.lua from its header and source
// and records it. It panics at package initialisation when the file is
// missing, its header is malformed or the name is taken twice: all are
// build mistakes, caught by any test run.
func register(name string) *Script {
	src, err := files.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(fmt.Sprintf("bug: script %q has no file lua/%s.lua", name, name))
	}
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("bug: script %q registered twice", name))
	}
	s, err := parseHeader(string(src))
	if err != nil {
		panic(fmt.Sprintf("bug: lua/%s.lua: %v", name, err))
	}
	if s.Name != name {
		panic(fmt.Sprintf("bug: lua/%s.lua: header names %q", name, s.Name))
	}
	s.Source = expandIncludes(name, string(src))
	registry[name] = s
	return s
}

// Header line forms, in the order a header gives them.
const (
	keyPrefix      = "KEYS["
	argPrefix      = "ARGV["
	variadicPrefix = "ARGV... "
	returnsPrefix  = "Returns"
	errorsPrefix   = "Errors: "
	readOnlyLine   = "Read-only."
)

// parseHeader reads the contract at the top of a script file: the leading
// "-- " lines up to the first other line or include marker. The format is
// described in the package doc; any line it does not describe, a line out
// of order, a missing Returns line or a script without KEYS is an error.
func parseHeader(src string) (*Script, error) {
	s := &Script{}
	// stage orders the line forms: 0 name, 1 KEYS, 2 ARGV, 3 ARGV...,
	// 4 Returns, 5 Errors, 6 Read-only.
	stage := -1
	next := func(st int, text string) error {
		if st < stage || (st == stage && st > 2) {
			return fmt.Errorf("line %q out of order: want name, KEYS, ARGV, ARGV..., Returns, Errors, Read-only", text)
		}
		stage = st
		return nil
	}
	i := -1
	for line := range strings.SplitSeq(src, "\n") {
		i++
		text, ok := strings.CutPrefix(line, "-- ")
		if !ok || strings.HasPrefix(line, includeMarker) {
			break
		}
		if i == 0 {
			name, summary, ok := strings.Cut(text, ": ")
			if !ok || !isName(name) || summary == "" {
				return nil, fmt.Errorf("first line %q is not 'name: summary'", text)
			}
			s.Name, stage = name, 0
			continue
		}
		var err error
		switch {
		case strings.HasPrefix(text, keyPrefix):
			if err = next(1, text); err == nil {
				s.Keys, err = appendIndexed(s.Keys, "KEYS", text)
			}
		case strings.HasPrefix(text, argPrefix):
			if err = next(2, text); err == nil {
				s.Args, err = appendIndexed(s.Args, "ARGV", text)
			}
		case strings.HasPrefix(text, variadicPrefix):
			if err = next(3, text); err == nil && len(s.Args) == 0 {
				err = errors.New("ARGV... without an ARGV[n] line before it")
			}
			s.Args = append(s.Args, "...")
		case strings.HasPrefix(text, returnsPrefix):
			err = next(4, text)
		case strings.HasPrefix(text, errorsPrefix):
			if err = next(5, text); err == nil {
				for c := range strings.SplitSeq(strings.TrimPrefix(text, errorsPrefix), ",") {
					c = strings.TrimSpace(c)
					if !isCode(c) {
						return nil, fmt.Errorf("error code %q is not an upper-case word", c)
					}
					s.Errors = append(s.Errors, Code(c))
				}
			}
		case text == readOnlyLine:
			err = next(6, text)
			s.ReadOnly = true
		default:
			err = fmt.Errorf("header line %q is none of KEYS[n], ARGV[n], ARGV..., Returns, Errors: or Read-only", text)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case stage < 0:
		return nil, errors.New("file does not open with a '-- name: summary' line")
	case stage < 4:
		return nil, errors.New("header has no 'Returns' line")
	case len(s.Keys) == 0:
		return nil, errors.New("header has no KEYS: every script needs one key to route it in a cluster")
	}
	return s, nil
}

// appendIndexed appends the description of a "KEYS[n] description" line,
// which must number the next entry.
func appendIndexed(list []string, what, text string) ([]string, error) {
	idx, desc, ok := strings.Cut(text[len(what)+1:], "] ")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || desc == "" {
		return nil, fmt.Errorf("%q is not '%s[n] description'", text, what)
	}
	if n != len(list)+1 {
		return nil, fmt.Errorf("%s[%d] out of order, want %s[%d]", what, n, what, len(list)+1)
	}
	return append(list, desc), nil
}

// isName reports whether s is a script name: lower-case letters, digits
// and underscores, starting with a letter.
func isName(s string) bool {
	for i, r := range s {
		lower := r >= 'a' && r <= 'z'
		if !lower && (i == 0 || r != '_' && (r < '0' || r > '9')) {
			return false
		}
	}
	return s != ""
}

// isCode reports whether s is an error code: upper-case letters and
// underscores.
func isCode(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return s != ""
}

// All returns every registered script, sorted by name.
func All() []*Script {
	out := make([]*Script, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the registered script with that name.
func Lookup(name string) (*Script, bool) {
	s, ok := registry[name]
	return s, ok
}

// fileNames lists the embedded .lua files without extension, for tests.
func fileNames() []string {
	entries, err := files.ReadDir("lua")
	if err != nil {
		panic("bug: embedded lua directory missing: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".lua"); ok {
			names = append(names, n)
		}
	}
	return names
}
