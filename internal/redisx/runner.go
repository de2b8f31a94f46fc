package redisx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/script"
)

// ScriptError is an error reply from a script: one of our codes raised with
// redis.error_reply, or an error Redis raised while running the script.
// It unwraps to the sentinel the runner's table maps Code to, or, for codes
// outside the table, to the underlying *rueidis.RedisError.
type ScriptError struct {
	Script  string // script name
	Code    string // first word of the reply, e.g. NOT_HELD or WRONGTYPE
	Message string // the rest of the reply
	err     error
}

func (e *ScriptError) Error() string {
	var sentinel *rueidis.RedisError
	if errors.As(e.err, &sentinel) {
		return fmt.Sprintf("redisallocator: script %s failed: %s %s", e.Script, e.Code, e.Message)
	}
	if e.Message == "" {
		return fmt.Sprintf("%v (script %s)", e.err, e.Script)
	}
	return fmt.Sprintf("%v: %s (script %s)", e.err, e.Message, e.Script)
}

func (e *ScriptError) Unwrap() error { return e.err }

// Runner runs scripts for one feature package: it checks the call against
// the script's description and the cluster slot rule, wraps it in a span,
// sends it with EVALSHA (EVAL on NOSCRIPT, EVALSHA_RO for read-only
// scripts) and maps error codes to the package's sentinel errors.
// It is safe for concurrent use.
type Runner struct {
	client rueidis.Client
	prov   *otel.Providers
	errs   map[script.Code]error

	serverOnce sync.Once
	server     otel.Server

	attrs []attribute.KeyValue // added to every script span, see SetSpanAttributes

	// noReadOnly is set once the server refused a read-only script for
	// calling TIME: miniredis does, real Redis does not. Read-only scripts
	// then go out as ordinary EVALSHA on this runner.
	noReadOnly atomic.Bool
}

// miniredisReadOnlyTime is miniredis's refusal of TIME (which it counts as
// a write) inside EVAL_RO/EVALSHA_RO. Our scripts are checked to issue no
// writes, so on real Redis this text never appears.
const miniredisReadOnlyTime = "Write commands are not allowed in read-only scripts"

// NewRunner returns a runner over client. errs maps the script error codes
// the package raises to its sentinel errors; prov may be nil (global
// providers).
func NewRunner(client rueidis.Client, prov *otel.Providers, errs map[script.Code]error) *Runner {
	return &Runner{client: client, prov: prov, errs: errs}
}

// SetSpanAttributes makes every script span of r also carry attrs (such as
// the pool's name), so a trace shows which pool a script ran for. Call it
// before r is used; it is not safe to call concurrently with Run.
func (r *Runner) SetSpanAttributes(attrs ...attribute.KeyValue) { r.attrs = attrs }

// Client returns the client the runner sends to.
func (r *Runner) Client() rueidis.Client { return r.client }

// Providers returns the OpenTelemetry providers the runner reports to.
func (r *Runner) Providers() *otel.Providers { return r.prov }

type luaKey struct {
	s        *script.Script
	readOnly bool
}

var luaCache sync.Map // luaKey -> *rueidis.Lua

func luaFor(s *script.Script, readOnly bool) *rueidis.Lua {
	k := luaKey{s, readOnly}
	if l, ok := luaCache.Load(k); ok {
		return l.(*rueidis.Lua)
	}
	var l *rueidis.Lua
	if readOnly {
		l = rueidis.NewLuaScriptReadOnly(s.Source)
	} else {
		// Not retryable: a write sent twice after a dropped connection
		// could apply twice. Callers decide whether to repeat.
		l = rueidis.NewLuaScript(s.Source)
	}
	actual, _ := luaCache.LoadOrStore(k, l)
	return actual.(*rueidis.Lua)
}

