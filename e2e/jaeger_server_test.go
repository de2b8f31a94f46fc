package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds of the Jaeger helpers. Generous: CI machines are slow and shared.
const (
	jaegerBuildTimeout = 15 * time.Minute // a cold build compiles about 1500 packages
	jaegerStartTimeout = time.Minute
	jaegerStopTimeout  = 10 * time.Second
)

// jaegerModule is Jaeger, whose cmd/jaeger is the v2 all-in-one binary. Its
// version is pinned in this module's go.mod (a tool requirement).
const jaegerModule = "github.com/jaegertracing/jaeger"

// jaegerServer is a running Jaeger all-in-one with in-memory storage, all
// on free loopback ports.
type jaegerServer struct {
	otlpAddr string // host:port of the OTLP/HTTP receiver (traces and metrics)
	queryURL string // base URL of the query service (HTTP API and UI)
	logPath  string // Jaeger's stdout and stderr
}

// ciMode reports whether everything the test needs must be present: in CI a
// missing tool fails the test instead of skipping it.
func ciMode() bool { return os.Getenv("CI") == "true" }

// jaegerBinary returns the Jaeger binary: $JAEGER_BIN when set (CI may
// build it beforehand), else one built into dir. Without network outside
// CI the build fails and the test skips.
//
// It is built in Jaeger's own module, with the versions Jaeger's go.mod
// pins, not with this module's: Jaeger v1.76.0 does not compile against the
// newer OpenTelemetry modules the library pulls in (otel/log v1.47 and
// otelhttp v0.70 dropped APIs it uses), and `go install pkg@version`
// refuses it for the replace directive in its go.mod. The version is the
// one this module requires.
func jaegerBinary(t *testing.T, dir string) string {
	t.Helper()
	if bin := os.Getenv("JAEGER_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("JAEGER_BIN: %v", err)
		}
		return bin
	}
	fail := func(what string, out []byte, err error) {
		t.Helper()
		if !ciMode() && looksOffline(out) {
			t.Skipf("%s (offline?); CI=true makes this a failure: %v\n%s", what, err, out)
		}
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), jaegerBuildTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", jaegerModule)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		fail("go mod download "+jaegerModule, append(out, stderr.Bytes()...), err)
	}
	var mod struct{ Version, Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		fail("go mod download "+jaegerModule, out, fmt.Errorf("no module directory: %w %s", err, mod.Error))
	}
	bin := filepath.Join(dir, "jaeger")
	start := time.Now()
	cmd = exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jaeger")
	cmd.Dir = mod.Dir
	// The module cache is read-only: nothing may try to update Jaeger's
	// go.mod or go.sum, and no workspace may add modules.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		fail("go build "+jaegerModule+"/cmd/jaeger@"+mod.Version, out, err)
	}
	t.Logf("built Jaeger %s in %v", mod.Version, time.Since(start).Round(time.Millisecond))
	return bin
}

// goBuild builds pkg, resolved in the module at dir ("" for this one), into
// out and says how long it took.
func goBuild(t *testing.T, dir, out, pkg string) ([]byte, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), jaegerBuildTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	return b, time.Since(start), err
}

// looksOffline reports whether go's output blames the network.
func looksOffline(out []byte) bool {
	for _, s := range []string{"dial tcp", "no such host", "network is unreachable", "i/o timeout", "connection refused", "proxyconnect"} {
		if bytes.Contains(out, []byte(s)) {
			return true
		}
	}
	return false
}

// freePorts returns n distinct free TCP ports on the loopback interface.
// Another process could take one before Jaeger binds it; startJaeger
// retries once with new ports when Jaeger fails to start.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// jaegerConfig is Jaeger's configuration (an OpenTelemetry Collector
// configuration): OTLP/HTTP in, traces to memory storage, metrics to the
// debug exporter (its log shows what arrived), the query service on its own
// ports. Nothing listens on Jaeger's default ports, and its own telemetry is
// off (it would otherwise serve metrics on :8888 and send traces to
// localhost:4318).
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
    metrics:
      receivers: [otlp]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%[1]d
    grpc:
      endpoint: 127.0.0.1:%[2]d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%[3]d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
  debug:
    verbosity: detailed
`

// startJaeger starts Jaeger from bin and waits until it accepts OTLP and
// answers queries. It stops in t.Cleanup; its log (and config) stay in a
// directory named in the test log when the test failed.
func startJaeger(t *testing.T, bin string) *jaegerServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "e2e-jaeger-")
	if err != nil {
		t.Fatal(err)
	}
	var j *jaegerServer
	for try := 1; ; try++ {
		j, err = launchJaeger(t, bin, dir, try)
		if err == nil {
			break
		}
		if try == 2 {
			t.Logf("Jaeger's log and config are kept in %s", dir)
			t.Fatalf("start Jaeger: %v\n%s", err, tail(j.logPath, 40))
		}
		t.Logf("start Jaeger (try %d): %v; retrying with other ports", try, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Jaeger's log and config are kept in %s; last lines:\n%s", dir, tail(j.logPath, 40))
			return
		}
		_ = os.RemoveAll(dir)
	})
	return j
}

// launchJaeger runs one attempt of startJaeger. The server it returns stops
// in t.Cleanup; on error nothing is left running.
func launchJaeger(t *testing.T, bin, dir string, try int) (*jaegerServer, error) {
	p := freePorts(t, 3)
	j := &jaegerServer{
		queryURL: fmt.Sprintf("http://127.0.0.1:%d", p[0]),
		otlpAddr: fmt.Sprintf("127.0.0.1:%d", p[2]),
		logPath:  filepath.Join(dir, fmt.Sprintf("jaeger-%d.log", try)),
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, p[0], p[1], p[2]), 0o600); err != nil {
		return j, err
	}
	logFile, err := os.Create(j.logPath)
	if err != nil {
		return j, err
	}
	defer func() { _ = logFile.Close() }() // the child has its own descriptor
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return j, err
	}
	exited := make(chan struct{}) // closed once waitErr is set
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(jaegerStopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if err := j.waitReady(exited, &waitErr); err != nil {
		stop()
		return j, err
	}
	t.Cleanup(stop)
	return j, nil
}

// waitReady polls until the OTLP receiver takes an (empty) export and the
// query API answers, Jaeger exits, or jaegerStartTimeout passes. The
// collector starts its receivers last, so the OTLP check is the one that
// says the pipeline is up.
func (j *jaegerServer) waitReady(exited <-chan struct{}, waitErr *error) error {
	deadline := time.Now().Add(jaegerStartTimeout)
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("jaeger exited during start: %w", *waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if last = j.probe(c); last == nil {
			return nil
		}
	}
	return fmt.Errorf("not ready after %v: %w", jaegerStartTimeout, last)
}

func (j *jaegerServer) probe(c *http.Client) error {
	resp, err := c.Post("http://"+j.otlpAddr+"/v1/traces", "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OTLP receiver: %s", resp.Status)
	}
	resp, err = c.Get(j.queryURL + "/api/services")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("query API: %s", resp.Status)
	}
	return nil
}

// tail returns the last n lines of the file at path, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// errJaegerTimeout reports a query that never saw what it waited for.
var errJaegerTimeout = errors.New("jaeger: not found in time")
