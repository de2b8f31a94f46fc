package main

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// termSafe writes to w with control characters escaped, except newline and
// tab: member keys, names and task error messages come from outside and
// may hold escape sequences, which a terminal would obey (set the window
// title, move the cursor, rewrite a line already shown). Text output goes
// through it; JSON escapes them itself, and exports keep their bytes.
type termSafe struct{ w io.Writer }

func (t termSafe) Write(p []byte) (int, error) {
	var b bytes.Buffer
	for rest := p; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, rest[0])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f: // C1 controls
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.Write(rest[:size])
		}
		rest = rest[size:]
	}
	if _, err := t.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
