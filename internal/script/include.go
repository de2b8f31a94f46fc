package script

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// includeMarker on a line of its own is replaced by the library file
// lua/lib/<name>.lua, so that scripts share their helper functions without
// Redis needing modules. A library includes the libraries it uses; each
// library enters a script once, where it is first included. The header
// stays first.
const includeMarker = "-- @include "

// expandIncludes replaces each include marker line of a script with its
// library, itself expanded. Of a library whose top level only defines
// locals, only the definitions the script uses (directly or through other
// kept definitions) are kept: each local function costs a closure on every
// call, so a script pays only for the helpers it needs. Kept constants
// (see constantValues) are written where they are used instead.
func expandIncludes(name, src string) string {
	return expand(name, src, true)
}

// expand is expandIncludes; without inlining it keeps the constants'
// definitions (for the tests that check inlining is sound).
func expand(name, src string, inlining bool) string {
	if !strings.Contains(src, includeMarker) {
		return src
	}
	libs := allLibraries()
	// The libraries whose closures cover every included one.
	var included []*library
	direct := includesOf(src)
	for _, lib := range direct {
		l := libs[lib]
		if l == nil {
			panic(fmt.Sprintf("bug: script %q includes missing library %q", name, lib))
		}
		covered := false
		for _, other := range direct {
			if o := libs[other]; o != nil && o != l && slices.Contains(o.closure, l) {
				covered = true
			}
		}
		if !covered {
			included = append(included, l)
		}
	}
	used := map[*definition]bool{}
	var keep func(d *definition)
	keep = func(d *definition) {
		if !used[d] {
			used[d] = true
			for _, u := range d.uses {
				keep(u)
			}
		}
	}
	forEachWord(src, func(w string) {
		for _, l := range included {
			for _, d := range l.reach[w] {
				keep(d)
			}
		}
	})
	for _, l := range included {
		for _, c := range l.closure {
			for _, d := range c.roots {
				keep(d)
			}
		}
	}
	// The constants among the kept definitions are written where they are
	// used, not defined, unless a name is defined twice or assigned.
	consts := map[string]string{}
	inlined := map[*definition]bool{}
	defined := map[string]int{}
	for d := range used {
		for _, n := range d.names {
			defined[n]++
		}
	}
	for d := range used {
		if d.values == nil || !inlining {
			continue
		}
		once := true
		for _, n := range d.names {
			once = once && defined[n] == 1
		}
		if once {
			inlined[d] = true
		}
	}
	for {
		var b strings.Builder
		b.Grow(len(src) * 4)
		expandInto(&b, src, libs, used, inlined, map[string]bool{})
		clear(consts)
		for d := range inlined {
			for i, n := range d.names {
				consts[n] = d.values[i]
			}
		}
		if len(inlined) > 0 && (strings.Contains(b.String(), "[[") || strings.Contains(b.String(), "[=")) {
			// A long string: scanWords would see words in it and write
			// values into it. None of our scripts has one.
			clear(inlined)
			continue
		}
		again := false
		for n := range assignedNames(b.String(), consts) {
			for d := range inlined {
				if slices.Contains(d.names, n) {
					delete(inlined, d)
					again = true
				}
			}
		}
		if !again {
			return substitute(b.String(), consts)
		}
	}
}

