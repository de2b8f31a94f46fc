package pool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redisallocator/redisallocator/internal/script"
)

// batchMax bounds the calls one batched script serves, so one run never
// blocks Redis for long.
const batchMax = 256

type mallocReq struct {
	token string
	ttl   string
	start time.Time
	mc    mallocConfig
}

type mallocRes struct {
	lease *Lease // nil: nothing was free
	value []byte
}

// simpleMalloc reports whether a malloc can share a batch: one exclusive
// member with nothing but a lease TTL and keep-alive asked for.
func (c *core) simpleMalloc(n int, mc mallocConfig) bool {
	return n == 1 && !c.cfg.shared && mc.bindName == "" && !mc.wait && mc.session == nil && mc.member == ""
}

// mallocMany serves a batch of simple mallocs with one pool_malloc_many.
func (c *core) mallocMany(ctx context.Context, reqs []mallocReq) ([]mallocRes, error) {
	args := make([]string, 1, 1+2*len(reqs))
	args[0] = strconv.Itoa(c.cfg.budget)
	for _, r := range reqs {
		args = append(args, r.token, r.ttl)
	}
	msg, err := c.runScript(ctx, script.PoolMallocMany, args)
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != 4+4*len(reqs) {
		return nil, fmt.Errorf("pool %s: malloc: unexpected reply: %w", c.name, err)
	}
	c.lazyGC(ctx, arr[:4])
	out := make([]mallocRes, len(reqs))
	for i, r := range reqs {
		e := arr[4+4*i:]
		if e[0].IsNil() {
			continue
		}
		key, err1 := e[0].ToString()
		fence, err2 := e[1].AsInt64()
		deadline, err3 := e[2].AsInt64()
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("pool %s: malloc: bad reply: %w", c.name, err)
		}
		if !e[3].IsNil() {
			if out[i].value, err = e[3].AsBytes(); err != nil {
				return nil, fmt.Errorf("pool %s: malloc: bad value: %w", c.name, err)
			}
		}
		out[i].lease = newLease(c, key, r.token, fence, deadline, r.start, r.mc)
	}
	return out, nil
}

// freeMany serves a batch of single frees with one pool_free.
func (c *core) freeMany(ctx context.Context, reqs [][2]string) ([]int64, error) {
	args := make([]string, 0, 2*len(reqs))
	for _, r := range reqs {
		args = append(args, r[0], r[1])
	}
	msg, err := c.runScript(ctx, script.PoolFree, args)
	if err != nil {
		return nil, err
	}
	codes, err := msg.AsIntSlice()
	if err != nil || len(codes) != len(reqs) {
		return nil, fmt.Errorf("pool %s: free: unexpected reply: %w", c.name, err)
	}
	return codes, nil
}
