package task

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// scheduleSuffix names the hash of a queue's schedules (same hash tag as
// the queue's other keys).
const scheduleSuffix = "schedules"

// schedulePoll bounds how long RunSchedules sleeps, so that it sees new
// and removed schedules.
const schedulePoll = time.Second

// Schedule is a periodic task of a queue: [Queue.Schedule] stores it,
// [Queue.RunSchedules] queues its runs, [Inspector.Schedules] lists it and
// [Inspector.Unschedule] removes it.
type Schedule struct {
	// Name identifies the schedule within the queue; each run is queued as
	// the task "<Name>@<planned run in Unix ms>".
	Name string `json:"name"`
	// Spec is the cron expression (five fields, or a descriptor such as
	// "@hourly" or "@every 90s"; see [Queue.Schedule]).
	Spec string `json:"spec"`
	// Next is the next planned run; Last the last run queued (zero before
	// the first). Server clock.
	Next time.Time `json:"next"`
	Last time.Time `json:"last"`
	// Priority, Timeout and MaxAttempts are the options each run is queued
	// with.
	Priority    int           `json:"priority"`
	Timeout     time.Duration `json:"timeout"`
	MaxAttempts int           `json:"max_attempts"`
}

// parseSpec parses a cron expression: five fields (minute, hour, day of
// month, month, day of week; UTC unless a "TZ=Zone " prefix says), or a
// descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every <duration>).
func parseSpec(spec string) (cron.Schedule, error) {
	if strings.ContainsAny(spec, "\n\r") {
		return nil, fmt.Errorf("%w: schedule spec %q has a line break", ErrInvalid, spec)
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		// The parser makes anything under a second (negative too) one
		// second; refuse it instead.
		if v, err := time.ParseDuration(d); err == nil && v < time.Second {
			return nil, fmt.Errorf("%w: schedule spec %q: interval under one second", ErrInvalid, spec)
		}
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule spec %q: %w", ErrInvalid, spec, err)
	}
	return s, nil
}

