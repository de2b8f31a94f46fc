package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/codec"
	"github.com/redisallocator/redisallocator/pool"
	"github.com/redisallocator/redisallocator/task"
)

// The dashboard's actions and task views. Actions change Redis, so they
// are off unless the server was started with --allow-actions, and every
// one must pass, in this order: the Host and token checks of every route
// (ServeHTTP), POST only, net/http's CrossOriginProtection (Sec-Fetch-Site,
// else Origin against Host: a page of another origin cannot make the
// browser post), a JSON content type (which a cross-site form cannot send
// without a CORS preflight, which is refused), and the CSRF token that
// only a page of this origin can read from /api/session. Each one tried is
// logged, refused or done. The task views only read and need no flag.

// Limits of the actions and task views.
const (
	actionBodyLimit   = 64 << 10
	actionTimeout     = 10 * time.Second
	dashCSRFHeader    = "X-CSRF-Token"
	taskPageDefault   = 50
	taskPageMax       = 1000 // the library's largest page
	requeueMax        = 1000 // ids per requeue from the dashboard
	maxQuarantineSecs = 7 * 24 * 3600
	taskParamsMax     = 4 << 10 // params shown in a task's record
)

// actionError is an action's refusal with its HTTP status.
type actionError struct {
	code int
	msg  string
}

func (e *actionError) Error() string { return e.msg }

func badAction(format string, args ...any) error {
	return &actionError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// action is one POST /api/actions/<name>: decode its JSON body into a
// fresh value, then run it. target names what it acts on, for the log and
// the result.
type action struct {
	run func(ctx context.Context, ops *dashOps, body []byte) (target, message string, err error)
}

// dashOps does the dashboard's reads and writes on Redis through the
// library's public inspector and admin APIs.
type dashOps struct {
	client rueidis.Client
	prefix string
}

func (o *dashOps) poolAdmin(name string) (*pool.Admin, error) {
	a, err := pool.NewAdmin(o.client, o.prefix, name)
	if err != nil {
		return nil, badAction("pool %q: %v", name, err)
	}
	return a, nil
}

func (o *dashOps) queue(name string) (*task.Inspector, error) {
	q, err := task.NewInspector(o.client, o.prefix, name)
	if err != nil {
		return nil, badAction("queue %q: %v", name, err)
	}
	return q, nil
}

// decodeStrict decodes one JSON object with no unknown fields.
func decodeStrict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badAction("bad request body: %v", err)
	}
	if d.More() {
		return badAction("bad request body: more than one JSON value")
	}
	return nil
}

