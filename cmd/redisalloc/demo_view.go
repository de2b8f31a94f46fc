package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/redisallocator/redisallocator/pool"
)

// Limits of the live view, so a frame fits a common terminal.
const (
	viewWidth     = 79
	viewProxyRows = 12
	viewEventRows = 3
)

// view writes the demo's output: on a terminal a frame redrawn in place
// every interval, elsewhere (CI logs, pipes) one line per interval plus
// events as they happen. Only one goroutine at a time writes: the caller
// of header, then the reporter, then the caller of final and summary.
type view struct {
	out  io.Writer
	live bool

	lines      int // height of the last live frame, to redraw over it
	lastAllocs int64
	lastTick   time.Time
	rate       float64 // allocations per second over the last interval

	mu      sync.Mutex // guards the events, which any goroutine adds
	recent  []string   // the last viewEventRows events, for the live frame
	pending []string   // events not printed yet, for plain output
}

func (v *view) event(at time.Duration, msg string) {
	line := fmt.Sprintf("[%6.1fs] %s", at.Seconds(), msg)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.recent = append(v.recent, line)
	if len(v.recent) > viewEventRows {
		v.recent = v.recent[len(v.recent)-viewEventRows:]
	}
	if !v.live {
		v.pending = append(v.pending, line)
	}
}

func (v *view) header(d *demo) {
	run := "until interrupted (Ctrl-C)"
	if d.o.duration > 0 {
		run = "for " + d.o.duration.String() + " (Ctrl-C stops earlier)"
	}
	fmt.Fprintf(v.out, "redisalloc demo: pool %q (prefix %s)\non %s, running %s\n", demoPoolName, d.prefix, d.where, run)
	fmt.Fprintf(v.out, "%d proxies, fastest first; %d workers with soft binding; 1 crashing worker whose\n", d.o.proxies, d.o.workers)
	fmt.Fprintf(v.out, "leases (%v) are never freed, reclaimed by GC every %v or by mallocs;\n", d.o.crashTTL, d.o.gcEvery)
	fmt.Fprintf(v.out, "bad proxy %s is down %v of every %v from %v: the health checker quarantines it.\n\n",
		d.bad, d.o.outageFor, d.o.outageEvery, d.o.outageAt)
	v.lastTick = d.start
}

// tick shows the state after the reporter's check.
func (v *view) tick(d *demo) {
	now := time.Now()
	n := d.allocs.Load()
	if dt := now.Sub(v.lastTick).Seconds(); dt > 0 {
		v.rate = float64(n-v.lastAllocs) / dt
	}
	v.lastAllocs, v.lastTick = n, now
	v.show(d, now, "")
}

// final shows the state once more after the workers stopped, keeping the
// last rate: one over the moment since the last tick would mean nothing.
func (v *view) final(d *demo) {
	v.show(d, time.Now(), "stopped: ")
}

func (v *view) show(d *demo, now time.Time, tag string) {
	if v.live {
		v.redraw(v.frame(d, now))
		return
	}
	v.flushEvents()
	fmt.Fprintln(v.out, v.line(d, now, tag))
}

func (v *view) flushEvents() {
	v.mu.Lock()
	events := v.pending
	v.pending = nil
	v.mu.Unlock()
	for _, e := range events {
		fmt.Fprintln(v.out, e)
	}
}

// redraw replaces the previous frame: cursor up over it, clear to the end
// of the screen, write the new one.
func (v *view) redraw(lines []string) {
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", v.lines)
	}
	for _, l := range lines {
		b.WriteString(clip(l, viewWidth))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(v.out, b.String())
	v.lines = len(lines)
}

// clip cuts s to n runes, so no line wraps and breaks the redraw.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// figures are the numbers both views show, read once per tick.
type figures struct {
	elapsed                      time.Duration
	snap                         *pool.Snapshot
	gc                           pool.GCResult
	gcPasses                     int
	tr                           trackerStats
	allocs, abandoned, lost, err int64
	reports, marks, back         int64
	hits, tries                  int64
}

