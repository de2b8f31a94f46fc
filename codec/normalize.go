package codec

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sync"
	"time"
)

// The libraries decode times into time.Local (msgpack, CBOR epochs) or into
// a FixedZone taken from the text (JSON, CBOR RFC 3339), and an integer
// inside an interface comes back as int64, uint64 or big.Int depending on
// which wire form the writer picked. None has a per-decoder switch for this,
// and changing their global registries would change them for every other
// user in the process. So after decoding we walk the result once: every
// reachable time.Time goes to UTC and, for msgpack and CBOR, every integer in
// an interface that fits becomes int64. Types that can hold neither a time
// nor an interface are recognised once and skipped at the cost of a lookup.

var (
	timeType   = reflect.TypeFor[time.Time]()
	uint64Type = reflect.TypeFor[uint64]()
	bigIntType = reflect.TypeFor[big.Int]()
)

// normalizeOptions say what a codec needs beyond moving times to UTC.
type normalizeOptions struct {
	// ints turns uint64 and big.Int values held in interfaces into int64
	// when they fit, so an integer's Go type does not depend on which wire
	// form (unsigned code, bignum tag) the writer happened to use.
	ints bool
	// rfc3339Years rejects times outside years 0000-9999, which RFC 3339
	// cannot express: a codec that writes times as RFC 3339 text must not
	// accept (from an epoch) a time that it could never write back.
	rfc3339Years bool
	// zeroTimeNil turns a zero time.Time held in an interface into nil,
	// for a codec that writes the zero time as null.
	zeroTimeNil bool
}

// normalize fixes up the value behind the pointer v, as described above.
// maxDepth is the codec's nesting limit; Go values carry a few extra levels
// (pointers, interfaces) per wire level, and the walk stops well past that,
// which only matters for odd pre-existing data in the target.
func normalize(v any, maxDepth int, opts normalizeOptions) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !needsWalk(rv.Type()) {
		return nil
	}
	w := normalizer{budget: 8*maxDepth + 64, normalizeOptions: opts}
	w.walk(rv.Elem(), 0)
	return w.err
}

type normalizer struct {
	normalizeOptions
	budget int
	err    error // the first time out of range, if rfc3339Years
	// seen guards against cycles that the caller's target may already hold
	// (decoded data itself is a tree). Allocated on first use.
	seen map[visit]struct{}
}

type visit struct {
	ptr uintptr
	typ reflect.Type
	n   int // length, so s[:1] and s[:2] are distinct
}

// once reports whether the reference v is being visited for the first time.
func (w *normalizer) once(v reflect.Value) bool {
	k := visit{ptr: v.Pointer(), typ: v.Type()}
	if v.Kind() == reflect.Slice {
		k.n = v.Len()
	}
	if _, ok := w.seen[k]; ok {
		return false
	}
	if w.seen == nil {
		w.seen = make(map[visit]struct{})
	}
	w.seen[k] = struct{}{}
	return true
}

// walk fixes values under v and reports whether it changed anything. v is
// settable, or a map, slice or pointer whose contents are.
func (w *normalizer) walk(v reflect.Value, depth int) (changed bool) {
	if depth > w.budget {
		return false
	}
	t := v.Type()
	if t == timeType {
		if !v.CanSet() {
			return false
		}
		p := v.Addr().Interface().(*time.Time)
		if y := p.UTC().Year(); w.rfc3339Years && (y < 0 || y > 9999) && w.err == nil {
			w.err = fmt.Errorf("time %s is outside years 0000-9999", p.UTC().Format(time.RFC3339Nano))
		}
		if p.Location() == time.UTC {
			return false
		}
		*p = p.UTC()
		return true
	}
	if !needsWalk(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() || !w.once(v) {
			return false
		}
		return w.walk(v.Elem(), depth+1)
	case reflect.Interface:
		return w.walkInterface(v, depth)
	case reflect.Struct:
		for _, i := range walkFields(t) {
			if w.walk(v.Field(i), depth+1) {
				changed = true
			}
		}
		return changed
	case reflect.Array:
		for i := range v.Len() {
			if w.walk(v.Index(i), depth+1) {
				changed = true
			}
		}
		return changed
	case reflect.Slice:
		if v.Len() == 0 || !w.once(v) {
			return false
		}
		for i := range v.Len() {
			if w.walk(v.Index(i), depth+1) {
				changed = true
			}
		}
		return changed
	case reflect.Map:
		if v.Len() == 0 || !w.once(v) {
			return false
		}
		return w.walkMap(v, depth)
	}
	return false
}

