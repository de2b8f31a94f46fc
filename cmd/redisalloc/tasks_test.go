package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/task"
)

type jobParams struct {
	N    int    `json:"n"`
	Note string `json:"note"`
}

// seedJobs fills the queue "jobs": p1 and p2 pending (p2 higher priority),
// d1 delayed an hour, and the schedule "nightly".
func seedJobs(t *testing.T, b *redisxtest.Backend) (*task.Queue[jobParams, int], *task.Inspector) {
	t.Helper()
	ctx := t.Context()
	q, err := task.New[jobParams, int](b.Client, b.Prefix, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		id   string
		opts []task.QueryOption
	}{
		{"p1", nil}, {"p2", []task.QueryOption{task.Priority(2)}}, {"d1", []task.QueryOption{task.Delay(time.Hour)}},
	} {
		if _, err := q.Submit(ctx, s.id, jobParams{N: 7, Note: s.id}, append(s.opts, task.NoWait())...); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Schedule(ctx, "nightly", "0 3 * * *", jobParams{N: 1}); err != nil {
		t.Fatal(err)
	}
	in, err := task.NewInspector(b.Client, b.Prefix, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	return q, in
}

func TestTaskCommands(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx := t.Context()
		_, in := seedJobs(t, b)
		seedAll(t, b) // queue "emails" with the dead task t-fail
		base := []string{"--redis", backendURL(b), "--prefix", b.Prefix}
		cli := func(ce cliEnv, args ...string) cliRun {
			t.Helper()
			return runCLI(t, ce, append(args, base...)...)
		}

		// queue ls: every queue (emails, jobs, reports), as a table and as JSON.
		r := cli(cliEnv{}, "queue", "ls")
		if r.code != exitOK {
			t.Fatalf("queue ls: exit %d, %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `^QUEUE\s+READY\s+DELAYED\s+RUNNING\s+DEAD\s+WORKERS\s+RECORDS\s+PAUSED$`)
		wantLine(t, r.stdout, `^jobs\s+2\s+1\s+0\s+0\s+0\s+3\s+no$`)
		wantLine(t, r.stdout, `^emails\s+0\s+0\s+0\s+1\s+`)
		r = cli(cliEnv{}, "queue", "ls", "--json")
		var queues []queueJSON
		if err := json.Unmarshal([]byte(r.stdout), &queues); err != nil || len(queues) != 3 || queues[1].Name != "jobs" || queues[1].Delayed != 1 {
			t.Fatalf("queue ls --json: %v in %s", err, r.stdout)
		}

		// task ls: pending in priority order, paged with --limit and --cursor.
		r = cli(cliEnv{}, "task", "ls", "--queue", "jobs", "--state", "pending", "--limit", "1")
		if r.code != exitOK {
			t.Fatalf("task ls: exit %d, %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `^p2\s+pending\s+0/3\s+2\s+-\s+`)
		if strings.Contains(r.stdout, "p1") {
			t.Errorf("limit 1 lists more:\n%s", r.stdout)
		}
		cursor := ""
		for l := range strings.SplitSeq(r.stdout, "\n") {
			if c, ok := strings.CutPrefix(l, "more: --cursor "); ok {
				cursor = c
			}
		}
		if cursor == "" {
			t.Fatalf("no cursor in:\n%s", r.stdout)
		}
		r = cli(cliEnv{}, "task", "ls", "--queue", "jobs", "--state", "pending", "--cursor", cursor, "--json")
		var page struct {
			Tasks  []taskJSON `json:"tasks"`
			Cursor string     `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != "p1" || page.Cursor != "" {
			t.Errorf("second page: %v %+v in %s", err, page, r.stdout)
		}
		r = cli(cliEnv{}, "task", "ls", "--queue", "jobs", "--state", "delayed")
		wantLine(t, r.stdout, `^d1\s+pending\s+0/3\s+0\s+-\s+\S+ \S+\s+\S+ \S+\s+-$`)
		for _, bad := range [][]string{{"--state", "nope"}, {"--limit", "0"}, {"--cursor", "zz"}} {
			if r := cli(cliEnv{}, append([]string{"task", "ls", "--queue", "jobs"}, bad...)...); r.code != exitUsage {
				t.Errorf("task ls %v: exit %d, want 2", bad, r.code)
			}
		}
		if r := cli(cliEnv{}, "task", "ls", "--queue", "nope"); r.code != exitFail {
			t.Errorf("task ls of a missing queue: exit %d, want 1", r.code)
		}

		// task show: params decoded with the codec (CBOR, task.New's default).
		r = cli(cliEnv{}, "task", "show", "d1", "--queue", "jobs")
		if r.code != exitOK {
			t.Fatalf("task show: exit %d, %s", r.code, r.stderr)
		}
		wantLine(t, r.stdout, `^  status     pending$`)
		wantLine(t, r.stdout, `^  params     \{"n":7,"note":"d1"\}$`)
		r = cli(cliEnv{}, "task", "show", "d1", "--queue", "jobs", "--json")
		var shown taskJSON
		var params bytes.Buffer
		if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Due == nil || json.Compact(&params, shown.Params) != nil ||
			params.String() != `{"n":7,"note":"d1"}` {
			t.Errorf("task show --json: %v %+v", err, shown)
		}
		r = cli(cliEnv{}, "task", "show", "d1", "--queue", "jobs", "--codec", "json")
		wantLine(t, r.stdout, `^  params     \d+ bytes that do not decode as json`)
		if r := cli(cliEnv{}, "task", "show", "none", "--queue", "jobs"); r.code != exitFail || !strings.Contains(r.stderr, `no task "none"`) {
			t.Errorf("task show none: exit %d, %s", r.code, r.stderr)
		}

		// task run: d1 becomes due; p1 is skipped with why.
		r = cli(cliEnv{}, "task", "run", "d1", "p1", "--queue", "jobs")
		if r.code != exitUsage || !strings.Contains(r.stderr, "without --yes") {
			t.Errorf("task run without --yes: exit %d, %s", r.code, r.stderr)
		}
		r = cli(cliEnv{}, "task", "run", "d1", "p1", "--queue", "jobs", "--yes")
		if r.code != exitFail {
			t.Errorf("task run with a skipped id: exit %d, want 1", r.code)
		}
		wantLine(t, r.stdout, `^d1: due now$`)
		wantLine(t, r.stdout, `^p1: not done: pending, not delayed$`)

		// task cancel and delete, with JSON.
		r = cli(cliEnv{}, "task", "cancel", "p1", "--queue", "jobs", "--yes", "--json")
		var act actResult
		if err := json.Unmarshal([]byte(r.stdout), &act); err != nil || r.code != exitOK || len(act.Done) != 1 || act.Done[0] != "p1" {
			t.Errorf("task cancel: exit %d, %v %+v", r.code, err, act)
		}
		r = cli(cliEnv{stdin: "y\n", stdinTTY: true}, "task", "delete", "p1", "none", "--queue", "jobs")
		if r.code != exitFail {
			t.Errorf("task delete: exit %d, want 1 (none skipped)", r.code)
		}
		wantLine(t, r.stdout, `^p1: deleted$`)
		wantLine(t, r.stdout, `^none: not done: no such task$`)
		if _, err := in.Info(ctx, "p1"); err == nil {
			t.Error("p1 still there after task delete")
		}

		// task requeue: the dead task of emails.
		r = cli(cliEnv{}, "task", "requeue", "t-fail", "--queue", "emails", "--yes")
		if r.code != exitOK {
			t.Errorf("task requeue: exit %d, %s%s", r.code, r.stdout, r.stderr)
		}
		wantLine(t, r.stdout, `^t-fail: requeued$`)

		// queue pause and resume.
		r = cli(cliEnv{}, "queue", "pause", "--queue", "jobs")
		wantLine(t, r.stdout, `^queue jobs: paused$`)
		r = cli(cliEnv{}, "queue", "pause", "--queue", "jobs")
		wantLine(t, r.stdout, `^queue jobs: paused already$`)
		r = cli(cliEnv{}, "queue", "ls")
		wantLine(t, r.stdout, `^jobs\s+.*yes$`)
		r = cli(cliEnv{}, "queue", "resume", "--queue", "jobs", "--json")
		var pr map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil || pr["changed"] != true || pr["paused"] != false {
			t.Errorf("queue resume --json: %v %s", err, r.stdout)
		}
		if paused, err := in.Paused(ctx); err != nil || paused {
			t.Errorf("after resume: paused %v, %v", paused, err)
		}
		if r := cli(cliEnv{}, "queue", "pause", "--queue", "nope"); r.code != exitFail {
			t.Errorf("queue pause of a missing queue: exit %d, want 1", r.code)
		}

		// cron ls and rm.
		r = cli(cliEnv{}, "cron", "ls")
		wantLine(t, r.stdout, `^QUEUE\s+NAME\s+SPEC\s+NEXT\s+LAST`)
		wantLine(t, r.stdout, `^jobs\s+nightly\s+0 3 \* \* \*\s+\S+ \d\d:\d\d:00\s+-\s+0\s+5m0s\s+3$`)
		r = cli(cliEnv{}, "cron", "ls", "--queue", "jobs", "--json")
		var crons []cronJSON
		if err := json.Unmarshal([]byte(r.stdout), &crons); err != nil || len(crons) != 1 || crons[0].Name != "nightly" || crons[0].Queue != "jobs" {
			t.Errorf("cron ls --json: %v %s", err, r.stdout)
		}
		r = cli(cliEnv{}, "cron", "rm", "nightly", "other", "--queue", "jobs", "--yes")
		if r.code != exitFail {
			t.Errorf("cron rm with a missing name: exit %d, want 1", r.code)
		}
		wantLine(t, r.stdout, `^queue jobs: removed 1 schedule\(s\)$`)
		if s, err := in.Schedules(ctx); err != nil || len(s) != 0 {
			t.Errorf("schedules after cron rm: %v, %v", s, err)
		}
	})
}

// TestTaskRunningRefused: delete refuses a running task, cancel asks its
// worker to stop.
func TestTaskRunningRefused(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		q, in := seedJobs(t, b)
		started := make(chan string, 4)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- q.Run(ctx, func(ctx context.Context, tk *task.Task[jobParams]) (int, error) {
				started <- tk.ID
				<-ctx.Done()
				return 0, context.Cause(ctx)
			}, task.Workers(1), task.Grace(time.Second))
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		var id string
		select {
		case id = <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("no task started")
		}
		base := []string{"--redis", backendURL(b), "--prefix", b.Prefix, "--queue", "jobs", "--yes"}
		r := runCLI(t, cliEnv{}, append([]string{"task", "delete", id}, base...)...)
		wantLine(t, r.stdout, `^`+id+`: not done: running: cancel it first$`)
		r = runCLI(t, cliEnv{}, append([]string{"task", "ls", "--state", "running"}, base[:len(base)-1]...)...)
		wantLine(t, r.stdout, `^`+id+`\s+running\s+1/3\s+\d+\s+\S+`)
		r = runCLI(t, cliEnv{}, append([]string{"task", "cancel", id}, base...)...)
		if r.code != exitOK {
			t.Errorf("task cancel running: exit %d, %s", r.code, r.stderr)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			info, err := in.Info(t.Context(), id)
			if err == nil && info.Status == task.StatusCanceled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("running task not canceled: %+v, %v", info, err)
			}
		}
	})
}
