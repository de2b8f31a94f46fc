package redisx

import "testing"

func TestParseNamespaceKey(t *testing.T) {
	for _, tt := range []struct {
		key, kind, name string
		ok              bool
	}{
		{"app:{pool:gpus}:members", KindPool, "gpus", true},
		{"app:{queue:a:b}:ready", KindQueue, "a:b", true}, // names may hold colons
		{"app:{lockpool:p}:lock:m{x}", KindLockPool, "p", true},
		{"app:eu:{pool:gpus}:members", "", "", false}, // another prefix
		{"app:{pool:gpus", "", "", false},             // no closing brace
		{"app:{:gpus}:x", "", "", false},              // no kind
		{"app:{pool}:x", "", "", false},               // no name
		{"app:{pool:}:x", "", "", false},              // empty name
		{"app:{pool:a\x01}:x", "", "", false},         // a name no constructor accepts
		{"other:{pool:gpus}:members", "", "", false},
	} {
		kind, name, ok := parseNamespaceKey("app", tt.key)
		if kind != tt.kind || name != tt.name || ok != tt.ok {
			t.Errorf("%q: %q %q %v; want %q %q %v", tt.key, kind, name, ok, tt.kind, tt.name, tt.ok)
		}
	}
	// Every namespace key NewNamespace builds parses back.
	for _, kind := range []string{KindPool, KindQueue, KindLock, KindLockPool, KindHealth} {
		ns, err := NewNamespace("app", kind, "n:1")
		if err != nil {
			t.Fatal(err)
		}
		if k, n, ok := parseNamespaceKey("app", ns.Key("x")); k != kind || n != "n:1" || !ok {
			t.Errorf("%s: %q %q %v", ns.Key("x"), k, n, ok)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	if got, want := globEscape(`a*b?c[d]e\f`), `a\*b\?c\[d\]e\\f`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