func expandInto(b *strings.Builder, src string, libs map[string]*library, used, inlined map[*definition]bool, seen map[string]bool) {
	for line := range strings.SplitSeq(strings.TrimRight(src, "\n"), "\n") {
		lib, ok := strings.CutPrefix(line, includeMarker)
		if !ok {
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		lib = strings.TrimSpace(lib)
		if seen[lib] {
			continue
		}
		seen[lib] = true
		l := libs[lib]
		if l.whole {
			expandInto(b, l.body, libs, used, inlined, seen)
			continue
		}
		if l.preamble != "" {
			expandInto(b, l.preamble, libs, used, inlined, seen)
		}
		for i := range l.defs {
			if d := &l.defs[i]; used[d] && !inlined[d] {
				b.WriteString(d.text)
				b.WriteByte('\n')
			}
		}
	}
}

// library is one lua/lib file split into its top-level definitions.
type library struct {
	body     string
	whole    bool   // it has top-level statements other than definitions: kept whole
	preamble string // the lines above the first definition, always kept
	defs     []definition
	index    map[string]int           // local name -> index in defs of its definition
	closure  []*library               // this library and every library it includes, recursively
	reach    map[string][]*definition // local name -> its definitions in the closure
	roots    []*definition            // definitions a whole library uses: kept whenever it is included
}

// definition is one top-level "local ..." statement of a library with the
// comment lines just above it.
type definition struct {
	text   string
	names  []string      // the locals it defines
	values []string      // their constant values (see constantValues), or nil
	words  []string      // the words it uses (see words)
	uses   []*definition // definitions of its library's closure it uses
}

var (
	libsOnce sync.Once
	libs     map[string]*library
)

// allLibraries splits every file of lua/lib once and links each definition
// to the definitions it uses in its library's closure.
func allLibraries() map[string]*library {
	libsOnce.Do(func() {
		libs = map[string]*library{}
		paths, err := fs.Glob(files, "lua/lib/*.lua")
		if err != nil {
			panic("bug: embedded lua/lib missing: " + err.Error())
		}
		for _, p := range paths {
			body, err := files.ReadFile(p)
			if err != nil {
				panic("bug: " + err.Error())
			}
			name := strings.TrimSuffix(strings.TrimPrefix(p, "lua/lib/"), ".lua")
			libs[name] = splitLibrary(strings.TrimRight(string(body), "\n"))
		}
		for name, l := range libs {
			l.closure = closureOf(name, map[string]bool{})
			l.reach = map[string][]*definition{}
			for _, c := range l.closure {
				for n, i := range c.index {
					l.reach[n] = append(l.reach[n], &c.defs[i])
				}
			}
		}
		for _, l := range libs {
			resolve := func(ws []string, add func(*definition)) {
				for _, w := range ws {
					for _, d := range l.reach[w] {
						add(d)
					}
				}
			}
			for i := range l.defs {
				d := &l.defs[i]
				resolve(d.words, func(u *definition) {
					if u != d {
						d.uses = append(d.uses, u)
					}
				})
			}
			if l.whole {
				resolve(words(l.body), func(u *definition) { l.roots = append(l.roots, u) })
			}
		}
	})
	return libs
}

// closureOf lists lib and the libraries it includes, recursively.
func closureOf(lib string, seen map[string]bool) []*library {
	l := libs[lib]
	if l == nil {
		panic(fmt.Sprintf("bug: missing library %q is included", lib))
	}
	if seen[lib] {
		return nil
	}
	seen[lib] = true
	out := []*library{l}
	for _, dep := range includesOf(l.body) {
		out = append(out, closureOf(dep, seen)...)
	}
	return out
}

// includesOf lists the libraries src includes directly, in order.
func includesOf(src string) []string {
	var out []string
	for line := range strings.SplitSeq(src, "\n") {
		if lib, ok := strings.CutPrefix(line, includeMarker); ok {
			out = append(out, strings.TrimSpace(lib))
		}
	}
	return out
}

// splitLibrary cuts a library before each line that starts with "local "
// in the first column; the comment lines just above such a line go with it.
// Other lines in the first column must be comments, blank or "end" (closing
// a function), else the library is kept whole, as is one with an include
// marker below its first definition.
func splitLibrary(body string) *library {
	l := &library{body: body, index: map[string]int{}}
	lines := strings.Split(body, "\n")
	var at, from []int // each definition's "local" line and first line
	comment := -1      // first line of the comment block above the next definition
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "local "):
			f := i
			if comment >= 0 {
				f = comment
			}
			at, from, comment = append(at, i), append(from, f), -1
		case strings.HasPrefix(line, includeMarker):
			// Includes belong to the preamble; one further down stays in
			// place by keeping the whole library.
			l.whole = l.whole || len(at) > 0
			comment = -1
		case strings.HasPrefix(line, "--"):
			if comment < 0 {
				comment = i
			}
		case strings.TrimSpace(line) == "":
			comment = -1 // a blank line ends the comment above a definition
		case strings.HasPrefix(line, " ") || line == "end":
			comment = -1
		default:
			l.whole = true
		}
	}
	if l.whole || len(at) == 0 {
		l.whole = true
		return l
	}
	l.preamble = strings.Join(lines[:from[0]], "\n")
	for k, i := range at {
		end := len(lines)
		if k+1 < len(from) {
			end = from[k+1]
		}
		text := strings.Join(lines[from[k]:end], "\n")
		l.defs = append(l.defs, definition{text: text, names: definedNames(lines[i]), words: words(text)})
		l.defs[k].values = constantValues(&l.defs[k])
		for _, n := range l.defs[k].names {
			l.index[n] = k
		}
	}
	return l
}

// definedNames returns the locals a "local function f(" or "local a, b ="
// line defines.
func definedNames(line string) []string {
	rest := strings.TrimPrefix(line, "local ")
	if fn, ok := strings.CutPrefix(rest, "function "); ok {
		name, _, _ := strings.Cut(fn, "(")
		return []string{strings.TrimSpace(name)}
	}
	list, _, _ := strings.Cut(rest, "=")
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	return names
}

// words returns the distinct words of text (see forEachWord).
func words(text string) []string {
	seen := map[string]bool{}
	var out []string
	forEachWord(text, func(w string) {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	})
	return out
}

// forEachWord calls fn with each identifier-like word of text that may
// name a local (see scanWords).
func forEachWord(text string, fn func(string)) {
	for line := range strings.SplitSeq(text, "\n") {
		scanWords(line, func(from, to int) { fn(line[from:to]) })
	}
}

