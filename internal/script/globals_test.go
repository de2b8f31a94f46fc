package script

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// luaGlobals are the globals a script may read: what Redis provides and
// the parts of the Lua standard library that miniredis has too.
var luaGlobals = []string{
	"redis", "KEYS", "ARGV",
	"string", "math", "table", "tonumber", "tostring", "type", "unpack", "ipairs", "pairs", "select",
	"error", // only through common.lua's corrupt, which raises CORRUPT
}

// TestScriptsUseOnlyLocals resolves every name in every expanded script:
// each must be a local (a helper from an included library among them) or
// one of luaGlobals. It catches a helper used without its library, a
// misspelt name and an assignment to a global, which Redis refuses only
// when that line runs.
func TestScriptsUseOnlyLocals(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		stmts, err := parse.Parse(strings.NewReader(s.Source), s.Name)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		r := &resolver{}
		r.block(stmts)
		for _, e := range r.errs {
			t.Errorf("%s: %s", s.Name, e)
		}
	}
}

func TestResolverFindsGlobals(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"UndefinedCall":     "local x = 1\nreturn now_ms()",
		"GlobalAssign":      "y = 1",
		"LocalOutOfScope":   "if true then local a = 1 end\nreturn a",
		"UseBeforeDefine":   "local f = function() return g() end\nlocal function g() return 1 end\nreturn f()",
		"ParameterOfOther":  "local function f(p) return p end\nreturn p",
		"LoopVarAfterLoop":  "for i = 1, 2 do end\nreturn i",
		"SelfReferentLocal": "local z = z\nreturn z",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stmts, err := parse.Parse(strings.NewReader(src), name)
			if err != nil {
				t.Fatal(err)
			}
			r := &resolver{}
			r.block(stmts)
			if len(r.errs) == 0 {
				t.Errorf("no error for %q", src)
			}
		})
	}
	stmts, err := parse.Parse(strings.NewReader("local function f(a, ...) return f, a, select('#', ...) end\n"+
		"for k, v in pairs(KEYS) do f(k, v) end\nlocal t = {x = 1}\nt.x = redis.call('GET', KEYS[1])\nreturn t"), "ok")
	if err != nil {
		t.Fatal(err)
	}
	r := &resolver{}
	r.block(stmts)
	if len(r.errs) != 0 {
		t.Errorf("errors for a clean script: %q", r.errs)
	}
}

// resolver walks a chunk with a stack of scopes.
type resolver struct {
	scopes [][]string
	errs   []string
	// With top set, each use of a name the chunk's top level declares
	// marks top[name] (the index of its statement) in used, unless the use
	// is in that statement itself (cur): a helper only its own body calls
	// is not used.
	top  map[string]int
	cur  int
	used map[int]bool
	// With declared set, it counts the declarations of each name (locals,
	// parameters, loop variables) and records in assigned the names that
	// an assignment targets.
	declared map[string]int
	assigned map[string]bool
}

func (r *resolver) push() { r.scopes = append(r.scopes, nil) }
func (r *resolver) pop()  { r.scopes = r.scopes[:len(r.scopes)-1] }
func (r *resolver) declare(n ...string) {
	r.scopes[len(r.scopes)-1] = append(r.scopes[len(r.scopes)-1], n...)
	if r.declared != nil {
		for _, name := range n {
			r.declared[name]++
		}
	}
}

func (r *resolver) use(name string, line int) {
	for i := len(r.scopes) - 1; i >= 0; i-- {
		if slices.Contains(r.scopes[i], name) {
			if at, ok := r.top[name]; ok && i == 0 && at != r.cur {
				r.used[at] = true
			}
			return
		}
	}
	if !slices.Contains(luaGlobals, name) {
		r.errs = append(r.errs, fmt.Sprintf("line %d: %s is not a local", line, name))
	}
}

func (r *resolver) block(stmts []ast.Stmt) {
	r.push()
	defer r.pop()
	for _, st := range stmts {
		r.stmt(st)
	}
}