// dashActions are the actions by name. A new one is an entry here (and a
// button in web/app.js that posts to it).
var dashActions = map[string]action{
	// pool/free ends the lease the operator saw: only while the member's
	// lease still has that fence, so a stale page cannot free a lease
	// taken since.
	"pool/free": {run: func(ctx context.Context, ops *dashOps, body []byte) (string, string, error) {
		var in struct {
			Pool   string `json:"pool"`
			Member string `json:"member"`
			Fence  int64  `json:"fence"`
		}
		if err := decodeStrict(body, &in); err != nil {
			return "", "", err
		}
		target := "pool:" + in.Pool + " member:" + in.Member + " fence:" + strconv.FormatInt(in.Fence, 10)
		if in.Fence <= 0 {
			return target, "", badAction("fence must be the lease's fence (a positive number): freeing whatever lease a member has is not offered here")
		}
		a, err := ops.poolAdmin(in.Pool)
		if err != nil {
			return target, "", err
		}
		n, err := a.ForceRelease(ctx, map[string]int64{in.Member: in.Fence})
		switch {
		case errors.Is(err, pool.ErrNotMember):
			return target, "", &actionError{http.StatusNotFound, fmt.Sprintf("%q is not a member of pool %q", in.Member, in.Pool)}
		case errors.Is(err, pool.ErrInvalid):
			return target, "", badAction("%v", err)
		case err != nil:
			return target, "", err
		case n == 0:
			return target, "", &actionError{http.StatusConflict, fmt.Sprintf("not freed: the lease of %q with fence %d has ended or changed since the page showed it", in.Member, in.Fence)}
		}
		return target, fmt.Sprintf("freed the lease of %s (fence %d) in pool %s", in.Member, in.Fence, in.Pool), nil
	}},
	// pool/quarantine takes a member out of rotation for seconds (a held
	// one when its lease ends); 0 ends a quarantine.
	"pool/quarantine": {run: func(ctx context.Context, ops *dashOps, body []byte) (string, string, error) {
		var in struct {
			Pool    string `json:"pool"`
			Member  string `json:"member"`
			Seconds int64  `json:"seconds"`
		}
		if err := decodeStrict(body, &in); err != nil {
			return "", "", err
		}
		target := "pool:" + in.Pool + " member:" + in.Member + " seconds:" + strconv.FormatInt(in.Seconds, 10)
		if in.Seconds < 0 || in.Seconds > maxQuarantineSecs {
			return target, "", badAction("seconds must be 0 (end the quarantine) to %d, got %d", maxQuarantineSecs, in.Seconds)
		}
		a, err := ops.poolAdmin(in.Pool)
		if err != nil {
			return target, "", err
		}
		err = a.Quarantine(ctx, in.Member, time.Duration(in.Seconds)*time.Second)
		switch {
		case errors.Is(err, pool.ErrNotMember):
			return target, "", &actionError{http.StatusNotFound, fmt.Sprintf("%q is not a member of pool %q", in.Member, in.Pool)}
		case errors.Is(err, pool.ErrInvalid):
			return target, "", badAction("%v", err)
		case err != nil:
			return target, "", err
		case in.Seconds == 0:
			return target, fmt.Sprintf("ended the quarantine of %s in pool %s", in.Member, in.Pool), nil
		}
		return target, fmt.Sprintf("quarantined %s in pool %s for %v (a held member when its lease ends)", in.Member, in.Pool, time.Duration(in.Seconds)*time.Second), nil
	}},
	// queue/requeue moves dead-lettered tasks back to the queue.
	"queue/requeue": {run: func(ctx context.Context, ops *dashOps, body []byte) (string, string, error) {
		var in struct {
			Queue string   `json:"queue"`
			IDs   []string `json:"ids"`
		}
		if err := decodeStrict(body, &in); err != nil {
			return "", "", err
		}
		target := fmt.Sprintf("queue:%s ids:%q", in.Queue, in.IDs)
		if len(in.IDs) == 0 || len(in.IDs) > requeueMax {
			return target, "", badAction("ids: 1 to %d task ids, got %d", requeueMax, len(in.IDs))
		}
		q, err := ops.queue(in.Queue)
		if err != nil {
			return target, "", err
		}
		n, err := q.Requeue(ctx, in.IDs...)
		switch {
		case errors.Is(err, task.ErrInvalid):
			return target, "", badAction("%v", err)
		case err != nil:
			return target, "", err
		case n == 0:
			return target, "", &actionError{http.StatusConflict, "requeued none: the tasks are no longer in the dead-letter set"}
		}
		return target, fmt.Sprintf("requeued %d of %d task(s) of queue %s", n, len(in.IDs), in.Queue), nil
	}},
}

// taskAction is the body of the actions on one task.
type taskAction struct {
	Queue string `json:"queue"`
	ID    string `json:"id"`
}

// queueAction is the body of the actions on a whole queue.
type queueAction struct {
	Queue string `json:"queue"`
}

// onTask makes an action on one task: it decodes the body, names the
// target and opens the queue, so each action says only what it does.
func onTask(do func(ctx context.Context, q *task.Inspector, in taskAction, target string) (string, string, error)) action {
	return action{run: func(ctx context.Context, ops *dashOps, body []byte) (string, string, error) {
		var in taskAction
		if err := decodeStrict(body, &in); err != nil {
			return "", "", err
		}
		target := "queue:" + in.Queue + " task:" + in.ID
		q, err := ops.queue(in.Queue)
		if err != nil {
			return target, "", err
		}
		return do(ctx, q, in, target)
	}}
}

