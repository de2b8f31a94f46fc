package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParseOTLPEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     otlpEndpoint
		err      bool
	}{
		{"HostPort", "127.0.0.1:4318", otlpEndpoint{hostPort: "127.0.0.1:4318", insecure: true}, false},
		{"BareHost", "collector", otlpEndpoint{hostPort: "collector:4318", insecure: true}, false},
		{"IPv6", "[::1]:9999", otlpEndpoint{hostPort: "[::1]:9999", insecure: true}, false},
		{"HTTPURL", "http://jaeger:4318", otlpEndpoint{hostPort: "jaeger:4318", insecure: true}, false},
		{"HTTPSWithBase", "https://otel.example.com/otlp/", otlpEndpoint{hostPort: "otel.example.com", basePath: "/otlp"}, false},
		{"Empty", "", otlpEndpoint{}, true},
		{"OtherScheme", "grpc://127.0.0.1:4317", otlpEndpoint{}, true},
		{"NoHost", "http://:4318", otlpEndpoint{}, true},
		{"Credentials", "http://user:pw@host:4318", otlpEndpoint{}, true},
		{"Query", "http://host:4318?x=1", otlpEndpoint{}, true},
		{"PathWithoutScheme", "host:4318/v1/traces", otlpEndpoint{}, true},
		{"BadPort", "host:http", otlpEndpoint{}, true},
		{"PortTooBig", "host:65536", otlpEndpoint{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOTLPEndpoint(tt.in)
			switch {
			case tt.err && !errors.Is(err, errOTLPEndpoint):
				t.Fatalf("parseOTLPEndpoint(%q) = %+v, %v; want errOTLPEndpoint", tt.in, got, err)
			case !tt.err && err != nil:
				t.Fatalf("parseOTLPEndpoint(%q): %v", tt.in, err)
			case !tt.err && got != tt.want:
				t.Errorf("parseOTLPEndpoint(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// The exporters send traces and metrics under the URL's base path, and
// stop flushes both; failures end in one warning, not in the demo's output.
func TestOTLPExport(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		code := status
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer srv.Close()
	export := func(endpoint string) string {
		tel, err := startOTLP(t.Context(), endpoint)
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.startCycle(context.Background(), "worker-1")
		span.End()
		c, err := tel.metrics().Meter("test").Int64Counter("test.count")
		if err != nil {
			t.Fatal(err)
		}
		c.Add(context.Background(), 1)
		var warn bytes.Buffer
		tel.stop(t.Context(), &warn)
		return warn.String()
	}

	if warn := export(srv.URL + "/base"); warn != "" {
		t.Errorf("warning from a working collector: %s", warn)
	}
	mu.Lock()
	got := slices.Sorted(slices.Values(paths))
	paths, status = nil, http.StatusNotFound
	mu.Unlock()
	if want := []string{"/base/v1/metrics", "/base/v1/traces"}; !slices.Equal(got, want) {
		t.Errorf("requests to %v, want %v", got, want)
	}

	warn := export(strings.TrimPrefix(srv.URL, "http://"))
	if !strings.Contains(warn, "warning: OTLP export to "+strings.TrimPrefix(srv.URL, "http://")+" failed") {
		t.Errorf("warning %q, want one line counting the failed exports", warn)
	}
	mu.Lock()
	got = slices.Sorted(slices.Values(paths))
	mu.Unlock()
	if want := []string{"/v1/metrics", "/v1/traces"}; !slices.Equal(got, want) {
		t.Errorf("requests to %v, want %v", got, want)
	}
}

// A bad --otlp value is a usage error (status 2), found before anything
// runs; without --otlp the telemetry is a nil no-op.
func TestDemoOTLPFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), env{stdout: &stdout, stderr: &stderr}, []string{"demo", "--otlp", "ftp://x:1"})
	if code != exitUsage || !strings.Contains(stderr.String(), "--otlp wants host:port") {
		t.Errorf("exit %d, stderr %q; want 2 and the --otlp error", code, stderr.String())
	}
	var tel *otlpTelemetry
	if tel.traces() != nil || tel.metrics() != nil {
		t.Error("nil telemetry must give nil providers (the global ones)")
	}
	_, span := tel.startCycle(context.Background(), "w")
	if span.IsRecording() {
		t.Error("a cycle span without --otlp records")
	}
	span.End()
	tel.stop(context.Background(), &stderr)
}
