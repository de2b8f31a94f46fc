package inspect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/pool"
)

func finding(r *inspect.Report, code string) *inspect.Finding {
	for i := range r.Findings {
		if r.Findings[i].Code == code {
			return &r.Findings[i]
		}
	}
	return nil
}

// TestDiagnoseHealth: info findings are advisory and leave the health
// healthy; lapses younger than LapseGrace are churn (info), older ones
// warnings that degrade it.
func TestDiagnoseHealth(t *testing.T) {
	young := inspect.LapseGrace.Milliseconds() / 100
	old := 2 * inspect.LapseGrace.Milliseconds()
	tests := map[string]struct {
		pool       inspect.Pool
		slow       bool
		code, sev  string
		wantHealth string
	}{
		"PermanentLease":   {inspect.Pool{Name: "p", Total: 10, Free: 9, Held: 1, PermanentLeases: 1}, false, inspect.CodePermanentLeases, inspect.SeverityInfo, inspect.HealthHealthy},
		"SlowLog":          {inspect.Pool{Name: "p", Total: 10, Free: 10}, true, inspect.CodeSlowlogHints, inspect.SeverityInfo, inspect.HealthHealthy},
		"YoungLapse":       {inspect.Pool{Name: "p", Total: 10, Free: 9, Held: 1, LapsedLeases: 1, LapsedMillis: young}, false, inspect.CodeLapsedLeases, inspect.SeverityInfo, inspect.HealthHealthy},
		"OldLapse":         {inspect.Pool{Name: "p", Total: 10, Free: 9, Held: 1, LapsedLeases: 1, LapsedMillis: old}, false, inspect.CodeLapsedLeases, inspect.SeverityWarning, inspect.HealthDegraded},
		"YoungDeadSession": {inspect.Pool{Name: "p", Total: 10, Free: 9, Held: 1, DeadSessions: 1, DeadSessionMillis: young}, false, inspect.CodeDeadSessions, inspect.SeverityInfo, inspect.HealthHealthy},
		"OldDeadSession":   {inspect.Pool{Name: "p", Total: 10, Free: 9, Held: 1, DeadSessions: 1, DeadSessionMillis: old}, false, inspect.CodeDeadSessions, inspect.SeverityWarning, inspect.HealthDegraded},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := &inspect.Report{Prefix: "x", Pools: []inspect.Pool{tt.pool}}
			if tt.slow {
				r.Redis = &inspect.Redis{Nodes: []inspect.Node{{Addr: "n", SlowLog: []inspect.SlowEntry{{DurationMicros: 20000, Command: []string{"DEL", "x:{pool:p}:free"}}}}}}
			}
			inspect.Diagnose(r)
			f := finding(r, tt.code)
			if f == nil || f.Severity != tt.sev || r.Health != tt.wantHealth {
				t.Errorf("health %s, findings %+v; want %s %s, health %s", r.Health, r.Findings, tt.code, tt.sev, tt.wantHealth)
			}
		})
	}
}

// TestCollectSlowLogOfPrefixOnly: slow-log entries of other prefixes are
// neither counted nor quoted, so they cannot change this prefix's report.
func TestCollectSlowLogOfPrefixOnly(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		if b.Real() {
			// Log every command for the length of the test, keeping many.
			for addr, n := range b.Client.Nodes() {
				cfg, err := n.Do(ctx, n.B().ConfigGet().Parameter("slowlog-*").Build()).AsStrMap()
				if err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				set := func(ctx context.Context, k, v string) {
					if err := n.Do(ctx, n.B().ConfigSet().ParameterValue().ParameterValue(k, v).Build()).Error(); err != nil {
						t.Errorf("%s: CONFIG SET %s: %v", addr, k, err)
					}
				}
				t.Cleanup(func() {
					set(context.Background(), "slowlog-log-slower-than", cfg["slowlog-log-slower-than"])
					set(context.Background(), "slowlog-max-len", cfg["slowlog-max-len"])
				})
				set(ctx, "slowlog-max-len", "10000")
				set(ctx, "slowlog-log-slower-than", "0")
			}
		}
		// Another prefix, and one that starts with ours and a colon.
		other := "other" + b.Prefix
		for _, k := range []string{other + ":{queue:fetch}:data", b.Prefix + ":eu:{queue:fetch}:data"} {
			if err := b.Client.Do(ctx, b.Client.B().Del().Key(k).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		p, err := pool.New[string](b.Client, b.Prefix, "p")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		r, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{SampleLimit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		ours := 0
		for _, n := range r.Redis.Nodes {
			for _, e := range n.SlowLog {
				if !strings.Contains(strings.Join(e.Command, " "), b.Prefix+":{") {
					t.Errorf("%s: slow-log entry of another prefix: %q", n.Addr, e.Command)
				}
				ours++
			}
		}
		for _, f := range r.Findings {
			if strings.Contains(f.Message, other) {
				t.Errorf("finding quotes another prefix: %+v", f)
			}
		}
		if b.Real() && (ours == 0 || finding(r, inspect.CodeSlowlogHints) == nil) {
			t.Errorf("no slow-log entry of this prefix (Extend ran): %+v", r.Redis.Nodes)
		}
		if r.Health != inspect.HealthHealthy {
			t.Errorf("health %s with info findings only: %+v", r.Health, r.Findings)
		}
	})
}

// TestCollectLapseAge: the report carries how long the oldest lease is
// past its deadline, which Diagnose compares with LapseGrace.
func TestCollectLapseAge(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		p, err := pool.New[string](b.Client, b.Prefix, "p")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddKeys(ctx, []string{"a", "b", "c"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Malloc(ctx, pool.LeaseTTL(10*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		r, err := inspect.Collect(ctx, b.Client, b.Prefix, inspect.Options{SkipRedis: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Pools) != 1 || r.Pools[0].LapsedLeases != 1 || r.Pools[0].LapsedMillis <= 0 {
			t.Fatalf("pools %+v", r.Pools)
		}
		f := finding(r, inspect.CodeLapsedLeases)
		if f == nil || f.Severity != inspect.SeverityInfo || r.Health != inspect.HealthHealthy {
			t.Errorf("a lease lapsed %dms ago: health %s, findings %+v", r.Pools[0].LapsedMillis, r.Health, r.Findings)
		}
	})
}