// scanWords calls fn with the bounds of each identifier-like word of line
// that may name a local: words in comments and in quoted strings, and
// field or method names (after a single "." or a ":"), are skipped. It errs
// on the side of a use: a word in a long string ([[...]]) or on a later
// line of a long comment still counts, which keeps a definition the script
// does not need (a closure per call) but never breaks a script. A use
// missed would drop a helper the script calls; TestScriptsUseOnlyLocals
// catches that.
func scanWords(line string, fn func(from, to int)) {
	start := -1 // first byte of the word being read
	field := false
	for i := 0; i <= len(line); i++ {
		c := byte(0)
		if i < len(line) {
			c = line[i]
		}
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if !field {
				fn(start, i)
			}
			start = -1
		}
		switch {
		case c == '-' && i+1 < len(line) && line[i+1] == '-':
			return // a comment runs to the end of the line
		case c == '\'' || c == '"':
			// Skip the quoted string, escapes included; an unclosed one
			// (not Lua) ends with the line.
			for i++; i < len(line) && line[i] != c; i++ {
				if line[i] == '\\' {
					i++
				}
			}
		}
		// A word right after one "." (not "..") or a ":" is a field or a
		// method name; spaces around them are not our style.
		dot := c == '.' && (i == 0 || line[i-1] != '.') && (i+1 >= len(line) || line[i+1] != '.')
		field = dot || c == ':'
	}
}

// constantValues returns the values of a definition "local A, B = v1, v2"
// (on one or more lines, comments aside) whose names are all upper case
// and whose values are all number or string literals; nil for any other
// definition. The expansion writes those values where the names are used
// instead of defining locals: a local that a helper uses is an upvalue,
// and Lua 5.1 links each upvalue of each closure anew on every call of the
// script (a search through the open upvalues, then an allocation), while a
// literal is a constant of the compiled function. Key names (KEYS[n]) stay
// locals: a use of KEYS[n] costs a table lookup each time it runs, more
// than the link in scripts whose loops use them.
func constantValues(d *definition) []string {
	var code []string
	for line := range strings.SplitSeq(d.text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			code = append(code, strings.TrimSpace(line))
		}
	}
	stmt := strings.Join(code, " ")
	if i := strings.Index(stmt, " --"); i >= 0 {
		stmt = stmt[:i] // a trailing comment; a value holding " --" is no literal we inline
	}
	names, list, ok := strings.Cut(strings.TrimPrefix(stmt, "local "), "=")
	if !ok || strings.Contains(names, "(") || strings.HasPrefix(list, "=") {
		return nil
	}
	for _, n := range d.names {
		if !isConstantName(n) {
			return nil
		}
	}
	var values []string
	for v := range strings.SplitSeq(list, ",") {
		v = strings.TrimSpace(v)
		if !isConstantValue(v) {
			return nil
		}
		values = append(values, v)
	}
	if len(values) != len(d.names) {
		return nil
	}
	return values
}

// isConstantName reports whether n is upper case: letters, digits and
// underscores, starting with a letter.
func isConstantName(n string) bool {
	for i, r := range n {
		if (r < 'A' || r > 'Z') && (i == 0 || r != '_' && (r < '0' || r > '9')) {
			return false
		}
	}
	return n != ""
}

// isConstantValue reports whether v is a literal the expansion may write
// in place of a name: a whole decimal number or a quoted string without
// escapes or commas.
func isConstantValue(v string) bool {
	switch {
	case v == "":
		return false
	case v[0] >= '0' && v[0] <= '9':
		return strings.Trim(v, "0123456789") == ""
	case len(v) >= 2 && (v[0] == '\'' || v[0] == '"'):
		body := v[1 : len(v)-1]
		return v[len(v)-1] == v[0] && !strings.ContainsAny(body, "\\'\",\n")
	}
	return false
}

// assignedNames lists the names of consts that text assigns or uses as a
// table key ("NAME ="): those stay locals.
func assignedNames(text string, consts map[string]string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.SplitSeq(text, "\n") {
		scanWords(line, func(from, to int) {
			rest := strings.TrimLeft(line[to:], " ")
			if _, ok := consts[line[from:to]]; ok && strings.HasPrefix(rest, "=") && !strings.HasPrefix(rest, "==") {
				out[line[from:to]] = true
			}
		})
	}
	return out
}

// substitute writes, in text, each constant's value where its name is used,
// in parentheses where a ".", "[", ":" or "(" follows.
func substitute(text string, consts map[string]string) string {
	lines := strings.Split(text, "\n")
	for k, line := range lines {
		var b strings.Builder
		last := 0
		scanWords(line, func(from, to int) {
			v, ok := consts[line[from:to]]
			if !ok {
				return
			}
			b.WriteString(line[last:from])
			if to < len(line) && strings.IndexByte(".[:(", line[to]) >= 0 {
				v = "(" + v + ")"
			}
			b.WriteString(v)
			last = to
		})
		if last > 0 {
			b.WriteString(line[last:])
			lines[k] = b.String()
		}
	}
	return strings.Join(lines, "\n")
}
