package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// expected is the result every handler run of a task with payload x must
// produce: a pure function of the payload, so duplicate runs agree.
func expected(x int64) int64 { return x*31 + 7 }

// TaskState is a task's record as Redis holds it after the drain.
type TaskState struct {
	Found     bool   // a record exists
	Status    string // task.Status
	HasResult bool
	Result    int64
	Dead      bool // listed in the dead-letter set
}

// CheckInput is everything the ledger checker looks at.
type CheckInput struct {
	Records []Record
	// Tasks maps every task id of an intent to its final record.
	Tasks map[string]TaskState
	// RemovalWindow bounds how long after it was sent a removing op
	// (Shrink, Assign) whose reply never came may still have run.
	RemovalWindow time.Duration
	// Faults are the injected network faults, [start, end] in unix ns: a
	// request the proxy held back meanwhile (a slicer trickles it out) may
	// reach Redis up to RemovalWindow after the fault ends.
	Faults [][2]int64
	// Lossy says Redis lost acknowledged writes on purpose during the run
	// (an AOF tail cut, a failover to a lagging replica). Leases, frees
	// and task records can then vanish, so overlaps, writes refused while
	// valid, lost tasks and conflicting outcomes are what Redis's contract
	// allows: they are counted as notes, not violations. Fences must still
	// never go back and the resource must still turn superseded writers
	// away.
	Lossy bool
}

// unansweredUntil is how long after send a request whose reply never came
// may still run: RemovalWindow, stretched while faults held it back.
func (in CheckInput) unansweredUntil(send int64) int64 {
	until := send + int64(in.RemovalWindow)
	for changed := true; changed; {
		changed = false
		for _, f := range in.Faults {
			if f[0] <= until && f[1] >= send && f[1]+int64(in.RemovalWindow) > until {
				until, changed = f[1]+int64(in.RemovalWindow), true
			}
		}
	}
	return until
}

// CheckResult is what the ledger checker found. Every field named in
// Violations failed a check; the rest is information.
type CheckResult struct {
	Holdings        int `json:"holdings"`
	EmptyHoldings   int `json:"empty_holdings"` // no guaranteed validity left to check
	Overlaps        int `json:"overlaps"`
	DuplicateFences int `json:"duplicate_fences"`
	FenceOrder      int `json:"fence_order"`
	GuardWrites     int `json:"guard_writes"`
	GuardAccepted   int `json:"guard_accepted"`
	GuardFencedOff  int `json:"guard_fenced_off"` // stale writes refused after the writer's lease ended: fencing at work
	GuardViolations int `json:"guard_violations"`
	// FenceRegressions counts acquisitions whose fence was not above every
	// fence already answered (to anyone) when they were sent: a counter
	// that went back, as when Redis loses writes.
	FenceRegressions int `json:"fence_regressions"`
	// SupersededAccepted counts writes the fenced resource accepted from a
	// holding whose fence was lower than one it had already seen for the
	// member, or equal to one another holding had written.
	SupersededAccepted int   `json:"superseded_writes_accepted"`
	MaxFence           int64 `json:"max_fence"`

	TaskIntents     int      `json:"task_intents"`
	TasksSubmitted  int      `json:"tasks_submitted"`
	TasksSucceeded  int      `json:"tasks_succeeded"`
	TasksDead       int      `json:"tasks_dead"`
	TasksAbsent     int      `json:"tasks_absent"` // intent only, never queued: allowed
	TasksLost       int      `json:"tasks_lost"`
	WrongResults    int      `json:"wrong_results"`
	ConflictResults int      `json:"conflicting_results"`
	ResultsReceived int      `json:"results_received"`
	DuplicateRuns   int      `json:"duplicate_runs"` // tasks whose handler succeeded more than once (at-least-once: info)
	HandlerRuns     int      `json:"handler_runs"`
	Violations      []string `json:"violations,omitempty"`
	// Notes describe what a lossy run's lost writes caused (see
	// CheckInput.Lossy): information, not violations.
	Notes             []string `json:"notes,omitempty"`
	violationsOmitted int
	notesOmitted      int
}

const maxViolationText = 50

// errRefused is the error class of a call whose connection could not even
// be dialled: rueidis sent nothing, so the op did not run.
const errRefused = "conn_refused"

