// Package task is a typed distributed task queue on Redis: a caller submits
// a task by id with params of type P to a queue bound to one name, and
// waits for a result of type R, computed in its own process or by a worker
// anywhere that runs the same queue. It is the Go form of the Python RedisTaskQueue, with its execution
// policies and without its defects (lost results after progress updates, a
// nil result that never completes, tasks lost with their worker, a broken
// LocalFirst fallback, RemoteFirst running tasks twice, a stale Auto flag).
//
//	q, err := task.New[Resize, Thumb](client, "myapp", "thumbs")
//	// a caller: run it wherever a worker is, else here
//	err = q.HandleLocally(resize)
//	th, err := q.Query(ctx, "img-42", Resize{URL: u}, task.Timeout(time.Minute))
//	var he *task.HandlerError
//	if errors.As(err, &he) { log.Print(he.Kind, he.Message) }
//	// a worker process
//	err = q.Run(ctx, resize, task.Workers(32))
//
// The handler is given where it runs: to [Queue.Run] in workers and to
// [Queue.HandleLocally] for local runs, both typed, so a handler of other
// types does not compile. The name is given once, to [New].
//
// # Policies
//
// Query runs a task where a routing option says (auto without one):
//
//   - [Local] runs the handler in the calling goroutine; Redis is not used.
//   - [Remote] queues the task and waits for a worker.
//   - [LocalFirst] runs locally; on failure or timeout it queues a clean task
//     once and waits for the remote outcome.
//   - [RemoteFirst] queues the task; it runs locally only after the remote run
//     failed for good, or when the wait timed out and the task, still
//     pending, was withdrawn from the queue. A task running remotely when
//     the wait times out is never run locally too.
//   - auto (no routing option) runs remotely while a live worker (fresh heartbeat) runs the
//     queue, else locally. The check and the enqueue are one script.
//
// Submit queues a task and returns a [Handle] to Wait for the outcome, read
// or wait for progress, or Cancel; the enqueue registers the caller as a
// waiter, so Submit and Wait cost the round trips of one Query.
// [Queue.Handle] attaches to a task submitted elsewhere. An [Inspector]
// is the operators' view and needs no types: [Inspector.Stats], tasks by
// state with [Inspector.List] (cursor paging), one task with
// [Inspector.Info], [Inspector.Cancel], [Inspector.Delete],
// [Inspector.Requeue] and [Inspector.RunNow], and [Inspector.Pause] and
// [Inspector.Resume] (workers stop and restart claiming; submitters keep
// queueing; [Inspector.Paused] reads the flag).
//
// # Periodic tasks
//
// [Queue.Schedule] stores a schedule in Redis: params queued at every time
// of a cron spec ("0 3 * * *", in UTC unless "TZ=Zone " says) or interval
// ("@every 90s"). Every process that runs [Queue.RunSchedules] takes part,
// and each planned run is taken by one of them and queued in the same
// atomic step as the task "<name>@<planned run in Unix ms>".
// [Inspector.Schedules] lists the schedules with their next and last runs,
// [Inspector.Unschedule] removes them.
//
// # Shapes
//
// Nothing in Redis says which Go types a queue carries, so each Queue sends
// a fingerprint of the structure of P and R and of its codec's name with
// every enqueue and claim. The first worker (or, before any, the first
// submitter) records it for the name; a Queue of another shape gets
// [ErrShape] from Submit, Query and Run at once and writes nothing, where it
// used to run handlers on zero values. Field names, tags and types count,
// the Go package path does not, so two programs declaring the same struct
// interoperate. A Run started while no worker is live records its own
// shape (a deploy that changes the types); a task still queued under the
// old shape then fails with kind "shape" when a worker claims it, instead
// of running on zero values. Queue[any, any] checks nothing.
//
// # Delivery and reliability
//
//   - At least once: a worker claims a task under a lease that its
//     heartbeat renews every Heartbeat while the handler runs. A task whose
//     lease lapses, or whose worker misses five heartbeats, goes back to the
//     queue; after MaxAttempts attempts (handler errors and lost workers
//     both count) it fails with kind "lost". Callers see one outcome per
//     task: a late worker's result is refused once another holds the task.
//   - Cut-off workers stop first: the worker's liveness is a lease kept
//     with the module's one lease rule (counted from the send time of its
//     last answered heartbeat, ending a drift margin early), and a worker
//     that cannot renew it ends its handlers ([ErrLost]) two heartbeats
//     before Redis could give their tasks to another worker.
//     [Task.Valid] reads that deadline from the clock: call it right
//     before acting on an external resource.
//   - Retries: a handler error is retried after the queue's backoff while
//     attempts remain and the retry would start before the deadline, unless
//     it wraps ErrSkipRetry. Failed tasks go to the dead-letter set
//     ([Inspector.DeadLetters]) and come back with [Inspector.Requeue].
//   - Scheduling: Delay makes a task due later; Priority orders due
//     tasks (higher first, then submission order).
//   - Deduplication: submitting an id that is pending or running joins that
//     task (the span attribute task.joined says so); a finished id is run again.
//   - Deadlines: Timeout counts from when the task is due. It is the
//     handler's ctx deadline, the caller's wait and the point after which no
//     worker starts the task (it then fails as a timeout). The outcome is
//     final at the deadline: a handler that returns later is recorded as a
//     timeout, so the caller whose wait ended with ErrTimeout and every
//     later Wait or Inspector.Info agree.
//   - Cancellation: Handle.Cancel ends a pending task at once and cancels a
//     running handler's ctx (cause ErrCanceled) at the worker's next
//     heartbeat, or at its next Task.Update.
//   - Retention (WithRetention): a finished record stays readable for the
//     finished retention, and never less than until the task's deadline;
//     an unfinished one lives until its deadline plus that retention;
//     failed ones stay in the dead-letter set for the failed retention.
//     Once deletes a record when its outcome is read.
//   - Wake-ups: the script that finishes a task or records progress pushes
//     a token to every waiting caller's list; an enqueue wakes an idle
//     worker the same way. Blocking waits also end every 2 s, only as a
//     safety net for a lost wake-up.
//   - Tracing: the submitter's span context travels in the task (W3C
//     traceparent); the worker's task.claim and task.run spans are children
//     of the task.submit span, so one trace shows submit, claim, run and the
//     script that stores the result.
//   - Metrics (WithMeterProvider): tasks submitted, runs and their
//     durations by where and outcome (succeeded, retried, dead, ...), the
//     time tasks waited in the queue, and tasks housekeeping ended, each with
//     the queue's name as redisallocator.queue.name; queue depth by state
//     and live workers after [Queue.RegisterMetrics]. docs/metrics.md in the repository
//     lists every metric of the module.
//   - Graceful shutdown: when Run's ctx ends it stops claiming, waits up
//     to Grace for running handlers, then cancels them (a cause matching ErrLost);
//     a task whose handler returns an error then goes back to the queue
//     without using up an attempt.
//
// # Durability
//
// A task is its record in Redis, as durable as Redis makes its writes (the
// package never calls WAIT): a crash loses nothing acknowledged with
// appendfsync always, about the last second with everysec, everything
// without persistence, and a failover (Sentinel, Cluster) loses what the
// replica had not received. A lost enqueue makes Wait report ErrNotFound;
// a lost claim puts the task back, and another worker runs it while the
// first may still be running it; a lost outcome leaves the task running on
// the server, so after its claim lapses another worker runs it again. The
// scripts check the claim's token, so the record holds one outcome and a
// superseded worker cannot write one; but a caller that already received
// an outcome keeps it, and a later Wait may report the rerun's. Make
// handlers' side effects idempotent, or fence them with a pool or lock
// lease. Deadlines, retention and worker liveness follow the server's
// clock: stepped forward, tasks time out and workers count as dead early;
// stepped back, later. Client clock steps change nothing.
// docs/durability.md in the repository has the details.
//
// # Data model
//
// Each queue name has eleven keys sharing the hash tag
// {queue:<name>}, so a queue lives in one Redis Cluster slot and every state
// change is one Lua script (task_enqueue, task_claim, task_heartbeat,
// task_progress, task_finish, task_read, task_cancel, task_requeue and the
// read-only task_inspect):
//
//	<prefix>:{queue:<name>}:ready    zset  due tasks: (2047 - priority) * 2^41 + submission sequence
//	<prefix>:{queue:<name>}:delayed  zset  delayed tasks and retries in backoff, by due time
//	<prefix>:{queue:<name>}:running  zset  claimed tasks, by lease deadline
//	<prefix>:{queue:<name>}:dead     zset  the dead-letter set, by failure time
//	<prefix>:{queue:<name>}:expiry   zset  every record, by when it is deleted
//	<prefix>:{queue:<name>}:data     hash  per task: meta record, params, result, error, progress, trace context and timeout; the shape
//	<prefix>:{queue:<name>}:waiters  zset  "<id>\0<token>": callers blocked on a task
//	<prefix>:{queue:<name>}:owned    zset  "<worker>\0<id>": running tasks by worker
//	<prefix>:{queue:<name>}:workers  zset  the live-worker registry: worker id -> heartbeat deadline
//	<prefix>:{queue:<name>}:idle     zset  idle workers waiting for a wake-up
//	<prefix>:{queue:<name>}:wake     list  wake-up tokens for idle workers
//	<prefix>:{queue:<name>}:n:<id>   list  wake-up tokens for the callers of one task (short-lived)
//
// Times are the Redis server's clock; payloads are opaque to the scripts, so
// any codec works (WithCodec, default codec.CBOR). Enqueue and claim handle a
// few expired records, due delayed tasks and lost workers first, so no
// background janitor is needed.
//
// Worker liveness: the workers set holds one entry per Run call,
// scored by its heartbeat deadline, refreshed by the worker's lease keeper
// independently of the handlers. A worker whose entry
// is removed or lapses counts as dead at once, and its tasks go back to the
// queue at the next claim; WorkerID lets Run register under a session id.
//
// # Options
//
// New takes Options, named With… (codec, providers, default timeout,
// retention, attempts, backoff); Query and Submit take
// QueryOptions, bare names (Local, Remote, LocalFirst, RemoteFirst, Timeout, Once, Priority, Delay,
// MaxAttempts, NoWait); Run takes RunOptions (Workers, Grace, Heartbeat,
// WorkerID, OnError). Each option's doc states its default. A zero duration
// or count means the default, except Grace(0), which cancels running
// handlers at once; negative or out-of-range values are refused with an
// [ErrInvalid] error, in one place per option type.
//
// # Errors
//
// Outcomes: a *HandlerError (matching ErrHandler) carries the handler's
// message and kind for failed tasks: a word the handler chose with
// [Classify], "error" when it chose none, or the queue's own "panic",
// "decode", "encode" and "lost". ErrTimeout, ErrCanceled and ErrQueue
// (Redis failed: the outcome is unknown) tell the other endings apart;
// every outcome error matches exactly one of the four; a timeout while no
// worker is registered on the queue also matches ErrNoWorker. ErrNotFound,
// ErrFinished and ErrLost describe tasks and claims; ErrShape
// a queue used with the wrong types. Bad input (empty ids or names, params
// the codec cannot encode, options out of range, a missing handler)
// returns errors matching ErrInvalid and writes nothing.
// redisallocator.ErrCorrupt reports hostile state in Redis (a queue key of
// the wrong type; a task record, progress record, reader count or enqueue
// sequence that does not parse), found before anything was written; the
// message names the key and the field. The error of a Query or Wait also
// matches ErrQueue (the outcome is unknown). Inspector.Stats does not fail
// on a key of the wrong type: it counts it 0 and names it in Stats.Corrupt;
// Info and DeadLetters answer ErrCorrupt for a record that does not parse.
// A call that gives up because its ctx ended returns an error matching
// ctx.Err().
//
// # Concurrency
//
// A Queue, its handles and an Inspector are safe for concurrent use. Run
// runs its workers, heartbeat and fetchers in goroutines it stops before
// returning; Query and Wait block only the calling goroutine.
package task