func checkScheduleName(name string) error {
	if err := redisx.ValidateMember("schedule name", name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// scheduleKeys are the keys of task_schedule: the queue's, then the
// schedules hash.
func (c *core) scheduleKeys() []string {
	return append(slices.Clip(c.keys.keys), c.keys.ns.Key(scheduleSuffix))
}

// Schedule stores the periodic task name of the queue: a task with params
// queued at every time spec gives, by whichever process runs
// [Queue.RunSchedules] (any number may run; each run is queued once). spec
// is a cron expression of five fields (minute hour day-of-month month
// day-of-week, "*/15 9-17 * * MON-FRI") read in UTC, or in the zone of a
// "TZ=Europe/Paris " prefix (every scheduler then agrees whatever its
// local zone), or a descriptor: @yearly, @monthly, @weekly, @daily,
// @hourly or "@every 90s" (a fixed interval). Options: Timeout, Priority,
// MaxAttempts (others give an [ErrInvalid] error).
//
// Storing a schedule again replaces its params and options; with the
// same spec it keeps its next planned run, with another the next run is
// planned from now (by this process's clock). A bad name, spec or option,
// or params the codec cannot encode, give an [ErrInvalid] error and write
// nothing. Redis failures match [ErrQueue].
func (q *Queue[P, R]) Schedule(ctx context.Context, name, spec string, params P, opts ...QueryOption) error {
	c := q.c
	if err := checkScheduleName(name); err != nil {
		return err
	}
	s, err := parseSpec(spec)
	if err != nil {
		return err
	}
	qc, err := c.newQueryConfig(opts)
	if err != nil {
		return err
	}
	if qc.policySet || qc.delay != 0 || qc.noWait || qc.once {
		return fmt.Errorf("%w: task %s: schedule %s takes only Timeout, Priority and MaxAttempts", ErrInvalid, c.name, name)
	}
	payload, err := c.cfg.codec.Marshal(params)
	if err != nil {
		return fmt.Errorf("%w: task %s: schedule %s: params: %w", ErrInvalid, c.name, name, err)
	}
	next := s.Next(time.Now().UTC())
	if next.IsZero() {
		return fmt.Errorf("%w: schedule spec %q never runs", ErrInvalid, spec)
	}
	args := []string{
		"add", name, spec, strconv.FormatInt(next.UnixMilli(), 10), strconv.Itoa(qc.priority),
		roundMS(qc.timeout), strconv.Itoa(qc.maxAttempts), string(payload),
	}
	if _, err := c.runScript(ctx, script.TaskSchedule, c.scheduleKeys(), args); err != nil {
		return fmt.Errorf("task %s: schedule %s: %w", c.name, name, err)
	}
	return nil
}

// scheduleRec is a parsed schedule record (see task_schedule.lua).
type scheduleRec struct {
	Schedule
	next int64
}

func parseSchedule(name, rec string) (scheduleRec, error) {
	head, rest, ok1 := strings.Cut(rec, "\n")
	spec, _, ok2 := strings.Cut(rest, "\n")
	f := strings.Split(head, " ")
	if !ok1 || !ok2 || len(f) != 5 || spec == "" {
		return scheduleRec{}, fmt.Errorf("malformed schedule record %q", rec)
	}
	var n [5]int64
	for i, s := range f {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return scheduleRec{}, fmt.Errorf("malformed schedule record %q", rec)
		}
		n[i] = v
	}
	return scheduleRec{
		Schedule: Schedule{
			Name: name, Spec: spec, Next: msTime(n[0]), Last: msTime(n[1]),
			Priority: int(n[2]), Timeout: time.Duration(n[3]) * time.Millisecond, MaxAttempts: int(n[4]),
		},
		next: n[0],
	}, nil
}

// schedules reads every schedule of the queue and the server time (ms).
func (c *core) schedules(ctx context.Context) ([]scheduleRec, int64, error) {
	msg, err := c.runScript(ctx, script.TaskSchedule, c.scheduleKeys(), []string{"list"})
	if err != nil {
		return nil, 0, fmt.Errorf("task %s: schedules: %w", c.name, err)
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr)%2 != 1 {
		return nil, 0, badReply("task "+c.name+": schedules", err)
	}
	now, err := arr[0].AsInt64()
	if err != nil {
		return nil, 0, badReply("task "+c.name+": schedules", err)
	}
	out := make([]scheduleRec, 0, len(arr)/2)
	for j := 1; j < len(arr); j += 2 {
		name, err1 := arr[j].ToString()
		rec, err2 := arr[j+1].ToString()
		if err := errors.Join(err1, err2); err != nil {
			return nil, 0, badReply("task "+c.name+": schedules", err)
		}
		r, err := parseSchedule(name, rec)
		if err != nil {
			return nil, 0, fmt.Errorf("task %s: schedules: %w: %s field %s: %w", c.name, redisx.ErrCorrupt, c.keys.ns.Key(scheduleSuffix), name, err)
		}
		out = append(out, r)
	}
	return out, now, nil
}

// Schedules lists the queue's schedules, by name. A record that does not
// parse, or a schedules key of the wrong type, gives an error matching
// redisallocator.ErrCorrupt. Redis failures match [ErrQueue].
func (i *Inspector) Schedules(ctx context.Context) ([]Schedule, error) {
	recs, _, err := i.c.schedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Schedule, len(recs))
	for j, r := range recs {
		out[j] = r.Schedule
	}
	slices.SortFunc(out, func(a, b Schedule) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Unschedule removes the named schedules and returns how many existed;
// runs already queued stay. A bad name gives an [ErrInvalid] error and
// removes none.
func (i *Inspector) Unschedule(ctx context.Context, names ...string) (int, error) {
	c := i.c
	if len(names) == 0 {
		return 0, nil
	}
	if len(names) > maxIDs {
		return 0, fmt.Errorf("%w: %d names in one call, at most %d", ErrInvalid, len(names), maxIDs)
	}
	for _, n := range names {
		if err := checkScheduleName(n); err != nil {
			return 0, err
		}
	}
	msg, err := c.runScript(ctx, script.TaskSchedule, c.scheduleKeys(), append([]string{"remove"}, names...))
	if err != nil {
		return 0, fmt.Errorf("task %s: unschedule: %w", c.name, err)
	}
	n, err := msg.AsInt64()
	if err != nil {
		return 0, badReply("task "+c.name+": unschedule", err)
	}
	return int(n), nil
}

// RunSchedules queues the runs of the queue's schedules until ctx ends,
// then returns nil. Any number of processes may run it: each planned run
// is taken by exactly one of them and queued in the same atomic step (a
// compare-and-set of the schedule's next run in Redis), as the task
// "<name>@<planned run in Unix ms>" with the schedule's params and options
// (while a task with that id is pending or running, nothing more is queued). Runs
// missed while no scheduler ran (or Redis was unreachable) are not made
// up: the first tick after them queues one run and plans the next from
// the server's clock.
//
// It reads the schedules at least every second, so schedules stored or
// removed meanwhile take effect within a second. Errors it recovers from
// (Redis unreachable, a schedule that does not parse, a queue of another
// shape, hostile state) go to onError when it is not nil, and it goes on.
// A nil ctx returns an [ErrInvalid] error.
func (q *Queue[P, R]) RunSchedules(ctx context.Context, onError func(error)) error {
	c := q.c
	if ctx == nil {
		return fmt.Errorf("%w: task %s: run schedules: nil context", ErrInvalid, c.name)
	}
	report := func(err error) {
		if onError != nil && ctx.Err() == nil {
			onError(err)
		}
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		wait := schedulePoll
		recs, now, err := c.schedules(ctx)
		if err != nil {
			report(err)
		}
		for _, r := range recs {
			d, _, err := c.tick(ctx, r, now)
			if err != nil {
				report(err)
				continue
			}
			if d < wait {
				wait = d
			}
		}
		t.Reset(max(wait, time.Millisecond))
	}
}

// tick queues r's run when it is due at now (server ms) and this process
// takes it; it returns how long until r's next run and whether it took
// this one.
func (c *core) tick(ctx context.Context, r scheduleRec, now int64) (time.Duration, bool, error) {
	if r.next > now {
		return time.Duration(r.next-now) * time.Millisecond, false, nil
	}
	s, err := parseSpec(r.Spec)
	if err != nil {
		return schedulePoll, false, fmt.Errorf("task %s: schedule %s: %w", c.name, r.Name, err)
	}
	after := s.Next(time.UnixMilli(now).UTC()).UnixMilli()
	if after <= now {
		after = now + 1
	}
	args := []string{
		"tick", r.Name, strconv.FormatInt(r.next, 10), strconv.FormatInt(after, 10),
		roundMS(c.cfg.retention), roundMS(c.cfg.keep), c.shape,
	}
	msg, err := c.runScript(ctx, script.TaskSchedule, c.scheduleKeys(), args)
	if err != nil {
		return schedulePoll, false, fmt.Errorf("task %s: schedule %s: tick: %w", c.name, r.Name, err)
	}
	wait := time.Duration(after-now) * time.Millisecond
	if msg.IsNil() {
		return wait, false, nil // another scheduler took this run
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 2 {
		return wait, false, badReply("task "+c.name+": schedule "+r.Name+": tick", err)
	}
	if queued, _ := arr[0].AsInt64(); queued == 1 {
		c.inst.submitted(ctx, c.name)
	}
	return wait, true, nil
}
