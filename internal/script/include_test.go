package script

import (
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// unusedDefinitions lists the names of the top-level library definitions
// in an expanded script that nothing outside their own statement uses:
// each costs a closure or a table on every call for nothing. Names are
// resolved with their scopes, so a parameter or a local of the script that
// shadows a helper's name does not count as a use of the helper.
func unusedDefinitions(src string) ([]string, error) {
	stmts, err := parse.Parse(strings.NewReader(src), "script")
	if err != nil {
		return nil, err
	}
	lib := map[string]bool{}
	for _, l := range allLibraries() {
		if !l.whole { // a whole library is kept whole on purpose
			for n := range l.index {
				lib[n] = true
			}
		}
	}
	r := &resolver{top: map[string]int{}, used: map[int]bool{}}
	r.push()
	var defs []int
	for i, st := range stmts {
		r.cur = i
		r.stmt(st)
		if las, ok := st.(*ast.LocalAssignStmt); ok && lib[las.Names[0]] {
			defs = append(defs, i)
			for _, n := range las.Names {
				r.top[n] = i
			}
		}
	}
	var out []string
	for _, i := range defs {
		if !r.used[i] {
			out = append(out, strings.Join(stmts[i].(*ast.LocalAssignStmt).Names, ", "))
		}
	}
	return out, nil
}

// TestScriptsKeepNoUnusedDefinition: of its libraries, every script gets
// only definitions it uses. Its counterpart, a used helper the expansion
// dropped, fails TestScriptsUseOnlyLocals.
func TestScriptsKeepNoUnusedDefinition(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		unused, err := unusedDefinitions(s.Source)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		for _, n := range unused {
			t.Errorf("%s: keeps %s, which it never uses", s.Name, n)
		}
	}
}

func TestForEachWordSkipsStringsCommentsFields(t *testing.T) {
	t.Parallel()
	src := "local x = release(a.b, t:m(), 'fmt \\' now_ms', \"corrupt\") -- wake\n" +
		"return c .. d, e..f, ...\n-- whole comment line\nlocal s = [[long]] --[[ g ]] h"
	var got []string
	forEachWord(src, func(w string) { got = append(got, w) })
	want := "local x release a t return c d e f local s long"
	if strings.Join(got, " ") != want {
		t.Errorf("words %q, want %q", strings.Join(got, " "), want)
	}
}

// TestInlinedConstantsAreConstant: writing a constant's value where its
// name is used is sound only if, in the script as it would read with the
// constant defined, the name is declared once (no parameter or local of
// that name elsewhere), never assigned, and every use resolves to a local.
func TestInlinedConstantsAreConstant(t *testing.T) {
	t.Parallel()
	inlinedAny := false
	for _, s := range All() {
		src, _ := files.ReadFile("lua/" + s.Name + ".lua")
		plain := expand(s.Name, string(src), false)
		if got := expandIncludes(s.Name, string(src)); got != s.Source {
			t.Errorf("%s: expansion is not deterministic", s.Name)
		}
		var inlined []string
		for _, l := range allLibraries() {
			for _, d := range l.defs {
				if d.values != nil && strings.Contains(plain, d.text) && !strings.Contains(s.Source, d.text) {
					inlined = append(inlined, d.names...)
				}
			}
		}
		if len(inlined) == 0 {
			continue
		}
		inlinedAny = true
		stmts, err := parse.Parse(strings.NewReader(plain), s.Name)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		r := &resolver{declared: map[string]int{}, assigned: map[string]bool{}}
		r.block(stmts)
		for _, e := range r.errs {
			t.Errorf("%s without inlining: %s", s.Name, e)
		}
		for _, n := range inlined {
			if r.declared[n] != 1 || r.assigned[n] {
				t.Errorf("%s: inlined %s is declared %d times, assigned %v", s.Name, n, r.declared[n], r.assigned[n])
			}
		}
	}
	if !inlinedAny {
		t.Error("no script has a constant inlined")
	}
}

func TestConstantValues(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"local SPAN = 2199023255552":           "2199023255552",
		"local A, B = 1, 'x' -- note":          "1 'x'",
		"-- doc\nlocal A, B =\n  1, '^(%S+)$'": "1 '^(%S+)$'",
		"local FREE = KEYS[1]":                 "", // a table lookup per use
		"local x = 1":                          "", // not upper case
		"local A = 1.5":                        "", // not a whole number
		"local A = -1":                         "", // a negative number would fuse with a "-" before it
		"local A = {1}":                        "", // a table: a new one per use
		"local A = 'a,b'":                      "", // a comma in a string
		"local A = 'it\\'s'":                   "", // an escape
		"local A = KEYS[i]":                    "", // not a constant index
		"local A, B = 1":                       "", // B is nil
		"local A = f(1)":                       "", // a call
		"local A = B":                          "", // another name
		"local function F() end":               "", // a function
	} {
		d := definition{text: text}
		for line := range strings.SplitSeq(text, "\n") {
			if strings.HasPrefix(line, "local ") {
				d.names = definedNames(line)
			}
		}
		got := strings.Join(constantValues(&d), " ")
		if got != want {
			t.Errorf("constantValues(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	consts := map[string]string{"A": "1", "S": "'s'", "K": "KEYS[2]"}
	got := substitute("return A, t.A, t:A(), 'A', S:upper(), K .. A, -- A\nx = S.len, S[1], K[1], AB", consts)
	want := "return 1, t.A, t:A(), 'A', ('s'):upper(), KEYS[2] .. 1, -- A\nx = ('s').len, ('s')[1], (KEYS[2])[1], AB"
	if got != want {
		t.Errorf("substitute:\n got  %s\n want %s", got, want)
	}
	if got := assignedNames("A = 1\nlocal t = {S = 2, K == 1}", consts); !got["A"] || !got["S"] || got["K"] {
		t.Errorf("assignedNames = %v, want A and S", got)
	}
}

// TestNoInliningIntoLongStrings: a script with a long string keeps its
// constants defined, since their names could stand in the string.
func TestNoInliningIntoLongStrings(t *testing.T) {
	t.Parallel()
	got := expandIncludes("t", "-- t: x\n-- @include pool\nreturn CHUNK, [[CHUNK]]\n")
	if !strings.Contains(got, "local CHUNK = 4000") || !strings.Contains(got, "[[CHUNK]]") {
		t.Errorf("constants inlined into a script with a long string:\n%s", got)
	}
	if got := expandIncludes("t", "-- t: x\n-- @include pool\nreturn CHUNK\n"); strings.Contains(got, "CHUNK") {
		t.Errorf("CHUNK not inlined:\n%s", got)
	}
}

// TestNoInliningOfTwiceDefinedNames: pool and task_queue both define SPAN;
// a script that keeps both keeps both definitions and inlines neither.
func TestNoInliningOfTwiceDefinedNames(t *testing.T) {
	t.Parallel()
	got := expandIncludes("t", "-- t: x\n-- @include pool\n-- @include task_queue\nreturn SPAN\n")
	if strings.Count(got, "local SPAN = 2199023255552") != 2 || !strings.Contains(got, "return SPAN\n") {
		t.Errorf("a name defined twice was inlined:\n%s", got)
	}
}