func init() {
	// Registered here, next to the task views they belong with.
	dashActions["task/cancel"] = onTask(func(ctx context.Context, q *task.Inspector, in taskAction, target string) (string, string, error) {
		switch err := q.Cancel(ctx, in.ID); {
		case errors.Is(err, task.ErrFinished):
			return target, "", &actionError{http.StatusConflict, fmt.Sprintf("task %q had finished: nothing to cancel", in.ID)}
		case err != nil:
			return target, "", taskErr(err, in.ID, in.Queue)
		}
		return target, fmt.Sprintf("canceled task %s of queue %s (a running one when its worker sees the request)", in.ID, in.Queue), nil
	})
	dashActions["task/delete"] = onTask(func(ctx context.Context, q *task.Inspector, in taskAction, target string) (string, string, error) {
		if err := q.Delete(ctx, in.ID); err != nil {
			return target, "", taskErr(err, in.ID, in.Queue)
		}
		return target, fmt.Sprintf("deleted task %s of queue %s", in.ID, in.Queue), nil
	})
	dashActions["task/run-now"] = onTask(func(ctx context.Context, q *task.Inspector, in taskAction, target string) (string, string, error) {
		n, err := q.RunNow(ctx, in.ID)
		switch {
		case err != nil:
			return target, "", taskErr(err, in.ID, in.Queue)
		case n == 0:
			return target, "", &actionError{http.StatusConflict, fmt.Sprintf("task %q is not delayed or waiting for a retry (any more)", in.ID)}
		}
		return target, fmt.Sprintf("task %s of queue %s is due now", in.ID, in.Queue), nil
	})
	// queue/unschedule removes one periodic task; runs already queued stay.
	dashActions["queue/unschedule"] = action{run: func(ctx context.Context, ops *dashOps, body []byte) (string, string, error) {
		var in struct {
			Queue    string `json:"queue"`
			Schedule string `json:"schedule"`
		}
		if err := decodeStrict(body, &in); err != nil {
			return "", "", err
		}
		target := "queue:" + in.Queue + " schedule:" + in.Schedule
		q, err := ops.queue(in.Queue)
		if err != nil {
			return target, "", err
		}
		n, err := q.Unschedule(ctx, in.Schedule)
		switch {
		case errors.Is(err, task.ErrInvalid):
			return target, "", badAction("%v", err)
		case err != nil:
			return target, "", err
		case n == 0:
			return target, "", &actionError{http.StatusNotFound, fmt.Sprintf("no schedule %q in queue %q (removed already?)", in.Schedule, in.Queue)}
		}
		return target, fmt.Sprintf("removed schedule %s of queue %s (runs already queued stay)", in.Schedule, in.Queue), nil
	}}
	for _, name := range []string{"pause", "resume"} {
		dashActions["queue/"+name] = action{run: func(ctx context.Context, ops *dashOps, body []byte) (string, string, error) {
			var in queueAction
			if err := decodeStrict(body, &in); err != nil {
				return "", "", err
			}
			target := "queue:" + in.Queue
			q, err := ops.queue(in.Queue)
			if err != nil {
				return target, "", err
			}
			f, past := q.Pause, "paused"
			if name == "resume" {
				f, past = q.Resume, "resumed"
			}
			changed, err := f(ctx)
			switch {
			case err != nil:
				return target, "", err
			case !changed:
				return target, fmt.Sprintf("queue %s was %s already", in.Queue, past), nil
			}
			return target, fmt.Sprintf("%s queue %s", past, in.Queue), nil
		}}
	}
}

// decodeParams shows encoded params as JSON, by the first codec that
// decodes them whole: JSON, then CBOR (task.New's default), then MsgPack.
// The dashboard does not know the queue's codec, so it says which one read
// them.
func decodeParams(p []byte) (text, codecName string) {
	if json.Valid(p) {
		return string(p), "json"
	}
	for _, name := range []string{"cbor", "msgpack"} {
		c, err := codec.New(name, codec.Limits{})
		if err != nil {
			continue
		}
		var v any
		if c.Unmarshal(p, &v) != nil {
			continue
		}
		if b, err := json.Marshal(jsonSafe(v)); err == nil {
			return string(b), name
		}
	}
	return fmt.Sprintf("(%d bytes that decode as none of JSON, CBOR and MsgPack)", len(p)), ""
}

// taskErr maps a task inspector's error to the action's reply.
func taskErr(err error, id, queue string) error {
	switch {
	case errors.Is(err, task.ErrNotFound):
		return &actionError{http.StatusNotFound, fmt.Sprintf("no task %q in queue %q", id, queue)}
	case errors.Is(err, task.ErrInvalid):
		return badAction("%v", err)
	}
	return err
}

// taskStates are the states the task list offers (task.States), for
// /api/session.
func taskStates() []string {
	var out []string
	for _, st := range task.States() {
		out = append(out, string(st))
	}
	return out
}

// session is GET /api/session: whether actions are on, the CSRF token the
// page sends with them, and what the task list can show. A page of another
// origin cannot read it (no CORS headers, Cross-Origin-Resource-Policy).
func (s *dashServer) session(w http.ResponseWriter, _ *http.Request) {
	out := struct {
		Actions    bool     `json:"actions"`
		CSRF       string   `json:"csrf,omitempty"`
		TaskStates []string `json:"task_states"`
	}{Actions: s.actionsOn(), TaskStates: taskStates()}
	if out.Actions {
		out.CSRF = s.csrf
	}
	replyJSON(w, http.StatusOK, out)
}

