package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The parts of Jaeger's HTTP API (/api/traces) replies the tests read.
type (
	jaegerReply struct {
		Data   []jaegerTrace `json:"data"`
		Errors []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
	}
	jaegerTrace struct {
		TraceID   string                   `json:"traceID"`
		Spans     []jaegerSpan             `json:"spans"`
		Processes map[string]jaegerProcess `json:"processes"`
	}
	jaegerSpan struct {
		TraceID       string         `json:"traceID"`
		SpanID        string         `json:"spanID"`
		OperationName string         `json:"operationName"`
		References    []jaegerRef    `json:"references"`
		Tags          []jaegerKeyVal `json:"tags"`
		ProcessID     string         `json:"processID"`
	}
	jaegerRef struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	}
	jaegerKeyVal struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	}
	jaegerProcess struct {
		ServiceName string `json:"serviceName"`
	}
)

// tag returns the value of the span's tag key as text, and whether it has
// one.
func (s jaegerSpan) tag(key string) (string, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

// parent returns the span ID of the span's CHILD_OF reference, or "".
func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// byName returns the trace's spans named op.
func (tr jaegerTrace) byName(op string) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range tr.Spans {
		if s.OperationName == op {
			out = append(out, s)
		}
	}
	return out
}

// service returns the service name of span s.
func (tr jaegerTrace) service(s jaegerSpan) string { return tr.Processes[s.ProcessID].ServiceName }

// names lists the trace's span names, for failure messages.
func (tr jaegerTrace) names() string {
	n := make([]string, len(tr.Spans))
	for i, s := range tr.Spans {
		n[i] = s.OperationName
	}
	return strings.Join(n, ", ")
}

// get fetches path from the query API and decodes the reply.
func (j *jaegerServer) get(ctx context.Context, path string) (jaegerReply, error) {
	var r jaegerReply
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.queryURL+path, nil)
	if err != nil {
		return r, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return r, err
	}
	// A trace not stored yet is a 404 with an error in the body.
	if resp.StatusCode == http.StatusNotFound {
		return r, nil
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("GET %s: %w", path, err)
	}
	if len(r.Errors) > 0 {
		return r, fmt.Errorf("GET %s: %s", path, r.Errors[0].Msg)
	}
	return r, nil
}

// findTraces searches the service's recent traces (GET /api/traces).
func (j *jaegerServer) findTraces(ctx context.Context, service string, limit int) ([]jaegerTrace, error) {
	q := url.Values{"service": {service}, "limit": {strconv.Itoa(limit)}, "lookback": {"1h"}}
	r, err := j.get(ctx, "/api/traces?"+q.Encode())
	return r.Data, err
}

// trace fetches one trace by ID (GET /api/traces/{id}); ok is false while
// Jaeger does not have it.
func (j *jaegerServer) trace(ctx context.Context, id string) (jaegerTrace, bool, error) {
	r, err := j.get(ctx, "/api/traces/"+id)
	if err != nil || len(r.Data) == 0 {
		return jaegerTrace{}, false, err
	}
	return r.Data[0], true, nil
}

// poll calls f every 200ms until it returns true or an error, or until
// timeout passes (errJaegerTimeout, joined with f's last error). Spans of
// one trace arrive in several exports, so callers wait for all they need.
func poll(ctx context.Context, timeout time.Duration, f func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := f(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %v", errJaegerTimeout, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
