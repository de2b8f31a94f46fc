package task_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// The state-machine test drives random sequences of submissions, claims,
// heartbeats, outcomes, cancellations, requeues and clock moves against
// miniredis with a controlled clock, and against a plain in-memory model of
// the documented behaviour; after every step it compares counts and every
// task's status and attempt.

const (
	mLease     = 1000 // lease TTL, ms
	mBeat      = 200  // heartbeat interval, ms (registration TTL: 5 beats)
	mRetention = 2000
	mKeep      = 5000
)

var (
	mIDs     = []string{"a", "b", "c", "d"}
	mWorkers = []string{"w1", "w2"}
)

type mTask struct {
	status       byte // p r s f c
	attempt, max int
	prio         int
	deadline     int64
	timeout      int64
	worker       string
	cancel       bool
	delayedUntil int64 // > 0 while in the delayed set
	ready        bool
	seq          int64
	lease        int64
	expiry       int64
	started      int64 // unix ms of the last claim (see task.Claim)
}

type qModel struct {
	now     int64
	seq     int64
	tasks   map[string]*mTask
	workers map[string]int64
	counts  task.Stats // Succeeded, Failed, Retried, RunTime
}

// count adds a finished attempt of t to the counters (*n is one of them);
// base is the unix ms of model time 0.
func (m *qModel) count(t *mTask, n *int64, base int64) {
	*n++
	m.counts.RunTime += time.Duration(max(0, base+m.now-t.started)) * time.Millisecond
}

func (m *qModel) makeReady(t *mTask) {
	m.seq++
	t.seq, t.ready, t.delayedUntil = m.seq, true, 0
}

func (m *qModel) finalize(t *mTask, status byte) {
	t.ready, t.delayedUntil, t.worker = false, 0, ""
	t.status = status
	k := int64(mRetention)
	if status == 'f' {
		k = mKeep
	}
	k = max(k, t.deadline-m.now)
	t.expiry = m.now + k
}

// sortedIDs returns the ids of tasks matching keep, ordered by key then id
// (the order of a sorted set range).
func (m *qModel) sortedIDs(keep func(*mTask) bool, key func(*mTask) int64) []string {
	var ids []string
	for id, t := range m.tasks {
		if keep(t) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(key(m.tasks[a]), key(m.tasks[b])), cmp.Compare(a, b))
	})
	return ids
}

func (m *qModel) purge() {
	for _, id := range m.sortedIDs(func(t *mTask) bool { return t.expiry <= m.now }, func(t *mTask) int64 { return t.expiry }) {
		delete(m.tasks, id)
	}
}

func (m *qModel) promote() {
	for _, id := range m.sortedIDs(func(t *mTask) bool { return t.delayedUntil > 0 && t.delayedUntil <= m.now },
		func(t *mTask) int64 { return t.delayedUntil }) {
		m.makeReady(m.tasks[id])
	}
}

func (m *qModel) lapse(t *mTask) {
	switch {
	case t.cancel:
		m.finalize(t, 'c')
	case t.deadline <= m.now, t.attempt >= t.max:
		m.finalize(t, 'f')
	default:
		t.status, t.worker = 'p', ""
		m.makeReady(t)
	}
}

func (m *qModel) reap() {
	for _, id := range m.sortedIDs(func(t *mTask) bool { return t.status == 'r' && t.lease <= m.now }, func(t *mTask) int64 { return t.lease }) {
		m.lapse(m.tasks[id])
	}
	var gone []string
	for w, dl := range m.workers {
		if dl <= m.now {
			gone = append(gone, w)
		}
	}
	slices.SortFunc(gone, func(a, b string) int { return cmp.Or(cmp.Compare(m.workers[a], m.workers[b]), cmp.Compare(a, b)) })
	for _, w := range gone {
		for _, id := range m.sortedIDs(func(t *mTask) bool { return t.status == 'r' && t.worker == w }, func(*mTask) int64 { return 0 }) {
			m.lapse(m.tasks[id])
		}
		delete(m.workers, w)
	}
}

type taskMachine struct {
	t      *rapid.T
	ctx    context.Context
	b      *redisxtest.Backend
	q      *task.Queue[job, *res]
	in     *task.Inspector
	name   string
	base   time.Time
	m      *qModel
	claims map[string][]task.Claim // what each worker believes it holds
}

func (s *taskMachine) setClock() {
	s.b.Mini.SetTime(s.base.Add(time.Duration(s.m.now) * time.Millisecond))
}

func (s *taskMachine) Advance(t *rapid.T) {
	d := rapid.SampledFrom([]int64{1, 7, 150, 700, 1800}).Draw(t, "ms")
	s.m.now += d
	s.setClock()
}