func (c *CheckResult) bad(format string, args ...any) {
	if len(c.Violations) >= maxViolationText {
		c.violationsOmitted++
		return
	}
	c.Violations = append(c.Violations, fmt.Sprintf(format, args...))
}

// lost reports a finding that lost writes may cause: a violation, or a
// note in a lossy run.
func (c *CheckResult) lost(lossy bool, format string, args ...any) {
	if !lossy {
		c.bad(format, args...)
		return
	}
	if len(c.Notes) >= maxViolationText {
		c.notesOmitted++
		return
	}
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

// holding is one exclusive allocation as the ledger tells it.
type holding struct {
	m       string
	fence   int64
	worker  string
	sess    string
	ttl     int64 // ns
	aSend   int64
	aReply  int64
	validTo int64 // guaranteed end (exclusive); <= aReply means none
}

type span struct{ send, reply int64 }

// Check runs every ledger check: exclusivity (fences and validity
// intervals), the guarded writes and the task outcomes.
func Check(in CheckInput) CheckResult {
	var res CheckResult
	checkExclusive(in, &res)
	checkTasks(in, &res)
	if res.violationsOmitted > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("... and %d more", res.violationsOmitted))
	}
	if res.notesOmitted > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("... and %d more", res.notesOmitted))
	}
	return res
}

func ts(ns int64) string { return time.Unix(0, ns).Format("15:04:05.000000") }

