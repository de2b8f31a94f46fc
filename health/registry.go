package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/otel"
	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

// Registry is the operators' view of one group's sessions, and its reaper:
// [Registry.Workers] lists them, [Registry.Reap] and [Registry.RunReaper]
// remove dead ones. It is safe for concurrent use and starts no goroutine
// (RunReaper runs in the caller's).
type Registry struct {
	group string
	run   *redisx.Runner
	keys  []string
	cfg   registryConfig
	cnt   *counters
}

// NewRegistry opens prefix's group (WithGroup) for listing and reaping. It
// writes nothing. Errors match ErrInvalid for bad input (a bad prefix or
// group also matches redisallocator.ErrInvalidName).
func NewRegistry(client rueidis.Client, prefix string, opts ...RegistryOption) (*Registry, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalid)
	}
	cfg, err := newRegistryConfig(opts)
	if err != nil {
		return nil, err
	}
	keys, err := groupKeys(prefix, cfg.group)
	if err != nil {
		return nil, err
	}
	prov := otel.NewProviders(cfg.tp, cfg.mp)
	return &Registry{group: cfg.group, run: redisx.NewRunner(client, prov, scriptErrors), keys: keys, cfg: cfg, cnt: newCounters(prov)}, nil
}

func (r *Registry) worker(id, meta string, deadlineMS int64, now int64) Worker {
	w := Worker{ID: id, Group: r.group, Deadline: time.UnixMilli(deadlineMS), Alive: deadlineMS > now}
	var m workerMeta
	if json.Unmarshal([]byte(meta), &m) == nil {
		w.Host, w.PID, w.Started, w.Labels = m.Host, m.PID, m.Started, m.Labels
		w.Interval = time.Duration(m.IntervalMS) * time.Millisecond
		w.Timeout = time.Duration(m.TimeoutMS) * time.Millisecond
	}
	return w
}

// Workers lists every registered session, live and dead, sorted by id,
// read atomically.
func (r *Registry) Workers(ctx context.Context) ([]Worker, error) {
	msg, err := r.run.Run(ctx, script.HealthList, r.keys, nil)
	if err != nil {
		return nil, fmt.Errorf("health: list workers: %w", err)
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 3 {
		return nil, fmt.Errorf("health: list workers: unexpected reply: %w", err)
	}
	now, _ := arr[0].AsInt64()
	scores, err1 := arr[1].AsStrSlice()
	metas, err2 := arr[2].AsStrMap()
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("health: list workers: unexpected reply: %w", errors.Join(err1, err2))
	}
	out := make([]Worker, 0, len(scores)/2)
	for i := 0; i+1 < len(scores); i += 2 {
		d, _ := strconv.ParseFloat(scores[i+1], 64)
		out = append(out, r.worker(scores[i], metas[scores[i]], int64(d), now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Reap removes up to 1000 sessions whose heartbeat deadline passed more
// than grace ago, reports each as a WorkerDied event and returns them.
// Pools reclaim the dead sessions' leases on their own (next malloc or GC).
func (r *Registry) Reap(ctx context.Context, grace time.Duration) ([]Worker, error) {
	if grace < 0 {
		return nil, fmt.Errorf("%w: grace %v is negative", ErrInvalid, grace)
	}
	msg, err := r.run.Run(ctx, script.HealthReap, r.keys, []string{ms(grace), "1000"})
	if err != nil {
		return nil, fmt.Errorf("health: reap: %w", err)
	}
	ss, err := msg.AsStrSlice()
	if err != nil || len(ss)%3 != 0 {
		return nil, fmt.Errorf("health: reap: unexpected reply: %w", err)
	}
	var out []Worker
	for i := 0; i < len(ss); i += 3 {
		d, _ := strconv.ParseFloat(ss[i+2], 64)
		w := r.worker(ss[i], ss[i+1], int64(d), 0)
		w.Alive = false
		out = append(out, w)
		r.cnt.event(ctx, Event{Kind: WorkerDied, Key: w.ID, Worker: &w}, r.cfg.events)
	}
	return out, nil
}

// RunReaper reaps every interval, with the grace of [WithReaper], until
// ctx ends, then returns ctx's error. Reap errors go to WithErrorFunc and
// do not stop the loop.
func (r *Registry) RunReaper(ctx context.Context) error {
	if err := checkCtx(ctx); err != nil {
		return fmt.Errorf("health: reaper: %w", err)
	}
	t := time.NewTicker(r.cfg.reapEvery)
	defer t.Stop()
	for {
		if _, err := r.Reap(ctx, r.cfg.reapGrace); err != nil && r.cfg.onErr != nil && ctx.Err() == nil {
			r.cfg.onErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
