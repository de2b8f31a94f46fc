package inspect_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

func TestScriptStats(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		info        string
		calls, usec int64
	}{
		"Empty": {"", 0, 0},
		"AllScriptCommands": {
			"# Commandstats\r\n" +
				"cmdstat_eval:calls=1,usec=10,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_evalsha:calls=123,usec=4567,usec_per_call=37.13,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_eval_ro:calls=2,usec=20,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_evalsha_ro:calls=3,usec=30,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_fcall:calls=4,usec=40,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_fcall_ro:calls=5,usec=50,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n",
			138, 4717,
		},
		"OtherCommandsIgnored": {
			"cmdstat_get:calls=1000,usec=9999,usec_per_call=10.00\n" +
				"cmdstat_script|load:calls=7,usec=700,usec_per_call=100.00\n" +
				"cmdstat_evalsha_x:calls=7,usec=700\n" +
				"eval:calls=7,usec=700\n" +
				"cmdstat_evalsha:calls=5,usec=50,usec_per_call=10.00\n",
			5, 50,
		},
		"MalformedLinesSkippedWhole": {
			"cmdstat_eval:calls=abc,usec=100\n" +
				"cmdstat_evalsha:calls=3,usec=1e3\n" +
				"cmdstat_fcall:calls=-2,usec=10\n" +
				"cmdstat_fcall_ro:usec=10\n" +
				"cmdstat_eval_ro\n" +
				"cmdstat_evalsha_ro:calls=4,usec=40\n",
			4, 40,
		},
		"UpperCase": {"cmdstat_EVALSHA:calls=2,usec=8\n", 2, 8},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			calls, usec := inspect.ScriptStats(tt.info)
			if calls != tt.calls || usec != tt.usec {
				t.Errorf("calls %d usec %d, want %d %d", calls, usec, tt.calls, tt.usec)
			}
		})
	}
}

// scriptReport is a report of one node with script counters read at t0+at.
func scriptReport(addr string, at time.Duration, calls, usec int64) *inspect.Report {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &inspect.Report{
		Time: t0.Add(at), Prefix: "x",
		Redis: &inspect.Redis{Nodes: []inspect.Node{{
			Addr: addr, ScriptCalls: calls, ScriptMicros: usec, ScriptStatsAt: t0.Add(at),
		}}},
	}
}

func TestScriptLoadSince(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		prev, cur *inspect.Report
		want      *inspect.ScriptLoad
	}{
		"TwoSeconds": {
			scriptReport("n", 0, 100, 1_000_000), scriptReport("n", 2*time.Second, 300, 2_000_000),
			&inspect.ScriptLoad{Seconds: 2, CallsPerSecond: 100, BusyRatio: 0.5},
		},
		"NoScripts": {
			scriptReport("n", 0, 0, 0), scriptReport("n", time.Second, 0, 0),
			&inspect.ScriptLoad{Seconds: 1, CallsPerSecond: 0, BusyRatio: 0},
		},
		// Client clocks around a busy server: never more than always.
		"RatioCapped": {
			scriptReport("n", 0, 0, 0), scriptReport("n", time.Second, 10, 1_100_000),
			&inspect.ScriptLoad{Seconds: 1, CallsPerSecond: 10, BusyRatio: 1},
		},
		"CallsWentBack":    {scriptReport("n", 0, 100, 100), scriptReport("n", time.Second, 5, 200), nil},
		"MicrosWentBack":   {scriptReport("n", 0, 100, 100), scriptReport("n", time.Second, 200, 5), nil},
		"MissingNode":      {scriptReport("other", 0, 1, 1), scriptReport("n", time.Second, 9, 9), nil},
		"ZeroInterval":     {scriptReport("n", time.Second, 1, 1), scriptReport("n", time.Second, 9, 9), nil},
		"NegativeInterval": {scriptReport("n", 2*time.Second, 1, 1), scriptReport("n", time.Second, 9, 9), nil},
		"NilPrev":          {nil, scriptReport("n", time.Second, 9, 9), nil},
		"PrevWithoutRedis": {&inspect.Report{}, scriptReport("n", time.Second, 9, 9), nil},
		"PrevUnread": {
			func() *inspect.Report {
				r := scriptReport("n", 0, 0, 0)
				r.Redis.Nodes[0].ScriptStatsAt = time.Time{}
				return r
			}(),
			scriptReport("n", time.Second, 9, 9), nil,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A stale load from an earlier call must not survive.
			tt.cur.Redis.Nodes[0].ScriptLoad = &inspect.ScriptLoad{Seconds: 99}
			inspect.ScriptLoadSince(tt.prev, tt.cur)
			if d := cmp.Diff(tt.want, tt.cur.Redis.Nodes[0].ScriptLoad); d != "" {
				t.Errorf("script load (-want +got):\n%s", d)
			}
		})
	}
	t.Run("NilCur", func(t *testing.T) {
		t.Parallel()
		inspect.ScriptLoadSince(scriptReport("n", 0, 1, 1), nil)
		inspect.ScriptLoadSince(scriptReport("n", 0, 1, 1), &inspect.Report{})
	})
}