// Run executes s with keys and args and returns its reply. A nil reply (a
// script returning false or nil) is a message whose IsNil is true, not an
// error. Errors:
//   - ErrCrossSlot when the keys span slots (nothing is sent);
//   - the mapped sentinel (inside a *ScriptError) for codes in the table;
//   - a *ScriptError wrapping the *rueidis.RedisError for other replies;
//   - transport errors and ctx errors wrapped with the script name;
//   - for a nil ctx, the table's CodeInvalid sentinel, and for an ended
//     one its error joined with ErrNotSent, before anything is sent.
func (r *Runner) Run(ctx context.Context, s *script.Script, keys, args []string) (rueidis.RedisMessage, error) {
	if ctx == nil {
		return rueidis.RedisMessage{}, fmt.Errorf("script %s: %w", s.Name, CheckContext(ctx, r.errs[script.CodeInvalid]))
	}
	if err := checkCall(s, keys, args); err != nil {
		return rueidis.RedisMessage{}, err
	}
	if err := SameSlot(keys); err != nil {
		return rueidis.RedisMessage{}, fmt.Errorf("script %s: %w", s.Name, err)
	}
	readOnly := s.ReadOnly && !r.noReadOnly.Load()
	tracer := r.prov.Tracer()
	batch, batched := ctx.Value(batchKey{}).(otel.Batch)
	var start time.Time
	var extra []trace.SpanStartOption
	if batched {
		start = time.Now() // the run's and the followers' spans share their times
		extra = append(batch.StartOptions(), trace.WithTimestamp(start))
	}
	ctx, span := otel.StartScript(ctx, tracer, s.Name, readOnly, r.serverInfo(), extra...)
	if len(r.attrs) > 0 && span.IsRecording() {
		span.SetAttributes(r.attrs...)
	}
	// A ctx that has already ended sends nothing (the span still records
	// the timeout or cancellation).
	var msg rueidis.RedisMessage
	err := CheckContext(ctx, nil)
	if err == nil {
		msg, err = luaFor(s, readOnly).Exec(ctx, r.client, keys, args).ToMessage()
	}
	if readOnly && err != nil && strings.Contains(err.Error(), miniredisReadOnlyTime) {
		r.noReadOnly.Store(true)
		msg, err = luaFor(s, false).Exec(ctx, r.client, keys, args).ToMessage()
	}
	if err != nil && rueidis.IsRedisNil(err) {
		err = nil
	}
	var f otel.Failure
	if err != nil {
		f, err = r.mapError(ctx, s, err)
	}
	if batched {
		end := time.Now()
		otel.EndScript(span, err, f, trace.WithTimestamp(end))
		batch.RecordFollowers(tracer, s.Name, readOnly, r.serverInfo(), span.SpanContext(), start, end, err, f, r.attrs...)
	} else {
		otel.EndScript(span, err, f)
	}
	return msg, err
}

type batchKey struct{}

// WithBatch tells Run that the script it runs with ctx serves several
// callers at once, whose spans are callers; ctx's span must be the first.
// The run's span then carries db.operation.batch.size and links to the
// other callers' spans, and each of those callers' traces gets a span of
// its own for the run (see otel.Batch). With fewer than two callers ctx is
// returned as it is.
func WithBatch(ctx context.Context, callers []trace.SpanContext) context.Context {
	if len(callers) < 2 {
		return ctx
	}
	return context.WithValue(ctx, batchKey{}, otel.Batch{Callers: callers})
}

// ForeignContextError reports whether err carries a context error that is
// not ctx's own. rueidis stores one caller's context.DeadlineExceeded or
// Canceled as the error of the pipelined connection it was using
// (pipe.failSync), and every other call in flight there fails with it;
// such a call's ctx is still live. rueidis may notice a deadline a moment
// before ctx.Err() does, so a deadline within deadlineSlack counts as
// ctx's own.
func ForeignContextError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return true
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > deadlineSlack
}

// deadlineSlack: how far ahead of ctx's deadline a DeadlineExceeded from
// rueidis still counts as ctx's own.
const deadlineSlack = 5 * time.Millisecond

