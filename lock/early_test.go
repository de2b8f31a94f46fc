package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// TestCallsEndingEarlyRunNothing: every call of the lock package with a
// nil ctx returns an ErrInvalid error (no panic), and with an
// already-cancelled ctx the ctx's error; neither runs a script: no lock
// taken or freed, no fence advanced (every key's DUMP is unchanged).
func TestCallsEndingEarlyRunNothing(t *testing.T) {
	t.Parallel()
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		tb := setup(t, b)
		ctx, l := tb.ctx, tb.l
		if ok, err := l.Lock(ctx, "held", "me", time.Hour); !ok || err != nil {
			t.Fatalf("Lock = %v, %v", ok, err)
		}
		if err := l.ForceSet(ctx, "num", "5", time.Hour); err != nil {
			t.Fatal(err)
		}
		m := must(l.Mutex("m", lock.WithTTL(time.Hour))).get(t)
		free := must(l.Mutex("free")).get(t)
		lease := must(m.TryAcquire(ctx)).get(t)
		p := must(lock.NewPool(b.Client, b.Prefix, "p")).get(t)
		if _, err := p.Add(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		err2 := func(_ any, err error) error { return err }
		redisxtest.EndsEarly(t, b, lock.ErrInvalid, map[string]func(ctx context.Context) error{
			"Lock":             func(ctx context.Context) error { return err2(l.Lock(ctx, "k", "me", time.Hour)) },
			"RLock":            func(ctx context.Context) error { return err2(l.RLock(ctx, "k", "me", time.Hour)) },
			"Update":           func(ctx context.Context) error { return l.Update(ctx, "held", "me", time.Minute) },
			"ForceSet":         func(ctx context.Context) error { return l.ForceSet(ctx, "k", "v", time.Hour) },
			"Unlock":           func(ctx context.Context) error { return err2(l.Unlock(ctx, "held", "me")) },
			"ForceUnlock":      func(ctx context.Context) error { return err2(l.ForceUnlock(ctx, "held")) },
			"Info":             func(ctx context.Context) error { return err2(l.Info(ctx, "held")) },
			"Fence":            func(ctx context.Context) error { return err2(l.Fence(ctx, "held")) },
			"CompareAndSet":    func(ctx context.Context) error { return err2(l.CompareAndSet(ctx, "num", lock.OpGT, 9, 9, time.Hour)) },
			"CompareAndDelete": func(ctx context.Context) error { return err2(l.CompareAndDelete(ctx, "num", lock.OpGT, 9)) },
			"TryAcquire":       func(ctx context.Context) error { return err2(free.TryAcquire(ctx)) },
			"Acquire":          func(ctx context.Context) error { return err2(free.Acquire(ctx)) },
			"LeaseRefresh":     func(ctx context.Context) error { return lease.Refresh(ctx) },
			"LeaseRelease":     func(ctx context.Context) error { return lease.Release(ctx) },
			"PoolAdd":          func(ctx context.Context) error { return err2(p.Add(ctx, "y")) },
			"PoolRemove":       func(ctx context.Context) error { return err2(p.Remove(ctx, "x")) },
			"PoolAssign":       func(ctx context.Context) error { return p.Assign(ctx, "z") },
			"PoolMembers":      func(ctx context.Context) error { return err2(p.Members(ctx)) },
			"PoolContains":     func(ctx context.Context) error { return err2(p.Contains(ctx, "x")) },
			"PoolInfos":        func(ctx context.Context) error { return err2(p.Infos(ctx)) },
		})
		if !lease.Valid() {
			t.Fatal("a call that ended early ended the lease")
		}
	})
}
