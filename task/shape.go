package task

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"

	"github.com/redisallocator/redisallocator/codec"
)

// shapeOf fingerprints what a queue puts on the wire: the codec's name and
// the structure of P and R (see ErrShape). Two programs with structs of the
// same field names, tags and types get the same fingerprint wherever the
// structs are declared; pointers count as what they point to, because the
// codecs encode both the same. A queue whose P and R are both interfaces
// (Queue[any, any]) gets "": it checks nothing and records nothing.
func shapeOf[P, R any](c codec.Codec) string {
	tp, tr := reflect.TypeFor[P](), reflect.TypeFor[R]()
	if tp.Kind() == reflect.Interface && tr.Kind() == reflect.Interface {
		return ""
	}
	var b strings.Builder
	b.WriteString(c.Name())
	b.WriteString("\x00")
	writeShape(&b, tp, map[reflect.Type]int{})
	b.WriteString("\x00")
	writeShape(&b, tr, map[reflect.Type]int{})
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

// writeShape writes the structure of t. open numbers the structs being
// written, so a recursive type refers back to itself instead of looping.
func writeShape(b *strings.Builder, t reflect.Type, open map[reflect.Type]int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		b.WriteString("[]")
		writeShape(b, t.Elem(), open)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		writeShape(b, t.Elem(), open)
	case reflect.Map:
		b.WriteString("map[")
		writeShape(b, t.Key(), open)
		b.WriteString("]")
		writeShape(b, t.Elem(), open)
	case reflect.Interface:
		b.WriteString("any")
	case reflect.Struct:
		if n, ok := open[t]; ok {
			b.WriteString("^" + strconv.Itoa(n))
			return
		}
		var fields []reflect.StructField
		for f := range t.Fields() {
			if f.IsExported() || f.Anonymous {
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 && t.Name() != "" {
			// Nothing visible to encode (time.Time): the type encodes
			// itself, so its name (package name, not path) is its shape.
			b.WriteString(t.String())
			return
		}
		open[t] = len(open)
		b.WriteString("struct{")
		for _, f := range fields {
			b.WriteString(f.Name)
			b.WriteString(" ")
			b.WriteString(strconv.Quote(string(f.Tag)))
			b.WriteString(" ")
			writeShape(b, f.Type, open)
			b.WriteString(";")
		}
		b.WriteString("}")
		delete(open, t)
	default:
		b.WriteString(t.Kind().String())
	}
}
