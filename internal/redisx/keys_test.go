package redisx_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"Plain", "proxies", true},
		{"WithColonsAndDots", "billing:eu.west-1", true},
		{"Unicode", "prøxies", true},
		{"MaxLength", strings.Repeat("a", redisx.MaxNameLen), true},
		{"Empty", "", false},
		{"TooLong", strings.Repeat("a", redisx.MaxNameLen+1), false},
		{"OpenBrace", "a{b", false},
		{"CloseBrace", "a}b", false},
		{"NUL", "a\x00b", false},
		{"Newline", "a\nb", false},
		{"DEL", "a\x7fb", false},
		{"InvalidUTF8", "a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := redisx.ValidateName("pool name", tt.value)
			if tt.ok && err != nil {
				t.Fatalf("ValidateName(%q) = %v, want nil", tt.value, err)
			}
			if !tt.ok {
				if !errors.Is(err, redisx.ErrInvalidName) {
					t.Fatalf("ValidateName(%q) = %v, want ErrInvalidName", tt.value, err)
				}
				var ne *redisx.NameError
				if !errors.As(err, &ne) || ne.What != "pool name" || ne.Reason == "" {
					t.Fatalf("error %v does not say what and why", err)
				}
			}
		})
	}
}

func TestValidateMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"Plain", "10.0.0.1:8080", true},
		{"BracesAllowed", "{weird}|member", true},
		{"MaxLength", strings.Repeat("m", redisx.MaxMemberLen), true},
		{"Empty", "", false},
		{"TooLong", strings.Repeat("m", redisx.MaxMemberLen+1), false},
		{"NUL", "a\x00", false},
		{"InvalidUTF8", "\xc3\x28", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := redisx.ValidateMember("member", tt.value)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateMember(%q) = %v, want ok=%v", tt.value, err, tt.ok)
			}
			if err != nil && !errors.Is(err, redisx.ErrInvalidName) {
				t.Fatalf("error %v does not match ErrInvalidName", err)
			}
		})
	}
}

func TestNamespaceKeysShareOneSlot(t *testing.T) {
	t.Parallel()
	ns, err := redisx.NewNamespace("app", "pool", "gpu:a100")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{ns.Key("free"), ns.Key("leases"), ns.Key("fence"), ns.Key("x:y:z")}
	if got, want := keys[0], "app:{pool:gpu:a100}:free"; got != want {
		t.Errorf("Key(free) = %q, want %q", got, want)
	}
	if err := redisx.SameSlot(keys); err != nil {
		t.Errorf("SameSlot(%q) = %v", keys, err)
	}
	for _, k := range keys {
		if redisx.KeySlot(k) != ns.Slot() {
			t.Errorf("slot of %q differs from the namespace slot", k)
		}
		if !strings.HasPrefix(k, ns.Prefix()) {
			t.Errorf("%q does not start with %q", k, ns.Prefix())
		}
	}
}

func TestNewNamespaceRejectsBadParts(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]string{{"", "x"}, {"a{", "x"}, {"a", ""}, {"a", "x}"}, {"a", "x\x00"}} {
		if _, err := redisx.NewNamespace(tc[0], "pool", tc[1]); !errors.Is(err, redisx.ErrInvalidName) {
			t.Errorf("NewNamespace(%q, pool, %q) = %v, want ErrInvalidName", tc[0], tc[1], err)
		}
	}
}

func TestKeySlotKnownValues(t *testing.T) {
	t.Parallel()
	// Values from CLUSTER KEYSLOT on Redis 7.0 and the cluster spec.
	tests := map[string]uint16{
		"123456789":      12739, // the CRC16/XMODEM check value 0x31C3
		"foo":            12182,
		"{user1000}.a":   3443,
		"{user1000}.b":   3443,
		"foo{}{bar}":     8363, // empty first tag: whole key is hashed
		"foo{{bar}}zap":  4015, // tag is "{bar"
		"foo{bar}{zap}":  5061, // first tag wins: "bar"
		"":               0,
		"{a}":            15495,
		"alloc:{a}:free": 15495,
	}
	for key, want := range tests {
		if got := redisx.KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestSameSlotReportsCrossSlot(t *testing.T) {
	t.Parallel()
	err := redisx.SameSlot([]string{"{a}x", "{a}y", "{b}z"})
	if !errors.Is(err, redisx.ErrCrossSlot) {
		t.Fatalf("SameSlot = %v, want ErrCrossSlot", err)
	}
	if err := redisx.SameSlot(nil); err != nil {
		t.Errorf("SameSlot(nil) = %v", err)
	}
}

// TestKeySlotMatchesCluster checks our CRC16 against the cluster's own
// CLUSTER KEYSLOT for many generated keys.
func TestKeySlotMatchesCluster(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendCluster)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	keys := []string{"", "{}", "{{a}}", "a{b}c{d}", "}{", "x{", "é{ü}"}
	for i := range 300 {
		keys = append(keys, b.Prefix+":{pool:"+strings.Repeat("z", i%7)+itoa(i)+"}:free", "k"+itoa(i*7919))
	}
	for _, k := range keys {
		got, err := b.Client.Do(ctx, b.Client.B().ClusterKeyslot().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		if want := redisx.KeySlot(k); int64(want) != got {
			t.Errorf("KeySlot(%q) = %d, cluster says %d", k, want, got)
		}
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var s []byte
	for ; i > 0; i /= 10 {
		s = append([]byte{digits[i%10]}, s...)
	}
	return string(s)
}

// FuzzKey checks that validation never panics and that every accepted name
// builds keys whose hash tag is exactly the namespace's, so all keys of a
// namespace share a slot and no name can escape into another's.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"proxies", "a:b", "{x}", "a}", "", "\x00", "é", strings.Repeat("a", 300)} {
		f.Add("app", s, "free")
	}
	f.Fuzz(func(t *testing.T, prefix, name, suffix string) {
		errP := redisx.ValidateName("prefix", prefix)
		errN := redisx.ValidateName("name", name)
		ns, err := redisx.NewNamespace(prefix, "pool", name)
		if (err == nil) != (errP == nil && errN == nil) {
			t.Fatalf("NewNamespace(%q,%q) = %v, but validation says %v / %v", prefix, name, err, errP, errN)
		}
		if err != nil {
			if !errors.Is(err, redisx.ErrInvalidName) {
				t.Fatalf("error %v does not match ErrInvalidName", err)
			}
			return
		}
		if strings.ContainsAny(prefix+name, "{}\x00") || !utf8.ValidString(prefix+name) || len(name) > redisx.MaxNameLen {
			t.Fatalf("accepted bad prefix %q or name %q", prefix, name)
		}
		key := ns.Key(suffix)
		if !strings.HasPrefix(key, prefix+":{pool:"+name+"}:") {
			t.Fatalf("key %q does not carry the namespace tag", key)
		}
		// The slot is that of the tag alone, whatever the suffix holds.
		if got, want := redisx.KeySlot(key), redisx.KeySlot("{pool:"+name+"}"); got != want {
			t.Fatalf("KeySlot(%q) = %d, want the tag's slot %d", key, got, want)
		}
		_ = redisx.ValidateMember("member", suffix) // must not panic
	})
}
