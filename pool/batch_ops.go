package pool

import (
	"context"
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
	msg, err := c.runFast(ctx, script.PoolMallocFast, c.mallocFastKeys, script.PoolMallocMany, args)
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err != nil || len(arr) != gcCounts+grantWidth*len(reqs) {
		return nil, fmt.Errorf("pool %s: malloc: unexpected reply: %w", c.name, err)
	}
	c.lazyGC(ctx, arr[:gcCounts])
	out := make([]mallocRes, len(reqs))
	for i, r := range reqs {
		l, v, err := c.parseGrant(arr[gcCounts+grantWidth*i:], r.token, r.start, r.mc)
		if err != nil {
			// What was granted before the bad entry goes back.
			for _, g := range out[:i] {
				if g.lease != nil {
					c.giveBack(ctx, []*Lease{g.lease}, "")
				}
			}
			return nil, err
		}
		out[i] = mallocRes{lease: l, value: v}
	}
	return out, nil
}

// freeMany serves a batch of single frees with one pool_free.
func (c *core) freeMany(ctx context.Context, reqs [][2]string) ([]int64, error) {
	args := make([]string, 0, 2*len(reqs))
	for _, r := range reqs {
		args = append(args, r[0], r[1])
	}
	msg, err := c.runFast(ctx, script.PoolFreeFast, c.freeFastKeys, script.PoolFree, args)
	if err != nil {
		return nil, err
	}
	codes, err := msg.AsIntSlice()
	if err != nil || len(codes) != len(reqs) {
		return nil, fmt.Errorf("pool %s: free: unexpected reply: %w", c.name, err)
	}
	return codes, nil
}
