package task

import (
	"context"
	"strconv"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// Claim is one task a test claimed by hand.
type Claim struct {
	ID      string
	Attempt int
}

// testWorker drives the worker scripts without Listen, for the model test.
func (q *Queue[P, R]) testWorker(id string, lease, heartbeat time.Duration) *worker[P, R] {
	return &worker[P, R]{q: q, c: q.c, id: id, lc: listenConfig{leaseTTL: lease, heartbeat: heartbeat}}
}

// ClaimForTest runs task_claim for worker (never registering it as idle).
func (q *Queue[P, R]) ClaimForTest(ctx context.Context, name, worker string, n int, lease time.Duration) ([]Claim, error) {
	k, err := q.c.keysFor(name)
	if err != nil {
		return nil, err
	}
	tasks, _, err := q.testWorker(worker, lease, time.Second).claim(ctx, k, n, "", false)
	out := make([]Claim, len(tasks))
	for i, t := range tasks {
		out[i] = Claim{ID: t.id, Attempt: t.attempt}
	}
	return out, err
}

// FinishForTest runs task_finish for worker's claim of id.
func (q *Queue[P, R]) FinishForTest(ctx context.Context, name, worker, id string, attempt int, outcome, payload string, backoff time.Duration) error {
	k, err := q.c.keysFor(name)
	if err != nil {
		return err
	}
	args := []string{id, worker, strconv.Itoa(attempt), outcome, payload, ms(backoff)}
	_, err = q.c.runScript(ctx, script.TaskFinish, k.withNotify(id), args)
	return err
}

// BeatForTest runs task_heartbeat for worker and its claims; heartbeat
// times heartbeatMisses is the registration's TTL.
func (q *Queue[P, R]) BeatForTest(ctx context.Context, name, worker string, heartbeat, lease time.Duration, claims []Claim) ([]int64, error) {
	k, err := q.c.keysFor(name)
	if err != nil {
		return nil, err
	}
	runs := make([]runRef, len(claims))
	for i, c := range claims {
		runs[i] = runRef{id: c.ID, attempt: c.Attempt}
	}
	return q.testWorker(worker, lease, heartbeat).beat(ctx, k, "beat", runs)
}

// HeartbeatMisses is how many heartbeats make a worker registration's TTL.
const HeartbeatMisses = heartbeatMisses
