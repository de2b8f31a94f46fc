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