func (s *taskMachine) Submit(t *rapid.T) {
	id := rapid.SampledFrom(mIDs).Draw(t, "id")
	prio := rapid.IntRange(-1, 1).Draw(t, "prio")
	delay := rapid.SampledFrom([]int64{0, 0, 500}).Draw(t, "delay")
	timeout := rapid.SampledFrom([]int64{1500, 60000}).Draw(t, "timeout")
	maxA := rapid.IntRange(1, 3).Draw(t, "max")
	h, err := s.q.Submit(s.ctx, id, job{}, task.Priority(prio), task.Delay(time.Duration(delay)*time.Millisecond),
		task.Timeout(time.Duration(timeout)*time.Millisecond), task.MaxAttempts(maxA))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	m := s.m
	if m.now%8 == 0 {
		m.purge()
	}
	// A pending task past its deadline never runs: it is replaced.
	if old := m.tasks[id]; old != nil && ((old.status == 'p' && old.deadline > m.now) || old.status == 'r') {
		if !h.Joined() {
			t.Fatalf("Submit of active %s did not join", id)
		}
		return
	}
	if h.Joined() {
		t.Fatalf("Submit of %s joined, model has %+v", id, m.tasks[id])
	}
	nt := &mTask{status: 'p', max: maxA, prio: prio, deadline: m.now + delay + timeout, timeout: timeout}
	nt.expiry = nt.deadline + mRetention
	m.tasks[id] = nt
	if delay > 0 {
		nt.delayedUntil = m.now + delay
	} else {
		m.makeReady(nt)
	}
}

func (s *taskMachine) Claim(t *rapid.T) {
	w := rapid.SampledFrom(mWorkers).Draw(t, "worker")
	n := rapid.IntRange(1, 3).Draw(t, "n")
	got, err := s.q.ClaimForTest(s.ctx, w, n, mLease*time.Millisecond)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	m := s.m
	m.purge()
	m.promote()
	m.reap()
	var want []task.Claim
	for len(want) < n {
		ids := m.sortedIDs(func(t *mTask) bool { return t.ready }, func(t *mTask) int64 { return int64(-t.prio)<<41 + t.seq })
		if len(ids) == 0 {
			break
		}
		nt := m.tasks[ids[0]]
		nt.ready = false
		if nt.deadline <= m.now {
			m.finalize(nt, 'f')
			continue
		}
		nt.attempt++
		nt.status, nt.worker, nt.lease = 'r', w, m.now+mLease
		nt.started = s.base.UnixMilli() + m.now
		want = append(want, task.Claim{ID: ids[0], Attempt: nt.attempt, Started: nt.started})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %v, model %v", got, want)
	}
	s.claims[w] = append(s.claims[w], got...)
}

func (s *taskMachine) Beat(t *rapid.T) {
	w := rapid.SampledFrom(mWorkers).Draw(t, "worker")
	codes, err := s.q.BeatForTest(s.ctx, w, mBeat*time.Millisecond, mLease*time.Millisecond, s.claims[w])
	if err != nil {
		t.Fatalf("beat: %v", err)
	}
	s.m.workers[w] = s.m.now + mBeat*task.HeartbeatMisses
	for i, c := range s.claims[w] {
		var want int64
		if nt := s.m.tasks[c.ID]; nt != nil && nt.status == 'r' && nt.worker == w && nt.attempt == c.Attempt && nt.started == c.Started {
			nt.lease, want = s.m.now+mLease, 1
			if nt.cancel {
				want = 2
			}
		}
		if codes[i] != want {
			t.Fatalf("beat code for %v = %d, model %d", c, codes[i], want)
		}
	}
}