func (w *normalizer) walkInterface(v reflect.Value, depth int) bool {
	if v.IsNil() {
		return false
	}
	e := v.Elem()
	if w.ints && v.CanSet() {
		switch e.Type() {
		case uint64Type:
			if u := e.Uint(); u <= math.MaxInt64 {
				v.Set(reflect.ValueOf(int64(u)))
				return true
			}
		case bigIntType:
			if b := e.Interface().(big.Int); b.IsInt64() {
				v.Set(reflect.ValueOf(b.Int64()))
				return true
			}
		}
	}
	if w.zeroTimeNil && e.Type() == timeType && v.CanSet() && e.Interface().(time.Time).IsZero() {
		v.SetZero()
		return true
	}
	if !needsWalk(e.Type()) {
		return false
	}
	switch e.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		return w.walk(e, depth+1)
	}
	// The dynamic value is not addressable: fix a copy and put it back.
	if !v.CanSet() {
		return false
	}
	cp := reflect.New(e.Type()).Elem()
	cp.Set(e)
	if w.walk(cp, depth+1) {
		v.Set(cp)
		return true
	}
	return false
}

func (w *normalizer) walkMap(v reflect.Value, depth int) (changed bool) {
	t := v.Type()
	keyType, elemType := t.Key(), t.Elem()
	var cp reflect.Value
	var rekey [][2]reflect.Value // old and new key
	it := v.MapRange()
	for it.Next() {
		if needsWalk(elemType) {
			val := it.Value()
			switch val.Kind() {
			case reflect.Pointer, reflect.Map, reflect.Slice:
				if w.walk(val, depth+1) {
					changed = true
				}
			default:
				if !cp.IsValid() {
					cp = reflect.New(elemType).Elem()
				}
				cp.Set(val)
				if w.walk(cp, depth+1) {
					v.SetMapIndex(it.Key(), cp) // replacing an existing key is safe mid-range
					changed = true
				}
			}
		}
		if needsWalk(keyType) {
			k := reflect.New(keyType).Elem()
			k.Set(it.Key())
			if w.walk(k, depth+1) {
				rekey = append(rekey, [2]reflect.Value{it.Key(), k})
			}
		}
	}
	// Keys change after the range. Two keys may become one (the same instant
	// in two zones, or 1 written as int and as uint): like a duplicate key on
	// the wire, one value wins.
	for _, kk := range rekey {
		val := v.MapIndex(kk[0])
		if !val.IsValid() {
			continue // a NaN inside the key: it cannot be looked up
		}
		v.SetMapIndex(kk[0], reflect.Value{})
		v.SetMapIndex(kk[1], val)
		changed = true
	}
	return changed
}

// typeInfo caches, per type, whether a value of it can reach a time.Time or
// an interface (which may hold one), and for structs which fields to visit.
var typeInfo sync.Map // reflect.Type -> *walkInfo

type walkInfo struct {
	needed bool
	fields []int
}

func needsWalk(t reflect.Type) bool { return infoFor(t).needed }

func walkFields(t reflect.Type) []int { return infoFor(t).fields }

func infoFor(t reflect.Type) *walkInfo {
	if wi, ok := typeInfo.Load(t); ok {
		return wi.(*walkInfo)
	}
	wi := &walkInfo{needed: reaches(t, map[reflect.Type]bool{})}
	if wi.needed && t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			// Libraries only set exported fields, and exported fields of
			// embedded structs (which reflect lets us set too).
			if (f.IsExported() || f.Anonymous) && reaches(f.Type, map[reflect.Type]bool{}) {
				wi.fields = append(wi.fields, i)
			}
		}
	}
	actual, _ := typeInfo.LoadOrStore(t, wi)
	return actual.(*walkInfo)
}

// reaches is a plain depth-first search. Only the queried type's answer is
// cached: an answer found while a recursive type is still open may be
// incomplete.
func reaches(t reflect.Type, open map[reflect.Type]bool) bool {
	if t == timeType || t.Kind() == reflect.Interface {
		return true
	}
	if open[t] {
		return false
	}
	open[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return reaches(t.Elem(), open)
	case reflect.Map:
		return reaches(t.Key(), open) || reaches(t.Elem(), open)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if (f.IsExported() || f.Anonymous) && reaches(f.Type, open) {
				return true
			}
		}
	}
	return false
}
