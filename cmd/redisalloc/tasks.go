package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/task"
)

// Commands to see a queue's tasks and act on them: queue ls|pause|resume,
// task ls|show|cancel|delete|requeue|run, cron ls|rm. Each is built on
// task.Inspector, the API users get.

// Bounds of the task commands.
const (
	defaultTaskLimit = 100
	maxTaskLimit     = 100000
)

func taskSubcommands() []subcommand {
	return []subcommand{
		{"ls", "list a queue's tasks in one state, with paging", taskLsUsage, taskLsCommand},
		{"show", "show one task: status, attempts, error, timings, worker, params", taskShowUsage, taskShowCommand},
		{"cancel", "cancel tasks: pending ones at once, running ones by request (asks first)", taskActUsage("cancel"), taskActCommand("cancel")},
		{"delete", "delete tasks no worker holds (asks first)", taskActUsage("delete"), taskActCommand("delete")},
		{"requeue", "move dead-lettered tasks back to the queue (asks first)", taskActUsage("requeue"), taskActCommand("requeue")},
		{"run", "make delayed tasks and retries due now (asks first)", taskActUsage("run"), taskActCommand("run")},
	}
}

func cronSubcommands() []subcommand {
	return []subcommand{
		{"ls", "list the periodic tasks (schedules) of the queues", cronLsUsage, cronLsCommand},
		{"rm", "remove schedules of a queue (asks first)", cronRmUsage, cronRmCommand},
	}
}

func taskUsage(w io.Writer) { groupUsage(w, "task", taskSubcommands()) }
func cronUsage(w io.Writer) { groupUsage(w, "cron", cronSubcommands()) }

func taskCommand(ctx context.Context, e env, args []string) int {
	return runGroup(ctx, e, "task", taskSubcommands(), args)
}

func cronCommand(ctx context.Context, e env, args []string) int {
	return runGroup(ctx, e, "cron", cronSubcommands(), args)
}

// queueTarget is a Redis, a prefix and one queue.
type queueTarget struct {
	cliTarget
	queue string
	json  bool
}

func (o *queueTarget) flags(fs *flag.FlagSet, required bool) {
	o.cliTarget.flags(fs)
	what := "the task `name` whose queue to use (required)"
	if !required {
		what = "the task `name` whose queue to use (default: every queue under the prefix)"
	}
	fs.StringVar(&o.queue, "queue", "", what)
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
}

// open checks the flags, connects, and returns an inspector of the queue
// after checking that it exists. The caller closes the client.
func (o *queueTarget) open(ctx context.Context, e env, cmd string) (rueidis.Client, *task.Inspector, error) {
	if err := o.check(e); err != nil {
		return nil, nil, err
	}
	if o.queue == "" {
		return nil, nil, usageErr("--queue is required")
	}
	if err := redisallocator.ValidateName("--queue", o.queue); err != nil {
		return nil, nil, usageErr("%w", err)
	}
	client, err := o.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	in, err := task.NewInspector(client, o.prefix, o.queue)
	if err == nil {
		err = requireName(ctx, e, client, cmd, o.prefix, inspect.DefaultScanLimit, catQueue, o.queue)
	}
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, in, nil
}

// --- queue ls ---

// queueJSON is one queue of `queue ls --json`.
type queueJSON struct {
	Name    string `json:"name"`
	Ready   int    `json:"ready"`
	Delayed int    `json:"delayed"`
	Running int    `json:"running"`
	Dead    int    `json:"dead"`
	Workers int    `json:"workers"`
	Records int    `json:"records"`
	Paused  bool   `json:"paused"`
	Corrupt string `json:"corrupt,omitempty"`
}

func queueLsFlags(o *queueTarget) *flag.FlagSet {
	fs := flag.NewFlagSet("queue ls", flag.ContinueOnError)
	o.cliTarget.flags(fs)
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	setHelp(fs, `usage: redisalloc queue ls --prefix P [flags]

Lists the task queues under the prefix with their counts and whether they
are paused. It only reads.

Exit status: 0, 2 for bad flags or a Redis that cannot be reached.

flags:
`)
	return fs
}

