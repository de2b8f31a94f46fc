package inspect

import (
	"strconv"
	"strings"
)

// scriptCommands are the commandstats entries of script runs: EVAL
// scripts and Redis Functions, read-write and read-only.
var scriptCommands = map[string]bool{
	"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true,
}

// scriptStats sums calls and usec over the script commands of an INFO
// commandstats reply, whose lines read
// "cmdstat_evalsha:calls=123,usec=4567,usec_per_call=37.13,...". A line
// whose calls or usec is missing or not a count is skipped whole, so the
// two sums stay comparable.
func scriptStats(info string) (calls, usec int64) {
	for line := range strings.Lines(info) {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		cmd, ok := strings.CutPrefix(name, "cmdstat_")
		if !ok || !scriptCommands[strings.ToLower(cmd)] {
			continue
		}
		c, u := int64(-1), int64(-1)
		for f := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				continue
			}
			switch k {
			case "calls":
				c = n
			case "usec":
				u = n
			}
		}
		if c >= 0 && u >= 0 {
			calls += c
			usec += u
		}
	}
	return calls, usec
}

// ScriptLoadSince sets the ScriptLoad of every node of cur from the node
// of prev with the same address: the script calls per second and the share
// of the time between the two readings spent running scripts. A node gets
// none (nil) when either report has no Redis part, prev lacks the node,
// either reading lacks the counters, the time between them is not
// positive, or a counter went back (a restart or CONFIG RESETSTAT between
// the readings). Run Diagnose on cur afterwards to turn the load into
// findings. It only writes cur, and ignores nil reports.
func ScriptLoadSince(prev, cur *Report) {
	if cur == nil || cur.Redis == nil {
		return
	}
	before := map[string]Node{}
	if prev != nil && prev.Redis != nil {
		for _, n := range prev.Redis.Nodes {
			before[n.Addr] = n
		}
	}
	for i := range cur.Redis.Nodes {
		n := &cur.Redis.Nodes[i]
		n.ScriptLoad = nil
		p, ok := before[n.Addr]
		if !ok || p.ScriptStatsAt.IsZero() || n.ScriptStatsAt.IsZero() {
			continue
		}
		secs := n.ScriptStatsAt.Sub(p.ScriptStatsAt).Seconds()
		calls, usec := n.ScriptCalls-p.ScriptCalls, n.ScriptMicros-p.ScriptMicros
		if secs <= 0 || calls < 0 || usec < 0 {
			continue
		}
		n.ScriptLoad = &ScriptLoad{
			Seconds:        secs,
			CallsPerSecond: float64(calls) / secs,
			// The readings' times are the client's, each within half a
			// round trip of the server's: over a short interval the
			// ratio may come out a little above 1, which means "always".
			BusyRatio: min(float64(usec)/1e6/secs, 1),
		}
	}
}