func checkCall(s *script.Script, keys, args []string) error {
	if s == nil {
		return errors.New("bug: nil script")
	}
	if len(keys) != len(s.Keys) {
		return fmt.Errorf("bug: script %s takes %d keys, got %d", s.Name, len(s.Keys), len(keys))
	}
	if len(args) < s.MinArgs() || (!s.Variadic() && len(args) != len(s.Args)) {
		return fmt.Errorf("bug: script %s takes %d args, got %d", s.Name, len(s.Args), len(args))
	}
	return nil
}

// mapError turns a failed run into the error callers see and the span's
// failure attributes. This is the one place where script error codes
// become Go errors.
func (r *Runner) mapError(ctx context.Context, s *script.Script, err error) (otel.Failure, error) {
	switch {
	case ForeignContextError(ctx, err):
		// Not this caller's deadline or cancellation: the shared
		// connection failed. Reported without the context error, so that
		// callers do not mistake it for their own timeout.
		return otel.Failure{ErrorType: "_OTHER"}, fmt.Errorf("redisallocator: script %s: connection failed under another call (%s)", s.Name, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return otel.Failure{ErrorType: "timeout"}, fmt.Errorf("redisallocator: script %s: %w", s.Name, err)
	case errors.Is(err, context.Canceled):
		return otel.Failure{ErrorType: "canceled"}, fmt.Errorf("redisallocator: script %s: %w", s.Name, err)
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		code, msg := splitCode(re.Error())
		se := &ScriptError{Script: s.Name, Code: code, Message: msg, err: re}
		if sentinel, ok := r.errs[script.Code(code)]; ok {
			se.err = sentinel
		} else if sentinel, ok := r.errs[script.CodeCorrupt]; ok && code == wrongType {
			// Redis refused a command for a key's type where no check
			// of ours came first: hostile state all the same.
			se.err = sentinel
		}
		return otel.Failure{ErrorType: code, StatusCode: code}, se
	}
	f := otel.Failure{ErrorType: "_OTHER"}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		f.ErrorType = "timeout"
	}
	return f, fmt.Errorf("redisallocator: script %s: %w", s.Name, err)
}

// wrongType is the code of Redis's reply to a command on a key of another type.
const wrongType = "WRONGTYPE"

// miniredisWrapped finds the Redis error inside miniredis's Lua error text,
// "Error compiling script (new function): :4: WRONGTYPE Operation ...".
var miniredisWrapped = regexp.MustCompile(`^Error compiling script [^:]*: :\d+: ([A-Z][A-Z_]+) (.*)$`)

// raisedCorrupt finds a CORRUPT error a script raised with error() (see
// corrupt in lua/lib/common.lua) in the text around it: Redis 7 replies
// "CORRUPT <key> <why> script: <sha>, on @user_script:<line>." (redis-cli
// shows an "ERR " before it), miniredis
// "Error compiling script (new function): CORRUPT <key> <why> stack traceback: ...".
var raisedCorrupt = regexp.MustCompile(`(?s)^(?:ERR |Error compiling script [^:]*: )?CORRUPT (.*?)(?: script: [0-9a-f]+, on @user_script:\d+\.| stack traceback:.*)?$`)

// splitCode splits an error reply into its code (first word) and message.
func splitCode(reply string) (code, msg string) {
	if m := raisedCorrupt.FindStringSubmatch(reply); m != nil {
		return string(script.CodeCorrupt), strings.TrimSpace(m[1])
	}
	if m := miniredisWrapped.FindStringSubmatch(reply); m != nil {
		return m[1], m[2]
	}
	code, msg, _ = strings.Cut(reply, " ")
	return code, msg
}

// serverInfo names the node for spans when the client has exactly one;
// for a cluster the node of each call is not known to us.
func (r *Runner) serverInfo() otel.Server {
	r.serverOnce.Do(func() {
		nodes := r.client.Nodes()
		if len(nodes) != 1 {
			return
		}
		for addr := range nodes {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				r.server = otel.Server{Address: addr}
				return
			}
			p, _ := strconv.Atoi(port)
			r.server = otel.Server{Address: host, Port: p}
		}
	})
	return r.server
}