var queueLsUsage = flagUsage(queueLsFlags)

var queueLsCommand = flagCommand(queueLsFlags, 0, runQueueLs)

func runQueueLs(ctx context.Context, e env, o queueTarget, _ []string) error {
	e.stdout = termSafe{e.stdout}
	if err := o.check(e); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	names, err := redisallocator.Discover(ctx, client, o.prefix, inspect.DefaultScanLimit)
	if err != nil {
		return redisFailure(err)
	}
	out := make([]queueJSON, 0, len(names.Queues))
	for _, name := range names.Queues {
		in, err := task.NewInspector(client, o.prefix, name)
		if err != nil {
			return redisFailure(err)
		}
		st, err := in.Stats(ctx)
		if err != nil {
			return redisFailure(err)
		}
		paused := false
		if st.Corrupt == "" {
			if paused, err = in.Paused(ctx); err != nil {
				return redisFailure(err)
			}
		}
		out = append(out, queueJSON{
			Name: name, Ready: st.Ready, Delayed: st.Delayed, Running: st.Running, Dead: st.Dead,
			Workers: st.Workers, Records: st.Records, Paused: paused, Corrupt: st.Corrupt,
		})
	}
	if o.json {
		return writeJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintf(e.stdout, "no queues under prefix %s\n", o.prefix)
		return nil
	}
	tw := table(e.stdout, "QUEUE\tREADY\tDELAYED\tRUNNING\tDEAD\tWORKERS\tRECORDS\tPAUSED")
	for _, q := range out {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", q.Name, q.Ready, q.Delayed, q.Running, q.Dead, q.Workers, q.Records, yesNo(q.Paused))
	}
	_ = tw.Flush()
	for _, q := range out {
		if q.Corrupt != "" {
			fmt.Fprintf(e.stdout, "\nqueue %s: %s\n", q.Name, q.Corrupt)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// --- queue pause|resume ---

func queuePauseFlags(op string) func(o *queueTarget) *flag.FlagSet {
	return func(o *queueTarget) *flag.FlagSet {
		fs := flag.NewFlagSet("queue "+op, flag.ContinueOnError)
		o.flags(fs, true)
		text := `usage: redisalloc queue pause --queue NAME --prefix P [flags]

Pauses the queue: its workers claim no task until "queue resume"; tasks
running go on, and submitters still queue tasks.
`
		if op == "resume" {
			text = `usage: redisalloc queue resume --queue NAME --prefix P [flags]

Resumes a paused queue: its workers claim tasks again at once.
`
		}
		setHelp(fs, text+`
Exit status: 0 done (also when it was paused or running already), 1 no
queue of that name, 2 bad flags or a Redis that cannot be reached.

flags:
`)
		return fs
	}
}

func queuePauseCommand(op string) func(context.Context, env, []string) int {
	return flagCommand(queuePauseFlags(op), 0, func(ctx context.Context, e env, o queueTarget, _ []string) error {
		e.stdout = termSafe{e.stdout}
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		client, in, err := o.open(ctx, e, "queue "+op)
		if err != nil {
			return err
		}
		defer client.Close()
		var changed bool
		if op == "pause" {
			changed, err = in.Pause(ctx)
		} else {
			changed, err = in.Resume(ctx)
		}
		if err != nil {
			return redisFailure(err)
		}
		if o.json {
			return writeJSON(e.stdout, map[string]any{"queue": o.queue, "paused": op == "pause", "changed": changed})
		}
		state := map[string]string{"pause": "paused", "resume": "running"}[op]
		if changed {
			fmt.Fprintf(e.stdout, "queue %s: %s\n", o.queue, state)
		} else {
			fmt.Fprintf(e.stdout, "queue %s: %s already\n", o.queue, state)
		}
		return nil
	})
}

// --- task ls ---

// taskJSON is a task in the JSON output of task ls and task show.
type taskJSON struct {
	ID              string     `json:"id"`
	Queue           string     `json:"queue"`
	Status          string     `json:"status"`
	Attempt         int        `json:"attempt"`
	MaxAttempts     int        `json:"max_attempts"`
	Priority        int        `json:"priority"`
	Worker          string     `json:"worker,omitempty"`
	CancelRequested bool       `json:"cancel_requested,omitempty"`
	Created         *time.Time `json:"created,omitempty"`
	Started         *time.Time `json:"started,omitempty"`
	Finished        *time.Time `json:"finished,omitempty"`
	Deadline        *time.Time `json:"deadline,omitempty"`
	Due             *time.Time `json:"due,omitempty"`
	ErrorKind       string     `json:"error_kind,omitempty"`
	ErrorMessage    string     `json:"error_message,omitempty"`
	Progress        *progJSON  `json:"progress,omitempty"`
	// Params are the params decoded with --codec, as JSON; ParamsRaw the
	// encoded bytes (base64) when they do not decode.
	Params    json.RawMessage `json:"params,omitempty"`
	ParamsRaw []byte          `json:"params_raw,omitempty"`
	ParamsErr string          `json:"params_error,omitempty"`
}

type progJSON struct {
	Seq     int64     `json:"seq"`
	Current float64   `json:"current"`
	Total   float64   `json:"total"`
	Updated time.Time `json:"updated"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func toTaskJSON(in task.Info) taskJSON {
	j := taskJSON{
		ID: in.ID, Queue: in.Name, Status: string(in.Status), Attempt: in.Attempt, MaxAttempts: in.MaxAttempts,
		Priority: in.Priority, Worker: in.Worker, CancelRequested: in.CancelRequested,
		Created: timePtr(in.Created), Started: timePtr(in.Started), Finished: timePtr(in.Finished),
		Deadline: timePtr(in.Deadline), Due: timePtr(in.Due), ErrorKind: in.ErrorKind, ErrorMessage: in.ErrorMessage,
	}
	if in.Progress.Seq > 0 {
		j.Progress = &progJSON{Seq: in.Progress.Seq, Current: in.Progress.Current, Total: in.Progress.Total, Updated: in.Progress.Updated.UTC()}
	}
	return j
}

type taskLsOptions struct {
	queueTarget
	state  string
	limit  int
	cursor string
}

func taskLsFlags(o *taskLsOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("task ls", flag.ContinueOnError)
	o.flags(fs, true)
	fs.StringVar(&o.state, "state", string(task.StatePending), "`state` to list: pending, delayed, retrying, running, dead, succeeded or canceled")
	fs.IntVar(&o.limit, "limit", defaultTaskLimit, "list at most this many tasks")
	fs.StringVar(&o.cursor, "cursor", "", "go on from the `cursor` a previous listing printed")
	setHelp(fs, `usage: redisalloc task ls --queue NAME --state STATE --prefix P [flags]

Lists up to --limit tasks of the queue in one state, in the state's order
(pending: priority, then age; delayed and retrying: due time; running: by
worker; dead: failure time; succeeded and canceled: when the record goes).
When there are more, it prints a cursor: --cursor C goes on from there. A
task that stays in its state while pages are read is listed exactly once.
It only reads.

Exit status: 0, 1 no queue of that name, 2 bad flags or a Redis that cannot
be reached.

flags:
`)
	return fs
}

var taskLsUsage = flagUsage(taskLsFlags)

var taskLsCommand = flagCommand(taskLsFlags, 0, runTaskLs)

func runTaskLs(ctx context.Context, e env, o taskLsOptions, _ []string) error {
	e.stdout = termSafe{e.stdout}
	state := task.State(o.state)
	if !slices.Contains(task.States(), state) {
		return usageErr("--state %q: want one of pending, delayed, retrying, running, dead, succeeded, canceled", o.state)
	}
	if o.limit < 1 || o.limit > maxTaskLimit {
		return usageErr("--limit must be between 1 and %d, got %d", maxTaskLimit, o.limit)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, in, err := o.open(ctx, e, "task ls")
	if err != nil {
		return err
	}
	defer client.Close()
	var tasks []task.Info
	cursor := o.cursor
	for {
		page, next, err := in.List(ctx, state, cursor, min(o.limit-len(tasks), 1000))
		if errors.Is(err, task.ErrInvalid) {
			return usageErr("--cursor: %w", err)
		}
		if err != nil {
			return redisFailure(err)
		}
		tasks = append(tasks, page...)
		cursor = next
		if cursor == "" || len(tasks) >= o.limit {
			break
		}
	}
	if o.json {
		out := struct {
			Queue  string     `json:"queue"`
			State  string     `json:"state"`
			Tasks  []taskJSON `json:"tasks"`
			Cursor string     `json:"next_cursor"`
		}{o.queue, o.state, make([]taskJSON, 0, len(tasks)), cursor}
		for _, t := range tasks {
			out.Tasks = append(out.Tasks, toTaskJSON(t))
		}
		return writeJSON(e.stdout, out)
	}
	if len(tasks) == 0 {
		fmt.Fprintf(e.stdout, "queue %s: no %s tasks\n", o.queue, o.state)
	} else {
		tw := table(e.stdout, "ID\tSTATUS\tATTEMPT\tPRIORITY\tWORKER\tCREATED\tDUE\tERROR")
		for _, t := range tasks {
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s\t%s\t%s\t%s\n", shortText(t.ID), t.Status, t.Attempt, t.MaxAttempts, t.Priority,
				orDash(t.Worker), showTime(t.Created), showTime(t.Due), orDash(shortText(errText(t))))
		}
		_ = tw.Flush()
	}
	if cursor != "" {
		fmt.Fprintf(e.stdout, "\nmore: --cursor %s\n", cursor)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func showTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func errText(t task.Info) string {
	if t.ErrorKind == "" && t.ErrorMessage == "" {
		return ""
	}
	return t.ErrorKind + ": " + t.ErrorMessage
}

// --- task show ---

type taskShowOptions struct {
	queueTarget
	codec string
}

func taskShowFlags(o *taskShowOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("task show", flag.ContinueOnError)
	o.flags(fs, true)
	fs.StringVar(&o.codec, "codec", "cbor", "`codec` the queue encodes params with: cbor (the default of task.New), json or msgpack (task.WithCodec)")
	setHelp(fs, `usage: redisalloc task show ID --queue NAME --prefix P [flags]

Shows one task: status, attempts, last error, timings, worker, progress and
its params decoded with --codec (shown raw when they do not decode). It
only reads, but for deleting a record whose retention ended (it is then
not found).

Exit status: 0, 1 no such task or queue, 2 bad flags or a Redis that cannot
be reached.

flags:
`)
	return fs
}

var taskShowUsage = flagUsage(taskShowFlags)

var taskShowCommand = flagCommand(taskShowFlags, 1, runTaskShow)

func runTaskShow(ctx context.Context, e env, o taskShowOptions, pos []string) error {
	e.stdout = termSafe{e.stdout}
	if len(pos) != 1 {
		return usageErr("give the task ID")
	}
	id := pos[0]
	if err := redisallocator.ValidateMember("task id", id); err != nil {
		return usageErr("%w", err)
	}
	c, err := codec.New(o.codec, codec.Limits{})
	if err != nil {
		return usageErr("--codec: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, in, err := o.open(ctx, e, "task show")
	if err != nil {
		return err
	}
	defer client.Close()
	info, err := in.Info(ctx, id)
	if errors.Is(err, task.ErrNotFound) {
		return &exitError{exitFail, fmt.Errorf("no task %q in queue %s", shortText(id), o.queue)}
	}
	if err != nil {
		return redisFailure(err)
	}
	j := toTaskJSON(info)
	var params any
	if err := c.Unmarshal(info.Params, &params); err != nil {
		j.ParamsRaw, j.ParamsErr = info.Params, err.Error()
	} else if b, err := json.Marshal(jsonSafe(params)); err != nil {
		j.ParamsRaw, j.ParamsErr = info.Params, err.Error()
	} else {
		j.Params = b
	}
	if o.json {
		return writeJSON(e.stdout, j)
	}
	w := e.stdout
	fmt.Fprintf(w, "task %s (queue %s)\n", info.ID, info.Name)
	fmt.Fprintf(w, "  status     %s", info.Status)
	if info.CancelRequested {
		fmt.Fprint(w, " (cancel requested)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  attempt    %d of %d\n", info.Attempt, info.MaxAttempts)
	fmt.Fprintf(w, "  priority   %d\n", info.Priority)
	fmt.Fprintf(w, "  worker     %s\n", orDash(info.Worker))
	fmt.Fprintf(w, "  created    %s\n", showTime(info.Created))
	fmt.Fprintf(w, "  due        %s\n", showTime(info.Due))
	fmt.Fprintf(w, "  started    %s\n", showTime(info.Started))
	fmt.Fprintf(w, "  finished   %s\n", showTime(info.Finished))
	fmt.Fprintf(w, "  deadline   %s\n", showTime(info.Deadline))
	fmt.Fprintf(w, "  last error %s\n", orDash(errText(info)))
	if info.Progress.Seq > 0 {
		fmt.Fprintf(w, "  progress   %g of %g (%s)\n", info.Progress.Current, info.Progress.Total, showTime(info.Progress.Updated))
	}
	if j.Params != nil {
		fmt.Fprintf(w, "  params     %s\n", j.Params)
	} else {
		fmt.Fprintf(w, "  params     %d bytes that do not decode as %s (%s): %q\n", len(info.Params), o.codec, j.ParamsErr, shortText(string(info.Params)))
	}
	return nil
}

// jsonSafe turns what msgpack and CBOR decode into any (maps with keys of
// any type) into values encoding/json accepts.
func jsonSafe(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonSafe(x)
		}
		return m
	case map[string]any:
		for k, x := range t {
			t[k] = jsonSafe(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = jsonSafe(x)
		}
		return t
	}
	return v
}

// --- task cancel|delete|requeue|run ---

type taskActOptions struct {
	queueTarget
	yes bool
}

var taskActHelp = map[string]string{
	"cancel": `Cancels tasks, one atomic step each: a pending task at once (its callers get
ErrCanceled), a running one by request to its worker (its handler's ctx
ends at the worker's next heartbeat).`,
	"delete": `Deletes the records of tasks no worker holds, one atomic step each: pending,
delayed, retrying, dead, succeeded and canceled tasks (callers waiting on
one get ErrNotFound). Running tasks are refused: cancel them first.`,
	"requeue": `Moves dead-lettered tasks back to the queue with fresh attempts and
deadline. "queue requeue --all" requeues the whole dead-letter set.`,
	"run": `Makes delayed tasks and tasks waiting for a retry due now, for workers to
claim at once.`,
}

func taskActFlags(verb string) func(o *taskActOptions) *flag.FlagSet {
	return func(o *taskActOptions) *flag.FlagSet {
		fs := flag.NewFlagSet("task "+verb, flag.ContinueOnError)
		o.flags(fs, true)
		fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
		setHelp(fs, "usage: redisalloc task "+verb+" ID... --queue NAME --prefix P [flags]\n\n"+taskActHelp[verb]+`
Asks first. Every ID is checked before anything is sent.

Exit status: 0 done for every ID, 1 aborted, no queue of that name, or an
ID was not acted on (named, with why), 2 bad flags or IDs, no terminal to
ask on without --yes, or a Redis that cannot be reached.

flags:
`)
		return fs
	}
}

func taskActUsage(verb string) func(io.Writer) { return flagUsage(taskActFlags(verb)) }

func taskActCommand(verb string) func(context.Context, env, []string) int {
	return flagCommand(taskActFlags(verb), maxArgs, func(ctx context.Context, e env, o taskActOptions, ids []string) error {
		return runTaskAct(ctx, e, verb, o, ids)
	})
}

// actResult is the JSON output of task cancel|delete|requeue|run.
type actResult struct {
	Queue   string       `json:"queue"`
	Action  string       `json:"action"`
	Done    []string     `json:"done"`
	Skipped []actSkipped `json:"skipped"`
}

type actSkipped struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

func runTaskAct(ctx context.Context, e env, verb string, o taskActOptions, ids []string) error {
	e.stdout = termSafe{e.stdout}
	if len(ids) == 0 {
		return usageErr("give the task IDs to %s", verb)
	}
	for _, id := range ids {
		if err := redisallocator.ValidateMember("task id", id); err != nil {
			return usageErr("%w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, in, err := o.open(ctx, e, "task "+verb)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := confirm(e, o.yes, fmt.Sprintf("%s %d task(s) of queue %s?", verb, len(ids), o.queue)); err != nil {
		return err
	}
	res := actResult{Queue: o.queue, Action: verb, Done: []string{}, Skipped: []actSkipped{}}
	for _, id := range ids {
		why, err := taskAct(ctx, in, verb, id)
		if err != nil {
			return redisFailure(fmt.Errorf("%w (done %d before)", err, len(res.Done)))
		}
		if why == "" {
			res.Done = append(res.Done, id)
		} else {
			res.Skipped = append(res.Skipped, actSkipped{ID: id, Reason: why})
		}
	}
	if o.json {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	} else {
		for _, id := range res.Done {
			fmt.Fprintf(e.stdout, "%s: %s\n", shortText(id), map[string]string{
				"cancel": "canceled (or cancel requested)", "delete": "deleted", "requeue": "requeued", "run": "due now",
			}[verb])
		}
		for _, s := range res.Skipped {
			fmt.Fprintf(e.stdout, "%s: not done: %s\n", shortText(s.ID), s.Reason)
		}
	}
	if len(res.Skipped) > 0 {
		return &exitError{exitFail, fmt.Errorf("%d of %d task(s) not done", len(res.Skipped), len(ids))}
	}
	return nil
}

// taskAct applies verb to id and returns why it did nothing ("" when it
// did), or a Redis failure.
func taskAct(ctx context.Context, in *task.Inspector, verb, id string) (string, error) {
	var err error
	switch verb {
	case "cancel":
		err = in.Cancel(ctx, id)
	case "delete":
		err = in.Delete(ctx, id)
	case "requeue", "run":
		var n int
		if verb == "requeue" {
			n, err = in.Requeue(ctx, id)
		} else {
			n, err = in.RunNow(ctx, id)
		}
		if err == nil && n == 0 {
			return notDoneReason(ctx, in, verb, id)
		}
	}
	switch {
	case errors.Is(err, task.ErrNotFound):
		return "no such task", nil
	case errors.Is(err, task.ErrFinished):
		return "already finished", nil
	case errors.Is(err, task.ErrInvalid):
		return "running: cancel it first", nil
	}
	return "", err
}

// notDoneReason says why requeue or run skipped id, from its status.
func notDoneReason(ctx context.Context, in *task.Inspector, verb, id string) (string, error) {
	info, err := in.Info(ctx, id)
	if errors.Is(err, task.ErrNotFound) {
		return "no such task", nil
	}
	if err != nil {
		return "", err
	}
	if verb == "requeue" {
		return fmt.Sprintf("%s, not dead-lettered", info.Status), nil
	}
	return fmt.Sprintf("%s, not delayed", info.Status), nil
}

// --- cron ls|rm ---

// cronJSON is one schedule of `cron ls --json`.
type cronJSON struct {
	Queue string `json:"queue"`
	task.Schedule
}

func cronLsFlags(o *queueTarget) *flag.FlagSet {
	fs := flag.NewFlagSet("cron ls", flag.ContinueOnError)
	o.flags(fs, false)
	setHelp(fs, `usage: redisalloc cron ls [--queue NAME] --prefix P [flags]

Lists the periodic tasks (schedules stored with Queue.Schedule) of one queue,
or of every queue under the prefix: name, cron spec, next and last run.
Processes running Queue.RunSchedules queue the runs. It only reads.

Exit status: 0, 1 no queue of that name, 2 bad flags or a Redis that cannot
be reached.

flags:
`)
	return fs
}

var cronLsUsage = flagUsage(cronLsFlags)

var cronLsCommand = flagCommand(cronLsFlags, 0, runCronLs)

func runCronLs(ctx context.Context, e env, o queueTarget, _ []string) error {
	e.stdout = termSafe{e.stdout}
	if err := o.check(e); err != nil {
		return err
	}
	if o.queue != "" {
		if err := redisallocator.ValidateName("--queue", o.queue); err != nil {
			return usageErr("%w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	names, err := redisallocator.Discover(ctx, client, o.prefix, inspect.DefaultScanLimit)
	if err != nil {
		return redisFailure(err)
	}
	queues := names.Queues
	if o.queue != "" {
		if err := checkFound(e, "cron ls", names, o.prefix, catQueue, o.queue); err != nil {
			return err
		}
		queues = []string{o.queue}
	}
	out := []cronJSON{}
	for _, q := range queues {
		in, err := task.NewInspector(client, o.prefix, q)
		if err != nil {
			return redisFailure(err)
		}
		list, err := in.Schedules(ctx)
		if err != nil {
			return redisFailure(err)
		}
		for _, s := range list {
			out = append(out, cronJSON{Queue: q, Schedule: s})
		}
	}
	if o.json {
		return writeJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "no schedules")
		return nil
	}
	tw := table(e.stdout, "QUEUE\tNAME\tSPEC\tNEXT\tLAST\tPRIORITY\tTIMEOUT\tATTEMPTS")
	for _, s := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", s.Queue, shortText(s.Name), s.Spec, showTime(s.Next), showTime(s.Last),
			s.Priority, s.Timeout, s.MaxAttempts)
	}
	_ = tw.Flush()
	return nil
}

func cronRmFlags(o *taskActOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("cron rm", flag.ContinueOnError)
	o.flags(fs, true)
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	setHelp(fs, `usage: redisalloc cron rm NAME... --queue NAME --prefix P [flags]

Removes schedules of the queue: no run is queued for them any more (runs
already queued stay). Asks first.

Exit status: 0 every schedule removed, 1 aborted, no queue of that name or a
schedule not found, 2 bad flags, no terminal to ask on without --yes, or a
Redis that cannot be reached.

flags:
`)
	return fs
}

var cronRmUsage = flagUsage(cronRmFlags)

var cronRmCommand = flagCommand(cronRmFlags, maxArgs, runCronRm)

func runCronRm(ctx context.Context, e env, o taskActOptions, names []string) error {
	e.stdout = termSafe{e.stdout}
	if len(names) == 0 {
		return usageErr("give the schedule names to remove")
	}
	for _, n := range names {
		if err := redisallocator.ValidateMember("schedule name", n); err != nil {
			return usageErr("%w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, in, err := o.open(ctx, e, "cron rm")
	if err != nil {
		return err
	}
	defer client.Close()
	if err := confirm(e, o.yes, fmt.Sprintf("remove %d schedule(s) of queue %s?", len(names), o.queue)); err != nil {
		return err
	}
	n, err := in.Unschedule(ctx, names...)
	if err != nil {
		return redisFailure(err)
	}
	if o.json {
		if err := writeJSON(e.stdout, map[string]any{"queue": o.queue, "removed": n, "asked": len(names)}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "queue %s: removed %d schedule(s)\n", o.queue, n)
	}
	if n < len(names) {
		return &exitError{exitFail, fmt.Errorf("%d of %d schedule(s) not found: %s", len(names)-n, len(names), strings.Join(names, ", "))}
	}
	return nil
}
