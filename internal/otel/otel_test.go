package otel_test

import (
	"context"
	"errors"
	"testing"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/redisallocator/redisallocator/internal/otel"
)

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestScriptSpan(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	p := otel.NewProviders(tp, nil)
	tests := []struct {
		name     string
		readOnly bool
		srv      otel.Server
		err      error
		f        otel.Failure
		wantName string
		wantPort bool
	}{
		{"Write", false, otel.Server{Address: "10.0.0.1", Port: 6390}, nil, otel.Failure{}, "EVALSHA pool_malloc", true},
		{"DefaultPortOmitted", false, otel.Server{Address: "h", Port: 6379}, nil, otel.Failure{}, "EVALSHA pool_malloc", false},
		{"ReadOnly", true, otel.Server{}, nil, otel.Failure{}, "EVALSHA_RO pool_malloc", false},
		{"Failure", false, otel.Server{}, errors.New("boom"), otel.Failure{ErrorType: "NOT_HELD", StatusCode: "NOT_HELD"}, "EVALSHA pool_malloc", false},
	}
	for _, tt := range tests {
		sr.Reset()
		_, span := otel.StartScript(context.Background(), p.Tracer(), "pool_malloc", tt.readOnly, tt.srv)
		otel.EndScript(span, tt.err, tt.f)
		ended := sr.Ended()
		if len(ended) != 1 {
			t.Fatalf("%s: %d spans", tt.name, len(ended))
		}
		s, a := ended[0], spanAttrs(ended[0])
		if s.Name() != tt.wantName {
			t.Errorf("%s: name %q, want %q", tt.name, s.Name(), tt.wantName)
		}
		if _, ok := a["server.port"]; ok != tt.wantPort {
			t.Errorf("%s: server.port present %v, want %v", tt.name, ok, tt.wantPort)
		}
		if tt.srv.Address != "" && a["server.address"].AsString() != tt.srv.Address {
			t.Errorf("%s: server.address %v", tt.name, a["server.address"])
		}
		if (s.Status().Code == codes.Error) != (tt.err != nil) {
			t.Errorf("%s: status %v", tt.name, s.Status())
		}
		if tt.err != nil && (a["error.type"].AsString() != "NOT_HELD" || a["db.response.status_code"].AsString() != "NOT_HELD") {
			t.Errorf("%s: failure attributes %v", tt.name, a)
		}
		if tt.err == nil {
			if _, ok := a["error.type"]; ok {
				t.Errorf("%s: error.type on success", tt.name)
			}
		}
		if s.InstrumentationScope().Version != otel.Version || s.InstrumentationScope().SchemaURL == "" {
			t.Errorf("%s: scope %+v", tt.name, s.InstrumentationScope())
		}
	}
}

func TestNilProvidersUseGlobal(t *testing.T) {
	// Changes the global providers: not parallel.
	oldTP, oldMP := gotel.GetTracerProvider(), gotel.GetMeterProvider()
	defer func() {
		gotel.SetTracerProvider(oldTP)
		gotel.SetMeterProvider(oldMP)
	}()
	sr := tracetest.NewSpanRecorder()
	gotel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	var nilP *otel.Providers
	for _, p := range []*otel.Providers{nilP, otel.NewProviders(nil, nil)} {
		_, span := otel.StartScript(context.Background(), p.Tracer(), "x", false, otel.Server{})
		otel.EndScript(span, nil, otel.Failure{})
	}
	if n := len(sr.Ended()); n != 2 {
		t.Fatalf("global provider got %d spans, want 2", n)
	}
	reader := sdkmetric.NewManualReader()
	gotel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	c, err := otel.NewProviders(nil, nil).Meter().Int64Counter("test.count")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 || rm.ScopeMetrics[0].Scope.Name != otel.ScopeName {
		t.Fatalf("metrics %+v", rm.ScopeMetrics)
	}
}
