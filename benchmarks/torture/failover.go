package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// replicaSyncTimeout bounds how long a new replica may take to finish its
// first sync through the delayed link.
const replicaSyncTimeout = 60 * time.Second

// startReplica starts a replica of the current master (--replicaof) in a
// new directory, following it through the lag proxy, whose latency toxic
// delays the replication stream by -replica-lag: the replica is always
// that far behind, so a failover to it loses the master's last writes,
// as a failover to a replica that lags does.
func (c *controller) startReplica(ctx context.Context) error {
	if c.lag == nil {
		var err error
		if c.lag, err = newProxy(c.redis.addr()); err != nil {
			return err
		}
		if lag := c.cfg.ReplicaLag.Milliseconds(); lag > 0 {
			if err := c.lag.addToxic("lag", "latency", "downstream", fmt.Sprintf(`{"latency":%d,"jitter":0}`, lag)); err != nil {
				return err
			}
		}
	} else {
		c.lag.disable()
		c.lag.setUpstream(c.redis.addr())
		if err := c.lag.enable(); err != nil {
			return err
		}
	}
	host, port, _ := strings.Cut(c.lag.addr(), ":")
	c.replicas++
	r, err := startRedis(c.cfg.RedisBin, filepath.Join(c.dir, fmt.Sprintf("replica%d", c.replicas)), c.cfg.appendFsync(),
		"--replicaof", host, port)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	c.replica = r
	return c.waitReplicaSynced(ctx)
}

// waitReplicaSynced waits until the replica has finished its first sync
// and follows the master: a replica promoted before that would come up
// empty, which is not a lagging replica but a lost dataset.
func (c *controller) waitReplicaSynced(ctx context.Context) error {
	deadline := time.Now().Add(replicaSyncTimeout)
	for {
		link, err := infoField(c.replica.addr(), "replication", "master_link_status")
		if err == nil && link == "up" {
			if syncing, err := infoField(c.replica.addr(), "replication", "master_sync_in_progress"); err == nil && syncing == "0" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("master_link_status %q", link)
			}
			return fmt.Errorf("replica %s not in sync after %v: %w", c.replica.addr(), replicaSyncTimeout, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// failover is restart n with -failover: the workers are cut off, the
// master SIGKILLed at once (what it had not sent the replica yet is
// lost), the replica promoted with REPLICAOF NO ONE, the workers' and the
// controller's proxies moved to it, and a new replica started. The pool
// and the queue are not compared before and after (acknowledged writes are
// lost by design); the ledger checks prove that fences still never go
// back.
func (c *controller) failover(ctx context.Context, n int) error {
	if err := c.waitReplicaSynced(ctx); err != nil {
		return err
	}
	start := time.Now()
	c.px.disable()
	c.ctl.disable()
	c.mu.Lock()
	c.lossy = true // snapshots may see the stored counter lower from now on
	c.mu.Unlock()
	old := c.redis
	masterOff, _ := infoField(old.addr(), "replication", "master_repl_offset")
	old.crash()
	replicaOff, _ := infoField(c.replica.addr(), "replication", "master_repl_offset")
	var err error
	for try := 0; try < 50; try++ { // a replica still loading answers LOADING
		if _, err = command(c.replica.addr(), "REPLICAOF", "NO", "ONE"); err == nil {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("promote replica: %w", err)
	}
	c.redis, c.replica = c.replica, nil
	c.px.setUpstream(c.redis.addr())
	c.ctl.setUpstream(c.redis.addr())
	errs := []error{c.px.enable(), c.ctl.enable()}
	c.mu.Lock()
	c.downtimes = append(c.downtimes, [2]time.Time{start, time.Now()})
	c.sum.Restarts = n
	c.sum.Failovers++
	c.sum.Lost.Restarts++
	behind := int64(0)
	mo, e1 := strconv.ParseInt(masterOff, 10, 64)
	ro, e2 := strconv.ParseInt(replicaOff, 10, 64)
	if e1 == nil && e2 == nil && mo > ro {
		behind = mo - ro
		c.sum.Lost.ReplicationBytes += behind
	}
	c.lossyDone = time.Now()
	c.mu.Unlock()
	c.logf("failover %d in %v: master %s killed (offset %s), replica %s promoted (offset %s, %d bytes behind)",
		n, time.Since(start).Round(time.Millisecond), old.addr(), masterOff, c.redis.addr(), replicaOff, behind)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.startReplica(ctx)
}