func (d *demo) figures(now time.Time) figures {
	f := figures{
		elapsed: now.Sub(d.start), tr: d.track.stats(),
		allocs: d.allocs.Load(), abandoned: d.abandoned.Load(), lost: d.lost.Load(), err: d.errs.Load(),
		reports: d.reports.Load(), marks: d.marks.Load(), back: d.back.Load(),
	}
	d.mu.Lock()
	f.snap, f.gc, f.gcPasses = d.snap, d.gc, d.gcPasses
	d.mu.Unlock()
	for _, w := range d.workers {
		f.hits += w.bindHits.Load()
		f.tries += w.bindTries.Load()
	}
	return f
}

func (f figures) counts() pool.Counts {
	if f.snap == nil {
		return pool.Counts{}
	}
	return f.snap.Counts
}

func (f figures) status() string {
	if n := len(f.tr.violations); n > 0 {
		return fmt.Sprintf("VIOLATED (%d)", n)
	}
	return "OK"
}

func upDown(down bool) string {
	if down {
		return "DOWN"
	}
	return "up"
}

func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "s"):
		return fmt.Sprintf("%d %ses", n, noun)
	default:
		return fmt.Sprintf("%d %ss", n, noun)
	}
}

func times(n int64) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func percent(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// line is the plain output of one tick.
func (v *view) line(d *demo, now time.Time, tag string) string {
	f := d.figures(now)
	c := f.counts()
	return fmt.Sprintf("[%6.1fs] %sfree=%d held=%d unhealthy=%d allocs=%d rate=%.0f/s bind-hits=%s abandoned=%d reclaimed=%d outages=%d reports=%d violations=%d %s",
		f.elapsed.Seconds(), tag, c.Free, c.Held, c.Unhealthy, f.allocs, v.rate, percent(f.hits, f.tries),
		f.abandoned, f.tr.reclaimed, f.marks, f.reports, len(f.tr.violations), f.status())
}

// frame is the live output of one tick: at most 24 lines, so it redraws
// cleanly on a classic terminal.
func (v *view) frame(d *demo, now time.Time) []string {
	f := d.figures(now)
	c := f.counts()
	var fence int64
	if f.snap != nil {
		fence = f.snap.Fence
	}
	of := "until Ctrl-C"
	if d.o.duration > 0 {
		of = "of " + d.o.duration.String()
	}
	out := []string{
		fmt.Sprintf("elapsed %.1fs %s   allocations %d (%.0f/s)   fence %d", f.elapsed.Seconds(), of, f.allocs, v.rate, fence),
		fmt.Sprintf("pool        free %d   held %d   unhealthy %d", c.Free, c.Held, c.Unhealthy),
		fmt.Sprintf("binding     hits %s (%d of %d)", percent(f.hits, f.tries), f.hits, f.tries),
		fmt.Sprintf("crashes     %s abandoned, %d reclaimed, %d pending", plural(int(f.abandoned), "lease"), f.tr.reclaimed, f.tr.pendingCrashed),
		fmt.Sprintf("gc          %s: %s reclaimed, %s ended", plural(f.gcPasses, "pass"),
			plural(f.gc.LeasesReclaimed, "lease"), plural(f.gc.MembersRecovered, "quarantine")),
		fmt.Sprintf("bad proxy   %s %s: %s, %s, back in rotation %s", d.bad, upDown(d.down(d.bad, now)),
			plural(int(f.marks), "outage"), plural(int(f.reports), "worker report"), times(f.back)),
		fmt.Sprintf("invariants  %s: %s, %s, %s, %s", f.status(), plural(f.tr.snapshots, "snapshot"),
			plural(f.tr.checked, "fencing check"), plural(len(f.tr.violations), "violation"), plural(int(f.err), "error")),
		"",
		fmt.Sprintf("%-9s %-10s %5s %4s  %-9s %-9s %6s", "PROXY", "REGION", "DELAY", "PRIO", "STATE", "HOLDER", "ALLOCS"),
	}
	states := map[string]pool.MemberInfo{}
	if f.snap != nil {
		for _, m := range f.snap.Members {
			states[m.Key] = m
		}
	}
	for i, k := range d.keys {
		if i == viewProxyRows-1 && len(d.keys) > viewProxyRows {
			out = append(out, fmt.Sprintf("… and %d more", len(d.keys)-i))
			break
		}
		p := d.values[k]
		m, ok := states[k]
		var notes []string
		if k == d.bad {
			notes = append(notes, upDown(d.down(k, now)))
		}
		state := "?"
		if ok {
			state = string(m.State)
			if m.State == pool.StateUnhealthy {
				notes = append(notes, fmt.Sprintf("%.1fs left", m.UnhealthyUntil.Sub(f.snap.Time).Seconds()))
			}
		}
		note := ""
		if len(notes) > 0 {
			note = " " + strings.Join(notes, ", ")
		}
		holder := f.tr.holders[k]
		if holder == "" || state != string(pool.StateHeld) {
			holder = "-"
		}
		out = append(out, fmt.Sprintf("%-9s %-10s %5s %4d  %-9s %-9s %6d%s",
			k, p.Region, p.Latency.Round(time.Millisecond), d.prio[k], state, holder, f.tr.allocs[k], note))
	}
	v.mu.Lock()
	recent := append([]string(nil), v.recent...)
	v.mu.Unlock()
	return append(out, recent...)
}

// summary is the final report. Its "name: value" lines are stable, for
// scripts and tests.
func (v *view) summary(d *demo) {
	v.flushEvents()
	f := d.figures(time.Now())
	secs := f.elapsed.Seconds()
	c := f.counts()
	var b strings.Builder
	fmt.Fprintf(&b, "\nsummary after %.1fs (%s)\n", secs, d.stopped)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "  %-14s %s\n", name+":", fmt.Sprintf(format, args...))
	}
	row("allocations", "%d (%.1f/s)", f.allocs, float64(f.allocs)/max(secs, 1e-3))
	row("binding hits", "%d of %d (%s)", f.hits, f.tries, percent(f.hits, f.tries))
	row("reclaims", "%d of %d crashed leases (%d by the GC loop, the rest by malloc; %d not due at exit)",
		f.tr.reclaimed, f.abandoned, min(f.gc.LeasesReclaimed, f.tr.reclaimed), f.tr.pendingCrashed)
	row("quarantines", "%s quarantined by the checker %s, reported by workers %s, back in rotation %s",
		d.bad, times(f.marks), times(f.reports), times(f.back))
	row("gc", "%s: %s reclaimed, %s ended, %s expired", plural(f.gcPasses, "pass"),
		plural(f.gc.LeasesReclaimed, "lease"), plural(f.gc.MembersRecovered, "quarantine"), plural(f.gc.BindingsExpired, "binding"))
	row("final state", "free %d, held %d, unhealthy %d", c.Free, c.Held, c.Unhealthy)
	for _, h := range d.heldAtExit {
		fmt.Fprintf(&b, "    held %s\n", h)
	}
	row("queue", "%d fetch tasks done by queue workers on pooled proxies, %d failed", d.queue.done.Load(), d.queue.failed.Load())
	row("lost leases", "%d", f.lost)
	row("errors", "%d", f.err)
	row("checks", "%s, %s (%s recorded too late to check)",
		plural(f.tr.snapshots, "snapshot"), plural(f.tr.checked, "fencing check"), plural(f.tr.late, "allocation"))
	row("violations", "%d", len(f.tr.violations))
	for i, msg := range f.tr.violations {
		if i == 10 {
			fmt.Fprintf(&b, "    … %d more\n", len(f.tr.violations)-i)
			break
		}
		fmt.Fprintf(&b, "    %s\n", msg)
	}
	clean := 0
	for _, w := range d.workers {
		if w.err == nil {
			clean++
		}
	}
	row("workers", "%d of %d stopped cleanly", clean, len(d.workers))
	for _, w := range d.workers {
		if w.err != nil {
			fmt.Fprintf(&b, "    %v\n", w.err)
		}
	}
	if d.cleanupErr != nil {
		row("cleanup", "FAILED: %v", d.cleanupErr)
	} else {
		row("cleanup", "%s", d.cleanupMsg)
	}
	result := "OK"
	if len(f.tr.violations) > 0 || clean < len(d.workers) || d.cleanupErr != nil {
		result = "FAILED"
	}
	fmt.Fprintf(&b, "result: %s\n", result)
	_, _ = io.WriteString(v.out, b.String())
}
