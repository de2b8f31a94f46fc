package codec

import "encoding/json"

// newJSON returns a JSON codec (encoding/json) with the given limits; zero
// fields take the defaults. It returns an error wrapping [ErrInvalid]
// if a field is out of range.
func newJSON(l Limits) (Codec, error) {
	l, err := l.withDefaults(1, 1)
	if err != nil {
		return nil, err
	}
	return &jsonCodec{limits: l}, nil
}

type jsonCodec struct {
	limits Limits
}

func (c *jsonCodec) Name() string { return "json" }

func (c *jsonCodec) Marshal(v any) (out []byte, err error) {
	defer recoverAs(&err, "json", ErrEncode)
	out, err = json.Marshal(v)
	if err != nil {
		return nil, encodeError("json", err)
	}
	if err := checkJSON(out, c.limits); err != nil {
		return nil, encodeError("json", err)
	}
	return out, nil
}

func (c *jsonCodec) Unmarshal(data []byte, v any) (err error) {
	defer recoverAs(&err, "json", ErrDecode)
	if err := checkTarget("json", v); err != nil {
		return err
	}
	// encoding/json has a fixed depth limit (10000) and none on size or
	// elements, so check ours in one cheap pass first.
	if err := checkJSON(data, c.limits); err != nil {
		return decodeError("json", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return decodeError("json", err)
	}
	// A writer in another zone leaves an offset, which decodes as a FixedZone.
	if err := normalize(v, c.limits.MaxDepth, normalizeOptions{}); err != nil {
		return decodeError("json", err)
	}
	return nil
}

// checkJSON enforces l on JSON text without parsing it: it tracks strings so
// brackets inside them do not count, and counts commas per open container.
// On valid input it sees what encoding/json sees; on invalid input
// encoding/json fails anyway, at or before the point where the two diverge.
func checkJSON(data []byte, l Limits) error {
	if len(data) > l.MaxSize {
		return sizeLimit(len(data), l.MaxSize)
	}
	var commasBuf [32]int
	commas := commasBuf[:0] // commas seen in each open container
	inString := false
	for i := 0; i < len(data); i++ {
		b := data[i]
		if inString {
			switch b {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '[', '{':
			if len(commas) == l.MaxDepth {
				return depthLimit(l.MaxDepth)
			}
			commas = append(commas, 0)
		case ']', '}':
			if len(commas) > 0 {
				commas = commas[:len(commas)-1]
			}
		case ',':
			if top := len(commas) - 1; top >= 0 {
				commas[top]++
				// n commas separate n+1 elements (or key/value pairs).
				if commas[top] >= l.MaxElements {
					return elementsLimit(commas[top]+1, l.MaxElements)
				}
			}
		}
	}
	return nil
}