func (r *resolver) stmt(st ast.Stmt) {
	switch st := st.(type) {
	case *ast.LocalAssignStmt:
		// "local function f" parses as "local f = function": f is in
		// scope in its own body.
		if len(st.Names) == 1 && len(st.Exprs) == 1 {
			if _, ok := st.Exprs[0].(*ast.FunctionExpr); ok {
				r.declare(st.Names...)
				r.exprs(st.Exprs)
				return
			}
		}
		r.exprs(st.Exprs)
		r.declare(st.Names...)
	case *ast.AssignStmt:
		for _, e := range st.Lhs {
			if id, ok := e.(*ast.IdentExpr); ok {
				if r.assigned != nil {
					r.assigned[id.Value] = true
				}
				if !r.isLocal(id.Value) {
					r.errs = append(r.errs, fmt.Sprintf("line %d: assignment to global %s", id.Line(), id.Value))
				}
				continue
			}
			r.expr(e)
		}
		r.exprs(st.Rhs)
	case *ast.FuncCallStmt:
		r.expr(st.Expr)
	case *ast.DoBlockStmt:
		r.block(st.Stmts)
	case *ast.WhileStmt:
		r.expr(st.Condition)
		r.block(st.Stmts)
	case *ast.RepeatStmt:
		// The condition sees the body's locals.
		r.push()
		for _, s := range st.Stmts {
			r.stmt(s)
		}
		r.expr(st.Condition)
		r.pop()
	case *ast.IfStmt:
		r.expr(st.Condition)
		r.block(st.Then)
		r.block(st.Else)
	case *ast.NumberForStmt:
		r.expr(st.Init)
		r.expr(st.Limit)
		if st.Step != nil {
			r.expr(st.Step)
		}
		r.push()
		r.declare(st.Name)
		r.block(st.Stmts)
		r.pop()
	case *ast.GenericForStmt:
		r.exprs(st.Exprs)
		r.push()
		r.declare(st.Names...)
		r.block(st.Stmts)
		r.pop()
	case *ast.FuncDefStmt:
		r.errs = append(r.errs, fmt.Sprintf("line %d: global function definition", st.Line()))
		r.expr(st.Func)
	case *ast.ReturnStmt:
		r.exprs(st.Exprs)
	case *ast.BreakStmt:
	default:
		r.errs = append(r.errs, fmt.Sprintf("line %d: statement %T not handled", st.Line(), st))
	}
}

func (r *resolver) isLocal(name string) bool {
	for _, sc := range r.scopes {
		if slices.Contains(sc, name) {
			return true
		}
	}
	return false
}

func (r *resolver) exprs(es []ast.Expr) {
	for _, e := range es {
		r.expr(e)
	}
}

func (r *resolver) expr(e ast.Expr) {
	switch e := e.(type) {
	case nil:
	case *ast.IdentExpr:
		r.use(e.Value, e.Line())
	case *ast.AttrGetExpr:
		r.expr(e.Object)
		r.expr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			r.expr(f.Key)
			r.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		r.expr(e.Func)
		r.expr(e.Receiver)
		r.exprs(e.Args)
	case *ast.LogicalOpExpr:
		r.expr(e.Lhs)
		r.expr(e.Rhs)
	case *ast.RelationalOpExpr:
		r.expr(e.Lhs)
		r.expr(e.Rhs)
	case *ast.StringConcatOpExpr:
		r.expr(e.Lhs)
		r.expr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		r.expr(e.Lhs)
		r.expr(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		r.expr(e.Expr)
	case *ast.UnaryNotOpExpr:
		r.expr(e.Expr)
	case *ast.UnaryLenOpExpr:
		r.expr(e.Expr)
	case *ast.FunctionExpr:
		r.push()
		if e.ParList != nil {
			r.declare(e.ParList.Names...)
		}
		r.block(e.Stmts)
		r.pop()
	case *ast.TrueExpr, *ast.FalseExpr, *ast.NilExpr, *ast.NumberExpr, *ast.StringExpr, *ast.Comma3Expr:
	default:
		r.errs = append(r.errs, fmt.Sprintf("line %d: expression %T not handled", e.Line(), e))
	}
}
