package task_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

// outcomes are the sentinels that tell outcomes apart; an error must match
// exactly one of them.
var outcomes = []error{task.ErrHandler, task.ErrTimeout, task.ErrCanceled, task.ErrQueue}

func checkOutcome(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("error %v, want success", err)
		}
		return
	}
	var matched []error
	for _, o := range outcomes {
		if errors.Is(err, o) {
			matched = append(matched, o)
		}
	}
	if len(matched) != 1 || !errors.Is(matched[0], want) {
		t.Fatalf("error %v matches %v, want exactly %v", err, matched, want)
	}
}

// TestPolicies runs every policy with a success, a handler error and a
// timeout, plus each policy's fallback cases. The caller's handler is tagged
// "main", the worker's (another client, as another process) "worker";
// nobody listens for the name "idle".
func TestPolicies(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		wh, _ := tb.worker(t, "worker", "work")
		short := task.Timeout(400 * time.Millisecond)
		tests := []struct {
			name   string
			policy task.QueryOption
			task   string // task name
			job    job
			opts   []task.QueryOption
			want   error
			where  string // handler tag that produced the result
			kind   string // HandlerError kind
			remote bool   // HandlerError.Remote
			check  func(t *testing.T, id string)
		}{
			{name: "LocalOK", policy: task.Local(), task: "work", job: job{N: 1}, where: "main"},
			{name: "LocalError", policy: task.Local(), task: "work", job: job{Mode: modeFail}, want: task.ErrHandler, kind: "boom"},
			{name: "LocalPanic", policy: task.Local(), task: "work", job: job{Mode: modePanic}, want: task.ErrHandler, kind: task.KindPanic},
			{name: "LocalTimeout", policy: task.Local(), task: "work", job: job{Mode: modeBlock}, opts: []task.QueryOption{short}, want: task.ErrTimeout},
			{name: "LocalNilResult", policy: task.Local(), task: "work", job: job{Mode: modeNil}},

			{name: "RemoteOK", policy: task.Remote(), task: "work", job: job{N: 2}, where: "worker"},
			{
				name: "RemoteError", policy: task.Remote(), task: "work", job: job{Mode: modeFail}, opts: []task.QueryOption{task.MaxAttempts(1)},
				want: task.ErrHandler, kind: "boom", remote: true,
			},
			{name: "RemoteTimeout", policy: task.Remote(), task: "work", job: job{Mode: modeBlock}, opts: []task.QueryOption{short}, want: task.ErrTimeout},
			{name: "RemoteNilResult", policy: task.Remote(), task: "work", job: job{Mode: modeNil}},

			{name: "LocalFirstOK", policy: task.LocalFirst(), task: "work", job: job{N: 3}, where: "main"},
			{name: "LocalFirstFallsBack", policy: task.LocalFirst(), task: "work", job: job{N: 3, FailOn: "main"}, where: "worker"},
			{
				name: "LocalFirstTimeoutFallsBack", policy: task.LocalFirst(), task: "work", job: job{N: 3, StallOn: "main"},
				opts: []task.QueryOption{short}, where: "worker",
			},
			{
				name: "LocalFirstError", policy: task.LocalFirst(), task: "work", job: job{Mode: modeFail}, opts: []task.QueryOption{task.MaxAttempts(1)},
				want: task.ErrHandler, kind: "boom", remote: true,
			},
			{name: "LocalFirstTimeout", policy: task.LocalFirst(), task: "work", job: job{Mode: modeBlock}, opts: []task.QueryOption{short}, want: task.ErrTimeout},

			{name: "RemoteFirstOK", policy: task.RemoteFirst(), task: "work", job: job{N: 4}, where: "worker"},
			{
				name: "RemoteFirstFallsBack", policy: task.RemoteFirst(), task: "work", job: job{N: 4, FailOn: "worker"},
				opts: []task.QueryOption{task.MaxAttempts(1)}, where: "main",
			},
			{
				name: "RemoteFirstError", policy: task.RemoteFirst(), task: "work", job: job{Mode: modeFail}, opts: []task.QueryOption{task.MaxAttempts(1)},
				want: task.ErrHandler, kind: "boom",
			},
			{
				name: "RemoteFirstWithdrawsPending", policy: task.RemoteFirst(), task: "idle", job: job{N: 4}, opts: []task.QueryOption{short}, where: "main",
				check: func(t *testing.T, id string) {
					in, err := tb.insp("idle").Info(tb.ctx, id)
					if err != nil || in.Status != task.StatusCanceled {
						t.Errorf("withdrawn task: %+v, %v; want canceled", in, err)
					}
				},
			},
			{
				name: "RemoteFirstTimeoutWhileRunning", policy: task.RemoteFirst(), task: "work", job: job{StallOn: "worker"}, opts: []task.QueryOption{short},
				want: task.ErrTimeout, check: func(t *testing.T, id string) {
					if n := tb.h.count(id); n != 0 {
						t.Errorf("the task ran remotely and %d times locally", n)
					}
				},
			},

			{name: "AutoRemote", task: "work", job: job{N: 5}, where: "worker"},
			{
				name: "AutoLocalWithoutWorker", task: "idle", job: job{N: 5}, where: "main",
				check: func(t *testing.T, id string) {
					if _, err := tb.insp("idle").Info(tb.ctx, id); !errors.Is(err, task.ErrNotFound) {
						t.Errorf("a local Auto run left a record: %v", err)
					}
				},
			},
			{
				name: "AutoError", task: "work", job: job{Mode: modeFail}, opts: []task.QueryOption{task.MaxAttempts(1)},
				want: task.ErrHandler, kind: "boom", remote: true,
			},
			{name: "AutoTimeout", task: "work", job: job{Mode: modeBlock}, opts: []task.QueryOption{short}, want: task.ErrTimeout},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				id := "id-" + tt.name
				opts := tt.opts
				if tt.policy != nil { // nil: auto
					opts = append([]task.QueryOption{tt.policy}, opts...)
				}
				r, err := tb.on(tt.task).Query(tb.ctx, id, tt.job, opts...)
				checkOutcome(t, err, tt.want)
				switch {
				case tt.want == nil && tt.job.Mode == modeNil:
					if r != nil {
						t.Errorf("result %+v, want nil", r)
					}
				case tt.want == nil:
					if r == nil || r.N != tt.job.N*2 || r.Worker != tt.where {
						t.Errorf("result %+v, want N=%d from %s", r, tt.job.N*2, tt.where)
					}
				case tt.kind != "":
					var he *task.HandlerError
					if !errors.As(err, &he) || he.Kind != tt.kind || he.Remote != tt.remote || he.ID != id || he.Name != tt.task {
						t.Errorf("HandlerError %+v, want kind %q remote %v", he, tt.kind, tt.remote)
					}
					if he != nil && !strings.Contains(he.Message, "failed") && tt.kind == "boom" {
						t.Errorf("message %q", he.Message)
					}
				}
				if tt.check != nil {
					tt.check(t, id)
				}
			})
		}
		_ = wh
	})
}