// actionsOn reports whether the actions are enabled and possible.
func (s *dashServer) actionsOn() bool { return s.allowActions && s.ops != nil }

// doAction serves POST /api/actions/<name> after ServeHTTP's Host and
// token checks; r.Method is POST.
func (s *dashServer) doAction(w http.ResponseWriter, r *http.Request, name string, auth string) {
	act, ok := dashActions[name]
	log := s.log.With("action", name, "remote", r.RemoteAddr, "auth", auth)
	refuse := func(code int, msg string) {
		log.Warn("dashboard action refused", "status", code, "reason", msg)
		replyJSON(w, code, actionResult{Error: msg})
	}
	switch {
	case !ok:
		refuse(http.StatusNotFound, "no such action")
		return
	case !s.actionsOn():
		refuse(http.StatusForbidden, "actions are disabled: start the dashboard with --allow-actions")
		return
	}
	if err := s.cop.Check(r); err != nil {
		refuse(http.StatusForbidden, "cross-origin request refused: "+err.Error())
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	if got := r.Header.Get(dashCSRFHeader); subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		refuse(http.StatusForbidden, "missing or wrong "+dashCSRFHeader+" (read it from /api/session)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, actionBodyLimit))
	if err != nil {
		refuse(http.StatusRequestEntityTooLarge, "request body too large or unreadable")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	target, msg, err := act.run(ctx, s.ops, body)
	log = log.With("target", target)
	if err != nil {
		code := http.StatusBadGateway // Redis failed
		if ae, ok := errors.AsType[*actionError](err); ok {
			code = ae.code
		}
		log.Warn("dashboard action failed", "status", code, "error", err.Error())
		replyJSON(w, code, actionResult{Action: name, Target: target, Error: err.Error()})
		return
	}
	log.Info("dashboard action done", "result", msg)
	replyJSON(w, http.StatusOK, actionResult{OK: true, Action: name, Target: target, Message: msg})
}

// actionResult is an action's JSON reply.
type actionResult struct {
	OK      bool   `json:"ok"`
	Action  string `json:"action,omitempty"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// taskView is one task as the task views show it.
type taskView struct {
	ID              string     `json:"id"`
	Queue           string     `json:"queue"`
	Status          string     `json:"status"`
	Attempt         int        `json:"attempt"`
	MaxAttempts     int        `json:"max_attempts"`
	Priority        int        `json:"priority"`
	CancelRequested bool       `json:"cancel_requested"`
	Created         *time.Time `json:"created,omitempty"`
	Started         *time.Time `json:"started,omitempty"`
	Finished        *time.Time `json:"finished,omitempty"`
	Deadline        *time.Time `json:"deadline,omitempty"`
	ErrorKind       string     `json:"error_kind,omitempty"`
	ErrorMessage    string     `json:"error_message,omitempty"`
	Worker          string     `json:"worker,omitempty"`
	Due             *time.Time `json:"due,omitempty"`
	// Params are the params (task.Info.Params: the record only) decoded
	// by the first codec of JSON, CBOR (task.New's default) and MsgPack
	// that reads them whole (ParamsCodec), shown as JSON and cut at
	// taskParamsMax bytes; when none does, a note of their size.
	Params          string `json:"params,omitempty"`
	ParamsCodec     string `json:"params_codec,omitempty"`
	ParamsTruncated bool   `json:"params_truncated,omitempty"`
	Progress        *struct {
		Seq     int64      `json:"seq"`
		Current float64    `json:"current"`
		Total   float64    `json:"total"`
		Updated *time.Time `json:"updated,omitempty"`
	} `json:"progress,omitempty"`
}

func newTaskView(in task.Info) taskView {
	v := taskView{
		ID: in.ID, Queue: in.Name, Status: string(in.Status), Attempt: in.Attempt, MaxAttempts: in.MaxAttempts,
		Priority: in.Priority, CancelRequested: in.CancelRequested, Created: utcPtr(in.Created), Started: utcPtr(in.Started),
		Finished: utcPtr(in.Finished), Deadline: utcPtr(in.Deadline), ErrorKind: in.ErrorKind, ErrorMessage: in.ErrorMessage,
		Worker: in.Worker, Due: utcPtr(in.Due),
	}
	if len(in.Params) > 0 {
		v.Params, v.ParamsCodec = decodeParams(in.Params)
		if len(v.Params) > taskParamsMax {
			v.Params, v.ParamsTruncated = strings.ToValidUTF8(v.Params[:taskParamsMax], ""), true
		}
	}
	if p := in.Progress; p.Seq > 0 {
		v.Progress = &struct {
			Seq     int64      `json:"seq"`
			Current float64    `json:"current"`
			Total   float64    `json:"total"`
			Updated *time.Time `json:"updated,omitempty"`
		}{p.Seq, p.Current, p.Total, utcPtr(p.Updated)}
	}
	return v
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// tasks is GET /api/tasks?queue=Q&state=S[&cursor=C][&limit=N]: one page
// of a queue's tasks in a state (task.Inspector.List), and the cursor of
// the next ("" at the end).
func (s *dashServer) tasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := taskPageDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > taskPageMax {
			replyJSON(w, http.StatusBadRequest, actionResult{Error: fmt.Sprintf("limit must be 1 to %d", taskPageMax)})
			return
		}
		limit = n
	}
	insp, err := s.ops.queue(q.Get("queue"))
	if err != nil {
		replyJSON(w, http.StatusBadRequest, actionResult{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	infos, next, err := insp.List(ctx, task.State(q.Get("state")), q.Get("cursor"), limit)
	if errors.Is(err, task.ErrInvalid) {
		replyJSON(w, http.StatusBadRequest, actionResult{Error: fmt.Sprintf("%v (states: %q)", err, taskStates())})
		return
	}
	if err != nil {
		replyJSON(w, http.StatusBadGateway, actionResult{Error: err.Error()})
		return
	}
	out := struct {
		Queue string     `json:"queue"`
		State string     `json:"state"`
		Tasks []taskView `json:"tasks"`
		Next  string     `json:"next"`
	}{Queue: q.Get("queue"), State: q.Get("state"), Tasks: make([]taskView, 0, len(infos)), Next: next}
	for _, in := range infos {
		out.Tasks = append(out.Tasks, newTaskView(in))
	}
	replyJSON(w, http.StatusOK, out)
}

// scheduleView is one periodic task as the queue view shows it.
type scheduleView struct {
	Name string     `json:"name"`
	Spec string     `json:"spec"`
	Next *time.Time `json:"next,omitempty"`
	Last *time.Time `json:"last,omitempty"`
}

// schedules is GET /api/schedules?queue=Q: the queue's periodic tasks
// (task.Inspector.Schedules), by name.
func (s *dashServer) schedules(w http.ResponseWriter, r *http.Request) {
	queue := r.URL.Query().Get("queue")
	insp, err := s.ops.queue(queue)
	if err != nil {
		replyJSON(w, http.StatusBadRequest, actionResult{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	list, err := insp.Schedules(ctx)
	if err != nil {
		replyJSON(w, http.StatusBadGateway, actionResult{Error: err.Error()})
		return
	}
	out := struct {
		Queue     string         `json:"queue"`
		Schedules []scheduleView `json:"schedules"`
	}{Queue: queue, Schedules: make([]scheduleView, 0, len(list))}
	for _, sc := range list {
		out.Schedules = append(out.Schedules, scheduleView{Name: sc.Name, Spec: sc.Spec, Next: utcPtr(sc.Next), Last: utcPtr(sc.Last)})
	}
	replyJSON(w, http.StatusOK, out)
}

// task is GET /api/task?queue=Q&id=ID: one task's record.
func (s *dashServer) task(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	insp, err := s.ops.queue(q.Get("queue"))
	if err != nil {
		replyJSON(w, http.StatusBadRequest, actionResult{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	in, err := insp.Info(ctx, q.Get("id"))
	switch {
	case errors.Is(err, task.ErrNotFound):
		replyJSON(w, http.StatusNotFound, actionResult{Error: fmt.Sprintf("no task %q in queue %q (finished and expired, or deleted)", q.Get("id"), q.Get("queue"))})
	case errors.Is(err, task.ErrInvalid):
		replyJSON(w, http.StatusBadRequest, actionResult{Error: err.Error()})
	case err != nil:
		replyJSON(w, http.StatusBadGateway, actionResult{Error: err.Error()})
	default:
		replyJSON(w, http.StatusOK, newTaskView(in))
	}
}

func replyJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"encoding the reply"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// newCSRFToken returns a random token for one server's life.
func newCSRFToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// discardLogger drops every record (no logger configured).
var discardLogger = slog.New(slog.DiscardHandler)
