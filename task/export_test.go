package task

import (
	"context"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Claim is one task a test claimed by hand.
type Claim struct {
	ID      string
	Attempt int
	Started int64 // the server's time of the claim, ms
}

func (c Claim) claimed() claimed { return claimed{id: c.ID, attempt: c.Attempt, started: c.Started} }

// Test-only options and views.
var (
	WithHousekeeping = withHousekeeping
	WithWaitPoll     = withWaitPoll
)

// Limits the tests probe.
const (
	MinPriority      = minPriority
	MaxPriority      = maxPriority
	MaxAttemptsLimit = maxAttemptsLimit
	DefaultLeaseTTL  = heartbeatMisses * defaultHeartbeat
	DefaultRetention = defaultRetention
	DefaultHeartbeat = defaultHeartbeat
	KindLost         = kindLost
	KindDecode       = kindDecode
	KindPanic        = kindPanic
)

// HandleDeadline returns when h's Wait stops waiting.
func HandleDeadline[R any](h *Handle[R]) time.Time { return h.h.getDeadline() }

// Shape returns q's shape fingerprint.
func (q *Queue[P, R]) Shape() string { return q.c.shape }

// testWorker drives the worker scripts without Run, for the model test.
func (q *Queue[P, R]) testWorker(id string, lease, heartbeat time.Duration) *worker[P, R] {
	return &worker[P, R]{c: q.c, id: id, lc: runConfig{leaseTTL: lease, heartbeat: heartbeat}}
}

// ClaimForTest runs task_claim for worker (never registering it as idle).
func (q *Queue[P, R]) ClaimForTest(ctx context.Context, worker string, n int, lease time.Duration) ([]Claim, error) {
	tasks, _, err := q.testWorker(worker, lease, time.Second).claim(ctx, q.c.keys, n, "", false)
	out := make([]Claim, len(tasks))
	for i, t := range tasks {
		out[i] = Claim{ID: t.id, Attempt: t.attempt, Started: t.started}
	}
	return out, err
}

// FinishForTest runs task_finish for worker's claim c.
func (q *Queue[P, R]) FinishForTest(ctx context.Context, worker string, c Claim, outcome, payload string, backoff time.Duration) error {
	args := []string{c.ID, worker, c.claimed().claim(), outcome, payload, roundMSZero(backoff)}
	_, err := q.c.runScript(ctx, script.TaskFinish, q.c.keys.finishKeys(c.ID), args)
	return err
}

// BeatForTest runs task_heartbeat for worker and its claims; heartbeat
// times heartbeatMisses is the registration's TTL.
func (q *Queue[P, R]) BeatForTest(ctx context.Context, worker string, heartbeat, lease time.Duration, claims []Claim) ([]int64, error) {
	runs := make([]runRef, len(claims))
	for i, c := range claims {
		runs[i] = runRef{id: c.ID, claim: c.claimed().claim()}
	}
	return q.testWorker(worker, lease, heartbeat).beat(ctx, q.c.keys, "beat", runs)
}

// HeartbeatMisses is how many heartbeats make a worker registration's TTL.
const HeartbeatMisses = heartbeatMisses

// InspectorOf returns an inspector of q's queue on q's client.
func InspectorOf[P, R any](q *Queue[P, R]) (*Inspector, error) {
	return NewInspector(q.c.client, q.c.prefix, q.c.name)
}

// HandleInfo reads the record of h's task, as Inspector.Info does.
func HandleInfo[R any](ctx context.Context, h *Handle[R]) (Info, error) {
	if h == nil || h.h == nil {
		return Info{}, ErrNotFound
	}
	rr, err := h.h.read(ctx, "", false, -1, false)
	if err != nil {
		return Info{}, err
	}
	return rr.m.info(h.h.id, h.h.c.name, rr.progress, rr.errText), nil
}

// Joined reports whether Submit joined a pending or running task.
func (h *Handle[R]) Joined() bool { return h.joinedTask() }

// KeyNamesForTest returns q's keys by role (ready, delayed, ..., wake,
// schedules) and the notify lists of ids as "n:<id>".
func KeyNamesForTest[P, R any](q *Queue[P, R], ids ...string) map[string]string {
	out := map[string]string{}
	for i, s := range keySuffixes {
		out[s] = q.c.keys.keys[i]
	}
	for _, id := range ids {
		out[notifyPrefix+id] = q.c.keys.notify(id)
	}
	out[scheduleSuffix] = q.c.keys.ns.Key(scheduleSuffix)
	out[countsSuffix] = q.c.keys.counts()
	return out
}

// ClaimIdleForTest runs task_claim for worker, registering token as idle
// when fewer than n tasks are due.
func (q *Queue[P, R]) ClaimIdleForTest(ctx context.Context, worker string, n int, lease time.Duration, token string) ([]Claim, error) {
	tasks, _, err := q.testWorker(worker, lease, time.Second).claim(ctx, q.c.keys, n, token, false)
	out := make([]Claim, len(tasks))
	for i, t := range tasks {
		out[i] = Claim{ID: t.id, Attempt: t.attempt, Started: t.started}
	}
	return out, err
}

// BeatOpForTest runs task_heartbeat with op (beat, join or stop).
func (q *Queue[P, R]) BeatOpForTest(ctx context.Context, worker, op string, heartbeat, lease time.Duration, claims []Claim) ([]int64, error) {
	runs := make([]runRef, len(claims))
	for i, c := range claims {
		runs[i] = runRef{id: c.ID, claim: c.claimed().claim()}
	}
	return q.testWorker(worker, lease, heartbeat).beat(ctx, q.c.keys, op, runs)
}

// ProgressForTest runs task_progress for worker's claim c.
func (q *Queue[P, R]) ProgressForTest(ctx context.Context, worker string, c Claim, current, total float64) error {
	return q.testWorker(worker, time.Second, time.Second).progress(ctx, q.c.keys, c.claimed(), current, total, func(error) {})
}

// OnceHandle returns a handle on id whose Wait consumes the record, as
// Submit with Once gives.
func (q *Queue[P, R]) OnceHandle(id string) *Handle[R] {
	return &Handle[R]{h: &handle{c: q.c, id: id, once: true}}
}

// TickForTest runs one pass of RunSchedules over schedule name as if the
// run planned at seen (Unix ms; -1: the stored next run) were due now, and
// reports whether it took that run: schedulers that read the same plan
// race for the same run.
func (q *Queue[P, R]) TickForTest(ctx context.Context, name string, seen int64) (bool, error) {
	recs, now, err := q.c.schedules(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.Name == name {
			if seen >= 0 {
				r.next = seen
			}
			_, won, err := q.c.tick(ctx, r, max(now, r.next))
			return won, err
		}
	}
	return false, nil
}