func TestDiagnoseScriptLoad(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ratio      float64
		sev        string // "" for no finding
		wantHealth string
	}{
		"Idle":      {0, "", inspect.HealthHealthy},
		"BelowInfo": {inspect.ScriptBusyInfoRatio - 0.01, "", inspect.HealthHealthy},
		"Info":      {inspect.ScriptBusyInfoRatio, inspect.SeverityInfo, inspect.HealthHealthy},
		"BelowWarn": {inspect.ScriptBusyWarnRatio - 0.01, inspect.SeverityInfo, inspect.HealthHealthy},
		"Warn":      {inspect.ScriptBusyWarnRatio, inspect.SeverityWarning, inspect.HealthDegraded},
		"Saturated": {1, inspect.SeverityWarning, inspect.HealthDegraded},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := &inspect.Report{Prefix: "x", Redis: &inspect.Redis{Nodes: []inspect.Node{{
				Addr: "10.0.0.1:6379", ScriptLoad: &inspect.ScriptLoad{Seconds: 10, CallsPerSecond: 1234, BusyRatio: tt.ratio},
			}}}}
			inspect.Diagnose(r)
			f := finding(r, inspect.CodeHighEvalPressure)
			if r.Health != tt.wantHealth {
				t.Errorf("health %s, want %s: %+v", r.Health, tt.wantHealth, r.Findings)
			}
			if tt.sev == "" {
				if f != nil {
					t.Errorf("finding at %.2f: %+v", tt.ratio, f)
				}
				return
			}
			if f == nil || f.Severity != tt.sev || f.Subject != "redis:10.0.0.1:6379" {
				t.Fatalf("findings %+v, want %s %s", r.Findings, tt.sev, inspect.CodeHighEvalPressure)
			}
			for _, want := range []string{fmt.Sprintf("%.0f%%", 100*tt.ratio), "1234 calls/s", "10s", "every client", "spread pools over cluster nodes", "snapshot less often", "split large pools"} {
				if !strings.Contains(f.Message, want) {
					t.Errorf("message lacks %q: %s", want, f.Message)
				}
			}
		})
	}
}

// TestNodeJSON: the script fields are in the JSON shape, named as
// docs/cli.md says.
func TestNodeJSON(t *testing.T) {
	t.Parallel()
	r := scriptReport("n", time.Second, 3, 4)
	inspect.ScriptLoadSince(scriptReport("n", 0, 1, 2), r)
	js, err := json.Marshal(r.Redis.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	load, _ := got["script_load"].(map[string]any)
	if got["script_calls"] != float64(3) || got["script_usec"] != float64(4) || got["script_stats_at"] == nil ||
		load["seconds"] != float64(1) || load["calls_per_second"] != float64(2) || load["busy_ratio"] != 2e-6 {
		t.Errorf("node JSON: %s", js)
	}
	// Unread counters and no load leave both out.
	js, _ = json.Marshal(inspect.Node{Addr: "n"})
	if s := string(js); strings.Contains(s, "script_stats_at") || strings.Contains(s, "script_load") {
		t.Errorf("empty node JSON: %s", s)
	}
}

// TestCollectScriptLoad: two collections around 200 script calls give a
// script load on real servers, counting at least those calls; miniredis
// has no INFO commandstats and gives none, and no finding.
func TestCollectScriptLoad(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		opts := inspect.Options{Names: &inspect.Names{}}
		first, err := inspect.Collect(ctx, b.Client, b.Prefix, opts)
		if err != nil {
			t.Fatal(err)
		}
		const calls = 200
		key := b.Prefix + ":evalp"
		for i := range calls {
			cmd := b.Client.B().Eval().Script("return redis.call('INCR', KEYS[1])").Numkeys(1).Key(key).Build()
			if n, err := b.Client.Do(ctx, cmd).AsInt64(); err != nil || n != int64(i+1) {
				t.Fatalf("EVAL %d: %d, %v", i, n, err)
			}
		}
		second, err := inspect.Collect(ctx, b.Client, b.Prefix, opts)
		if err != nil {
			t.Fatal(err)
		}
		inspect.ScriptLoadSince(first, second)
		inspect.Diagnose(second)

		var delta int64
		before := map[string]inspect.Node{}
		for _, n := range first.Redis.Nodes {
			before[n.Addr] = n
		}
		for _, n := range second.Redis.Nodes {
			delta += n.ScriptCalls - before[n.Addr].ScriptCalls
			l := n.ScriptLoad
			if !b.Real() {
				if l != nil || !n.ScriptStatsAt.IsZero() {
					t.Errorf("%s: script load from miniredis: %+v", n.Addr, n)
				}
				continue
			}
			if l == nil {
				t.Errorf("%s: no script load: %+v", n.Addr, n)
				continue
			}
			if l.Seconds <= 0 || l.BusyRatio < 0 || l.BusyRatio > 1 || l.CallsPerSecond < 0 || math.IsNaN(l.BusyRatio) {
				t.Errorf("%s: script load %+v", n.Addr, *l)
			}
		}
		if b.Real() && delta < calls {
			t.Errorf("script calls grew by %d over all nodes, want at least %d", delta, calls)
		}
		// Other tests share the real servers, so their scripts may make a
		// finding there; miniredis has nothing to make one from.
		if f := finding(second, inspect.CodeHighEvalPressure); f != nil && !b.Real() {
			t.Errorf("finding from miniredis: %+v", f)
		}
	})
}