func checkExclusive(in CheckInput, res *CheckResult) {
	type key struct {
		w string
		f int64
	}
	var holds []*holding
	byKey := map[key]*holding{}
	refreshes := map[key][]Record{}
	frees := map[key]int64{}
	sessTimeout := map[string]int64{}
	life := map[string][]span{} // sign-of-life events of each session
	removals := map[string][]span{}
	type sent struct {
		w    string
		send int64
	}
	removing := map[sent]Record{} // removal intents not yet matched by their outcome
	var guards []Record
	for _, r := range in.Records {
		switch r.K {
		case kAcq:
			h := &holding{m: r.M, fence: r.F, worker: r.W, sess: r.Sess, ttl: r.TTL * int64(time.Millisecond), aSend: r.Send, aReply: r.T}
			holds = append(holds, h)
			byKey[key{r.W, r.F}] = h
			if r.Sess != "" {
				life[r.Sess] = append(life[r.Sess], span{r.Send, r.T})
			}
			res.MaxFence = max(res.MaxFence, r.F)
		case kRefresh:
			refreshes[key{r.W, r.F}] = append(refreshes[key{r.W, r.F}], r)
		case kFree:
			k := key{r.W, r.F}
			if t, ok := frees[k]; !ok || r.T < t {
				frees[k] = r.T
			}
		case kSess:
			sessTimeout[r.Sess] = r.TTL * int64(time.Millisecond)
		case kBeat:
			if r.OK {
				life[r.Sess] = append(life[r.Sess], span{r.Send, r.T})
			}
		case kRemoving:
			removing[sent{r.W, r.Send}] = r
		case kRemove:
			delete(removing, sent{r.W, r.Send})
			if r.Err == errRefused {
				continue // the dial was refused: nothing was sent
			}
			reply := r.T
			if !r.OK {
				// No reply: the op may still run a while after it was sent.
				reply = in.unansweredUntil(r.Send)
			}
			for _, m := range r.Keys {
				removals[m] = append(removals[m], span{r.Send, reply})
			}
		case kGuard:
			guards = append(guards, r)
		}
	}
	// Intents without an outcome: the worker died with the op sent (or
	// about to be), and the proxy may deliver it afterwards.
	for _, r := range removing {
		for _, m := range r.Keys {
			removals[m] = append(removals[m], span{r.Send, in.unansweredUntil(r.Send)})
		}
	}
	for _, evs := range life {
		slices.SortFunc(evs, func(a, b span) int { return cmp64(a.reply, b.reply) })
	}
	res.Holdings = len(holds)

	// Fences: unique, and in the order the allocations ran.
	byFence := slices.Clone(holds)
	slices.SortFunc(byFence, func(a, b *holding) int { return cmp64(a.fence, b.fence) })
	var maxSend int64 = math.MinInt64
	var maxSendOf *holding
	for i, h := range byFence {
		if i > 0 && byFence[i-1].fence == h.fence {
			res.DuplicateFences++
			res.bad("fence %d handed out twice: member %s to %s and member %s to %s", h.fence, byFence[i-1].m, byFence[i-1].worker, h.m, h.worker)
			continue
		}
		if maxSendOf != nil && h.aReply < maxSend {
			res.FenceOrder++
			res.bad("fence %d (%s, %s) was answered at %s, before fence %d (%s) was even sent at %s",
				h.fence, h.m, h.worker, ts(h.aReply), maxSendOf.fence, maxSendOf.worker, ts(maxSend))
		}
		if h.aSend > maxSend {
			maxSend, maxSendOf = h.aSend, h
		}
	}

	// Regressions: sent after fence f was answered, an acquisition must get
	// a fence above f, whatever Redis lost meanwhile.
	bySend := slices.Clone(holds)
	slices.SortFunc(bySend, func(a, b *holding) int { return cmp64(a.aSend, b.aSend) })
	byReply := slices.Clone(holds)
	slices.SortFunc(byReply, func(a, b *holding) int { return cmp64(a.aReply, b.aReply) })
	var answered int64 = math.MinInt64
	var answeredBy *holding
	j := 0
	for _, h := range bySend {
		for ; j < len(byReply) && byReply[j].aReply < h.aSend; j++ {
			if byReply[j].fence > answered {
				answered, answeredBy = byReply[j].fence, byReply[j]
			}
		}
		if answeredBy != nil && h.fence <= answered {
			res.FenceRegressions++
			res.bad("fence regression: %s got fence %d for member %s (sent %s), after fence %d had gone to %s for member %s (answered %s)",
				h.worker, h.fence, h.m, ts(h.aSend), answered, answeredBy.worker, answeredBy.m, ts(answeredBy.aReply))
		}
	}

	// Validity: the latest moment the server is known to keep the lease.
	for _, h := range holds {
		k := key{h.worker, h.fence}
		valid := h.aSend + h.ttl
		refs := slices.Clone(refreshes[k])
		slices.SortFunc(refs, func(a, b Record) int { return cmp64(a.T, b.T) })
		for _, r := range refs {
			// A refresh counts only if its reply came while the lease was
			// still guaranteed: then it ran before the lease could lapse.
			if !r.OK || r.T >= valid {
				break
			}
			valid = max(valid, r.Send+r.TTL*int64(time.Millisecond))
		}
		if h.sess != "" {
			to, ok := sessTimeout[h.sess]
			sv := int64(math.MinInt64)
			if ok {
				sv = h.aSend + to
				for _, e := range life[h.sess] {
					if e.reply >= sv {
						break
					}
					sv = max(sv, e.send+to)
				}
			}
			valid = min(valid, sv)
		}
		if f, ok := frees[k]; ok {
			valid = min(valid, f)
		}
		for _, rm := range removals[h.m] {
			if rm.reply > h.aSend && rm.send < valid {
				valid = min(valid, max(rm.send, h.aSend))
			}
		}
		h.validTo = valid
		if valid <= h.aReply {
			res.EmptyHoldings++
		}
	}

	// Exclusivity: per member in fence order, nobody is answered an
	// allocation before every earlier holding's guaranteed end.
	byMember := map[string][]*holding{}
	for _, h := range holds {
		byMember[h.m] = append(byMember[h.m], h)
	}
	for _, hs := range byMember {
		slices.SortFunc(hs, func(a, b *holding) int { return cmp64(a.fence, b.fence) })
		var last *holding
		for _, h := range hs {
			if last != nil && h.aReply < last.validTo && h.fence != last.fence {
				res.Overlaps++
				res.lost(in.Lossy, "member %s: fence %d went to %s at %s while fence %d of %s was guaranteed until %s",
					h.m, h.fence, h.worker, ts(h.aReply), last.fence, last.worker, ts(last.validTo))
			}
			if h.validTo > h.aReply && (last == nil || h.validTo > last.validTo) {
				last = h
			}
		}
	}

	// Guarded writes: a write refused for a higher fence, answered while the
	// writer's lease was guaranteed, means two holders at once; a write
	// accepted from a superseded holding means fencing failed.
	for _, g := range guards {
		res.GuardWrites++
		if g.OK {
			res.GuardAccepted++
			if g.F < g.Cur || (g.F == g.Cur && g.CurH != "" && g.CurH != g.H) {
				res.SupersededAccepted++
				res.bad("member %s: the resource accepted fence %d from %s (%s) at %s after it had seen fence %d from %s",
					g.M, g.F, g.H, g.W, ts(g.T), g.Cur, g.CurH)
			}
			continue
		}
		h := byKey[key{g.W, g.F}]
		if h != nil && g.T < h.validTo {
			res.GuardViolations++
			res.lost(in.Lossy, "member %s: guarded write of fence %d by %s refused (fence %d stored) at %s, while its lease was guaranteed until %s",
				g.M, g.F, g.W, g.Cur, ts(g.T), ts(h.validTo))
			continue
		}
		res.GuardFencedOff++
	}
}

