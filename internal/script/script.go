package script

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed lua/*.lua lua/lib/*.lua
var files embed.FS

// includeMarker on a line of its own is replaced by the library file
// lua/lib/<name>.lua, so that scripts of one feature share their helper
// functions without Redis needing modules. The header stays first.
const includeMarker = "-- @include "

// Code is the first word of a script's error reply, for example "NOT_HELD"
// in redis.error_reply('NOT_HELD lock held by another owner').
type Code string

// Codes shared by every feature. Feature-specific codes are declared next to
// the scripts that raise them.
const (
	// CodeInvalid reports an argument the script refused (a defence in depth:
	// Go validates first, so seeing it means a bug or a foreign caller).
	CodeInvalid Code = "INVALID"
)

// Script describes one atomic operation. Values are created once, at package
// initialisation, and must not be modified.
type Script struct {
	// Name is the operation name and the file name without ".lua".
	Name string
	// Keys describes KEYS[1..n] in order, as in the file header.
	Keys []string
	// Args describes ARGV[1..n] in order, as in the file header. A trailing
	// "..." entry means the script takes a variable number of further
	// arguments of the shape described by the entry before it.
	Args []string
	// Errors lists the codes the script may return with error_reply.
	Errors []Code
	// ReadOnly scripts run with EVALSHA_RO, so they may go to replicas and
	// are refused by Redis if they write.
	ReadOnly bool
	// Source is the Lua text, loaded from the embedded file.
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

// register loads the source of s from the embedded files and records it.
// It panics at package initialisation when the file is missing or the name
// is taken twice: both are build mistakes, caught by any test run.
func register(s *Script) *Script {
	src, err := files.ReadFile("lua/" + s.Name + ".lua")
	if err != nil {
		panic(fmt.Sprintf("bug: script %q has no file lua/%s.lua", s.Name, s.Name))
	}
	if _, dup := registry[s.Name]; dup {
		panic(fmt.Sprintf("bug: script %q registered twice", s.Name))
	}
	s.Source = expandIncludes(s.Name, string(src))
	registry[s.Name] = s
	return s
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

// expandIncludes replaces each include marker line with its library file.
func expandIncludes(name, src string) string {
	if !strings.Contains(src, includeMarker) {
		return src
	}
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		lib, ok := strings.CutPrefix(line, includeMarker)
		if !ok {
			continue
		}
		body, err := files.ReadFile("lua/lib/" + strings.TrimSpace(lib) + ".lua")
		if err != nil {
			panic(fmt.Sprintf("bug: script %q includes missing library %q", name, lib))
		}
		lines[i] = strings.TrimRight(string(body), "\n")
	}
	return strings.Join(lines, "\n")
}
