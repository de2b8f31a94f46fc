package apidump

import (
	"fmt"
	"go/types"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// writer prints types as cmd/api does: names of the package being dumped
// unqualified, other packages by their name, type parameters as $0, $1, …
// (so renaming one is not an API change), and `any` for the empty
// interface.
type writer struct {
	pkg *types.Package
}

// typeParams maps the type parameters in scope to their $N names.
type typeParams map[*types.TypeParam]string

func newTypeParams(lists ...*types.TypeParamList) typeParams {
	m := typeParams{}
	for _, l := range lists {
		for i := range l.Len() {
			m[l.At(i)] = "$" + strconv.Itoa(len(m))
		}
	}
	return m
}

// tparams prints a type parameter list with constraints: "[$0 any, $1 comparable]".
func (w *writer) tparams(l *types.TypeParamList, tp typeParams) string {
	if l.Len() == 0 {
		return ""
	}
	parts := make([]string, l.Len())
	for i := range l.Len() {
		p := l.At(i)
		parts[i] = tp[p] + " " + w.typ(p.Constraint(), tp)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// sig prints a signature without "func": "(int, ...string) (bool, error)".
func (w *writer) sig(s *types.Signature, tp typeParams) string {
	var b strings.Builder
	b.WriteString("(")
	for i := range s.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := s.Params().At(i).Type()
		if s.Variadic() && i == s.Params().Len()-1 {
			b.WriteString("...")
			t = t.(*types.Slice).Elem()
		}
		b.WriteString(w.typ(t, tp))
	}
	b.WriteString(")")
	switch n := s.Results().Len(); n {
	case 0:
	case 1:
		b.WriteString(" " + w.typ(s.Results().At(0).Type(), tp))
	default:
		b.WriteString(" (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(w.typ(s.Results().At(i).Type(), tp))
		}
		b.WriteString(")")
	}
	return b.String()
}

// typ prints one type.
func (w *writer) typ(t types.Type, tp typeParams) string {
	switch t := t.(type) {
	case *types.Basic:
		return t.Name()
	case *types.Pointer:
		return "*" + w.typ(t.Elem(), tp)
	case *types.Slice:
		return "[]" + w.typ(t.Elem(), tp)
	case *types.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), w.typ(t.Elem(), tp))
	case *types.Map:
		return "map[" + w.typ(t.Key(), tp) + "]" + w.typ(t.Elem(), tp)
	case *types.Chan:
		switch t.Dir() {
		case types.SendOnly:
			return "chan<- " + w.typ(t.Elem(), tp)
		case types.RecvOnly:
			return "<-chan " + w.typ(t.Elem(), tp)
		}
		return "chan " + w.typ(t.Elem(), tp)
	case *types.Signature:
		return "func" + w.sig(t, tp)
	case *types.TypeParam:
		if n, ok := tp[t]; ok {
			return n
		}
		return t.Obj().Name()
	case *types.Alias:
		return w.name(t.Obj(), t.TypeArgs(), tp)
	case *types.Named:
		return w.name(t.Obj(), t.TypeArgs(), tp)
	case *types.Struct:
		if t.NumFields() == 0 {
			return "struct{}"
		}
		parts := make([]string, t.NumFields())
		for i := range t.NumFields() {
			f := t.Field(i)
			if f.Embedded() {
				parts[i] = w.typ(f.Type(), tp)
			} else {
				parts[i] = f.Name() + " " + w.typ(f.Type(), tp)
			}
		}
		return "struct{ " + strings.Join(parts, "; ") + " }"
	case *types.Interface:
		return w.iface(t, tp)
	case *types.Union:
		parts := make([]string, t.Len())
		for i := range t.Len() {
			term := t.Term(i)
			parts[i] = w.typ(term.Type(), tp)
			if term.Tilde() {
				parts[i] = "~" + parts[i]
			}
		}
		return strings.Join(parts, " | ")
	case *types.Tuple:
		parts := make([]string, t.Len())
		for i := range t.Len() {
			parts[i] = w.typ(t.At(i).Type(), tp)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return t.String()
}

// name prints a named type or alias with its type arguments.
func (w *writer) name(obj *types.TypeName, args *types.TypeList, tp typeParams) string {
	s := obj.Name()
	if p := obj.Pkg(); p != nil && p != w.pkg && p.Path() != w.pkg.Path() {
		s = p.Name() + "." + s
	}
	if args.Len() > 0 {
		parts := make([]string, args.Len())
		for i := range args.Len() {
			parts[i] = w.typ(args.At(i), tp)
		}
		s += "[" + strings.Join(parts, ", ") + "]"
	}
	return s
}

// iface prints an interface literal: "any", "comparable", "interface{ M(int); ~int | ~string }".
func (w *writer) iface(t *types.Interface, tp typeParams) string {
	if t.Empty() {
		return "any"
	}
	var parts []string
	for i := range t.NumEmbeddeds() {
		parts = append(parts, w.typ(t.EmbeddedType(i), tp))
	}
	for i := range t.NumExplicitMethods() {
		m := t.ExplicitMethod(i)
		parts = append(parts, m.Name()+w.sig(m.Type().(*types.Signature), tp))
	}
	return "interface{ " + strings.Join(parts, "; ") + " }"
}

// typeLines prints a type declaration: its line, then one line per exported
// struct field or interface method.
func (w *writer) typeLines(obj *types.TypeName) []string {
	n := obj.Name()
	if obj.IsAlias() {
		a, ok := obj.Type().(*types.Alias)
		if !ok {
			return []string{"type " + n + " = " + w.typ(obj.Type(), nil)}
		}
		tp := newTypeParams(a.TypeParams())
		return []string{"type " + n + w.tparams(a.TypeParams(), tp) + " = " + w.typ(a.Rhs(), tp)}
	}
	named, ok := obj.Type().(*types.Named)
	if !ok {
		return []string{"type " + n + " " + w.typ(obj.Type().Underlying(), nil)}
	}
	tp := newTypeParams(named.TypeParams())
	head := "type " + n + w.tparams(named.TypeParams(), tp)
	switch u := named.Underlying().(type) {
	case *types.Struct:
		lines := []string{head + " struct"}
		for i := range u.NumFields() {
			f := u.Field(i)
			switch {
			case f.Embedded():
				lines = append(lines, head+" struct, embedded "+w.typ(f.Type(), tp))
			case f.Exported():
				lines = append(lines, head+" struct, "+f.Name()+" "+w.typ(f.Type(), tp))
			}
		}
		return lines
	case *types.Interface:
		// The method set, embedded interfaces' methods included; an
		// unexported method (a sealed interface) shows as such, since
		// only this module can implement it.
		var names []string
		var lines []string
		for i := range u.NumEmbeddeds() {
			// Type-set terms of a constraint interface.
			if _, ok := u.EmbeddedType(i).Underlying().(*types.Interface); !ok {
				names = append(names, w.typ(u.EmbeddedType(i), tp))
			}
		}
		for i := range u.NumMethods() {
			m := u.Method(i)
			if !m.Exported() {
				names = append(names, "unexported methods")
				continue
			}
			names = append(names, m.Name())
			lines = append(lines, head+" interface, "+m.Name()+w.sig(m.Type().(*types.Signature), tp))
		}
		sort.Strings(names)
		names = slices.Compact(names)
		return append([]string{head + " interface { " + strings.Join(names, ", ") + " }"}, lines...)
	default:
		return []string{head + " " + w.typ(u, tp)}
	}
}

// methodLines prints the exported methods of named's method set (promoted
// ones included): "method (T) M(…)" for value receivers, "method (*T) M(…)"
// for the rest.
func (w *writer) methodLines(named *types.Named) []string {
	tp := newTypeParams(named.TypeParams())
	recv := named.Obj().Name()
	if l := named.TypeParams(); l.Len() > 0 {
		names := make([]string, l.Len())
		for i := range l.Len() {
			names[i] = tp[l.At(i)]
		}
		recv += "[" + strings.Join(names, ", ") + "]"
	}
	valueSet := types.NewMethodSet(named)
	ptrSet := types.NewMethodSet(types.NewPointer(named))
	var lines []string
	for i := range ptrSet.Len() {
		sel := ptrSet.At(i)
		m := sel.Obj().(*types.Func)
		if !m.Exported() {
			continue
		}
		r := "*" + recv
		if valueSet.Lookup(m.Pkg(), m.Name()) != nil {
			r = recv
		}
		// The method's own signature refers to its receiver's type
		// parameters; map those onto the named type's $N names.
		sig := m.Type().(*types.Signature)
		mtp := tp
		if rtp := sig.RecvTypeParams(); rtp.Len() > 0 {
			mtp = typeParams{}
			for k, v := range tp {
				mtp[k] = v
			}
			for j := range rtp.Len() {
				mtp[rtp.At(j)] = "$" + strconv.Itoa(j)
			}
		}
		lines = append(lines, "method ("+r+") "+m.Name()+w.sig(sig, mtp))
	}
	return lines
}