func (s *taskMachine) Finish(t *rapid.T) {
	w := rapid.SampledFrom(mWorkers).Draw(t, "worker")
	if len(s.claims[w]) == 0 {
		t.Skip("no claims")
	}
	i := rapid.IntRange(0, len(s.claims[w])-1).Draw(t, "claim")
	c := s.claims[w][i]
	s.claims[w] = slices.Delete(s.claims[w], i, i+1)
	outcome := rapid.SampledFrom([]string{"ok", "err", "fatal", "release"}).Draw(t, "outcome")
	backoff := rapid.SampledFrom([]int64{0, 300}).Draw(t, "backoff")
	payload := "\x80"
	if outcome == "err" || outcome == "fatal" {
		payload = "boom\nfailed"
	}
	err := s.q.FinishForTest(s.ctx, w, c, outcome, payload, time.Duration(backoff)*time.Millisecond)
	m := s.m
	nt := m.tasks[c.ID]
	if nt == nil || nt.status != 'r' || nt.worker != w || nt.attempt != c.Attempt || nt.started != c.Started {
		if !errors.Is(err, task.ErrLost) {
			t.Fatalf("finish of stale claim %v = %v, want ErrLost", c, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("finish %v: %v", c, err)
	}
	switch {
	case m.now >= nt.deadline: // final at the deadline: a timeout, whatever came
		m.count(nt, &m.counts.Failed, s.base.UnixMilli())
		m.finalize(nt, 'f')
	case outcome == "ok":
		m.count(nt, &m.counts.Succeeded, s.base.UnixMilli())
		m.finalize(nt, 's')
	case nt.cancel:
		m.finalize(nt, 'c')
	case outcome == "release":
		nt.attempt--
		nt.status, nt.worker = 'p', ""
		m.makeReady(nt)
	case outcome == "fatal", nt.attempt >= nt.max, m.now+backoff >= nt.deadline:
		m.count(nt, &m.counts.Failed, s.base.UnixMilli())
		m.finalize(nt, 'f')
	default:
		m.count(nt, &m.counts.Retried, s.base.UnixMilli())
		nt.status, nt.worker = 'p', ""
		if backoff > 0 {
			nt.delayedUntil = m.now + backoff
		} else {
			m.makeReady(nt)
		}
	}
}

func (s *taskMachine) Cancel(t *rapid.T) {
	id := rapid.SampledFrom(mIDs).Draw(t, "id")
	h, _ := s.q.Handle(id)
	err := h.Cancel(s.ctx)
	nt := s.m.tasks[id]
	switch {
	case nt == nil:
		if !errors.Is(err, task.ErrNotFound) {
			t.Fatalf("Cancel of no task = %v", err)
		}
	case nt.status == 's' || nt.status == 'f':
		if !errors.Is(err, task.ErrFinished) {
			t.Fatalf("Cancel of a finished task = %v", err)
		}
	case err != nil:
		t.Fatalf("Cancel: %v", err)
	case nt.status == 'p':
		s.m.finalize(nt, 'c')
	case nt.status == 'r':
		nt.cancel = true
	}
}

func (s *taskMachine) Requeue(t *rapid.T) {
	id := rapid.SampledFrom(mIDs).Draw(t, "id")
	n, err := s.in.Requeue(s.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	if nt := s.m.tasks[id]; nt != nil && nt.status == 'f' {
		want = 1
		nt.status, nt.attempt, nt.cancel = 'p', 0, false
		nt.deadline = s.m.now + nt.timeout
		nt.expiry = nt.deadline + mRetention
		s.m.makeReady(nt)
	}
	if n != want {
		t.Fatalf("Requeue(%s) = %d, model %d", id, n, want)
	}
}

var statusNames = map[byte]task.Status{
	'p': task.StatusPending, 'r': task.StatusRunning, 's': task.StatusSucceeded, 'f': task.StatusFailed, 'c': task.StatusCanceled,
}

func (s *taskMachine) Check(t *rapid.T) {
	st, err := s.in.Stats(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := s.m.counts
	for _, nt := range s.m.tasks {
		want.Records++
		switch {
		case nt.ready:
			want.Ready++
		case nt.delayedUntil > 0:
			want.Delayed++
		case nt.status == 'r':
			want.Running++
		case nt.status == 'f':
			want.Dead++
		}
	}
	for _, dl := range s.m.workers {
		if dl > s.m.now {
			want.Workers++
		}
	}
	if st != want {
		t.Fatalf("stats %+v, model %+v", st, want)
	}
	// Reading drops an expired record, in both.
	for _, id := range mIDs {
		in, err := s.in.Info(s.ctx, id)
		nt := s.m.tasks[id]
		if nt != nil && nt.expiry <= s.m.now {
			delete(s.m.tasks, id)
			nt = nil
		}
		if nt == nil {
			if !errors.Is(err, task.ErrNotFound) {
				t.Fatalf("Info(%s) = %+v, %v; model has no record", id, in, err)
			}
			continue
		}
		if err != nil || in.Status != statusNames[nt.status] || in.Attempt != nt.attempt || in.CancelRequested != nt.cancel ||
			in.Priority != nt.prio {
			t.Fatalf("Info(%s) = %+v, %v; model %+v", id, in, err, nt)
		}
	}
}

func TestStateMachine(t *testing.T) {
	t.Parallel()
	b := redisxtest.New(t, redisxtest.BackendMini)
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	iter := 0
	rapid.Check(t, func(t *rapid.T) {
		iter++
		name := fmt.Sprintf("sm%d", iter)
		q, err := task.New[job, *res](b.Client, b.Prefix, name, task.WithRetention(mRetention*time.Millisecond, mKeep*time.Millisecond),
			task.WithHousekeeping(10000))
		if err != nil {
			t.Fatal(err)
		}
		in, err := task.InspectorOf(q)
		if err != nil {
			t.Fatal(err)
		}
		s := &taskMachine{
			t: t, ctx: context.Background(), b: b, q: q, in: in, name: name, base: base,
			m:      &qModel{tasks: map[string]*mTask{}, workers: map[string]int64{}},
			claims: map[string][]task.Claim{},
		}
		s.setClock()
		t.Repeat(rapid.StateMachineActions(s))
	})
}