func checkTasks(in CheckInput, res *CheckResult) {
	type intent struct {
		x    int64
		fail bool
	}
	intents := map[string]intent{}
	submitted := map[string]bool{}
	received := map[string][]Record{}
	runs := map[string]int{}
	var ids []string
	for _, r := range in.Records {
		switch r.K {
		case kIntent:
			if _, ok := intents[r.ID]; !ok {
				ids = append(ids, r.ID)
			}
			intents[r.ID] = intent{r.X, r.Fail}
		case kSubmitted:
			submitted[r.ID] = true
		case kResult:
			received[r.ID] = append(received[r.ID], r)
			res.ResultsReceived++
		case kHandled:
			res.HandlerRuns++
			if r.OK {
				runs[r.ID]++
			}
		}
	}
	slices.Sort(ids)
	res.TaskIntents = len(ids)
	for _, id := range ids {
		it := intents[id]
		want := expected(it.x)
		st := in.Tasks[id]
		if runs[id] > 1 {
			res.DuplicateRuns++
		}
		if submitted[id] {
			res.TasksSubmitted++
		}
		switch {
		case !st.Found && !submitted[id]:
			res.TasksAbsent++
		case !st.Found:
			res.TasksLost++
			res.lost(in.Lossy, "task %s was submitted but has no record", id)
		case st.Status == "succeeded":
			res.TasksSucceeded++
			if it.fail {
				res.WrongResults++
				res.bad("task %s always fails, yet succeeded", id)
			} else if !st.HasResult || st.Result != want {
				res.WrongResults++
				res.bad("task %s succeeded with result %d (present %v), want %d", id, st.Result, st.HasResult, want)
			}
		case st.Status == "failed" && st.Dead:
			res.TasksDead++
		default:
			res.TasksLost++
			res.lost(in.Lossy, "task %s is %s after the drain (in the dead-letter set: %v)", id, st.Status, st.Dead)
		}
		// What the submitter received: one outcome, consistent with the record.
		var first *Record
		for i := range received[id] {
			r := &received[id][i]
			if r.R != nil && *r.R != want {
				res.WrongResults++
				res.bad("task %s: submitter received %d, want %d", id, *r.R, want)
			}
			if r.R != nil && st.Found && st.Status != "succeeded" {
				res.ConflictResults++
				res.lost(in.Lossy, "task %s: submitter received result %d but the record says %s", id, *r.R, st.Status)
			}
			if r.R == nil && st.Found && st.Status == "succeeded" {
				res.ConflictResults++
				res.lost(in.Lossy, "task %s: submitter received error %q but the record says succeeded", id, r.Err)
			}
			if first != nil && !sameOutcome(first, r) {
				res.ConflictResults++
				res.lost(in.Lossy, "task %s: submitter received two different outcomes (%s, %s)", id, outcome(first), outcome(r))
			}
			if first == nil {
				first = r
			}
		}
	}
}

func sameOutcome(a, b *Record) bool {
	if (a.R == nil) != (b.R == nil) {
		return false
	}
	if a.R != nil {
		return *a.R == *b.R
	}
	return a.Err == b.Err
}

func outcome(r *Record) string {
	if r.R != nil {
		return fmt.Sprint(*r.R)
	}
	return "error " + r.Err
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
