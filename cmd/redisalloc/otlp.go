package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// otlpService is the service.name the demo reports under; otlpScope the
// instrumentation scope of the demo's own spans.
const (
	otlpService = "redisalloc-demo"
	otlpScope   = "github.com/redisallocator/redisallocator/cmd/redisalloc"
)

// Timings of the OTLP export: metrics go out every otlpMetricInterval (and
// once more at exit); the final flush gives up after otlpFlushTimeout, so an
// unreachable collector cannot hold up the exit for long.
const (
	otlpMetricInterval = 5 * time.Second
	otlpFlushTimeout   = 5 * time.Second
)

// otlpDefaultPort is the OTLP/HTTP port, used when --otlp gives a bare host.
const otlpDefaultPort = "4318"

// errOTLPEndpoint reports an --otlp value that is not host:port or an
// http(s) URL.
var errOTLPEndpoint = errors.New("--otlp wants host:port or an http(s):// URL")

// otlpEndpoint is a parsed --otlp value.
type otlpEndpoint struct {
	hostPort string // where the collector listens
	basePath string // "" or a path the signal paths (/v1/traces, /v1/metrics) go under
	insecure bool   // plain HTTP
}

// parseOTLPEndpoint reads an --otlp value: host:port (plain HTTP, port 4318
// when left out) or a URL http(s)://host[:port][/base], like
// OTEL_EXPORTER_OTLP_ENDPOINT: traces go to <base>/v1/traces and metrics to
// <base>/v1/metrics.
func parseOTLPEndpoint(s string) (otlpEndpoint, error) {
	if !strings.Contains(s, "://") {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			// A bare host (or [v6]) gets the OTLP/HTTP port.
			host, port = strings.Trim(s, "[]"), otlpDefaultPort
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" || strings.ContainsAny(host, "/?#@ ") {
			return otlpEndpoint{}, fmt.Errorf("%w, got %q", errOTLPEndpoint, s)
		}
		return otlpEndpoint{hostPort: net.JoinHostPort(host, port), insecure: true}, nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return otlpEndpoint{}, fmt.Errorf("%w: %w", errOTLPEndpoint, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return otlpEndpoint{}, fmt.Errorf("%w, got scheme %q", errOTLPEndpoint, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return otlpEndpoint{}, fmt.Errorf("%w, got no host in %q", errOTLPEndpoint, s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return otlpEndpoint{}, fmt.Errorf("%w, without credentials, query or fragment; got %q", errOTLPEndpoint, s)
	}
	return otlpEndpoint{hostPort: u.Host, basePath: strings.TrimRight(u.Path, "/"), insecure: u.Scheme == "http"}, nil
}

// otlpTelemetry exports the demo's traces and metrics to an OpenTelemetry
// collector (Jaeger, the OpenTelemetry Collector, ...) over OTLP/HTTP. A nil
// *otlpTelemetry exports nothing: its providers are nil, which the library
// reads as "the global ones" (no-ops unless someone set them).
type otlpTelemetry struct {
	endpoint string
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	errs     *exportErrors
}

// startOTLP builds the exporters for endpoint (see parseOTLPEndpoint). It
// connects nothing yet: the first export does, and export errors are
// counted and reported by stop, not printed over the demo's live view.
func startOTLP(ctx context.Context, endpoint string) (*otlpTelemetry, error) {
	ep, err := parseOTLPEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	topts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(ep.hostPort)}
	mopts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(ep.hostPort)}
	if ep.insecure {
		topts = append(topts, otlptracehttp.WithInsecure())
		mopts = append(mopts, otlpmetrichttp.WithInsecure())
	}
	if ep.basePath != "" {
		topts = append(topts, otlptracehttp.WithURLPath(ep.basePath+"/v1/traces"))
		mopts = append(mopts, otlpmetrichttp.WithURLPath(ep.basePath+"/v1/metrics"))
	}
	texp, err := otlptracehttp.New(ctx, topts...)
	if err != nil {
		return nil, fmt.Errorf("otlp traces: %w", err)
	}
	mexp, err := otlpmetrichttp.New(ctx, mopts...)
	if err != nil {
		_ = texp.Shutdown(ctx)
		return nil, fmt.Errorf("otlp metrics: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", otlpService)))
	if err != nil {
		res = resource.NewSchemaless(attribute.String("service.name", otlpService))
	}
	t := &otlpTelemetry{
		endpoint: endpoint,
		tp:       sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res)),
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(otlpMetricInterval)))),
		errs: &exportErrors{},
	}
	// Exporters report failures to the global handler, which would print
	// them over the live view.
	gotel.SetErrorHandler(t.errs)
	return t, nil
}

// traces returns the tracer provider to give the library; nil (the global
// one) when t is nil.
func (t *otlpTelemetry) traces() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// metrics returns the meter provider to give the library; nil (the global
// one) when t is nil.
func (t *otlpTelemetry) metrics() metric.MeterProvider {
	if t == nil {
		return nil
	}
	return t.mp
}

// startCycle starts the span of one demo worker's malloc, use and free,
// so each cycle is one trace; without --otlp the span records nothing.
func (t *otlpTelemetry) startCycle(ctx context.Context, worker string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noop.Span{}
	}
	return t.tp.Tracer(otlpScope).Start(ctx, "demo.cycle", trace.WithAttributes(attribute.String("demo.worker", worker)))
}

// stop flushes what is left and shuts the exporters down, within
// otlpFlushTimeout even after ctx ended, and reports export failures to
// w. A lost export does not fail the demo.
func (t *otlpTelemetry) stop(ctx context.Context, w io.Writer) {
	if t == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), otlpFlushTimeout)
	defer cancel()
	if err := errors.Join(t.tp.Shutdown(sctx), t.mp.Shutdown(sctx)); err != nil {
		t.errs.Handle(err)
	}
	if n, first := t.errs.get(); n > 0 {
		fmt.Fprintf(w, "redisalloc demo: warning: OTLP export to %s failed %d time(s); the first: %v\n", t.endpoint, n, first)
	}
}

// exportErrors counts the OpenTelemetry SDK's errors and keeps the first.
// It is safe for concurrent use.
type exportErrors struct {
	mu    sync.Mutex
	n     int
	first error
}

// Handle implements otel.ErrorHandler.
func (e *exportErrors) Handle(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		e.first = err
	}
	e.n++
}

func (e *exportErrors) get() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, e.first
}
