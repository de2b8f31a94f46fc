package lock_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
	"github.com/redisallocator/redisallocator/lock"
)

// errRefused stands for an answer that reads as "held by someone else"
// (Lock false, RLock 0, ErrNotAcquired): wrong when the lock key itself is
// what is corrupt.
var errRefused = errors.New("refused")

// lockCorruptOps are the Locker's, Mutex's and Pool's operations, run on
// the lock "k" (held by owner "o" with two holds) and the pool "p".
var lockCorruptOps = map[string]func(ctx context.Context, l *lock.Locker, p *lock.Pool) error{
	"Lock": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		ok, err := l.Lock(ctx, "k", "o2", time.Hour)
		if err == nil && !ok {
			return errRefused
		}
		return err
	},
	"RLock": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		n, err := l.RLock(ctx, "k", "o", time.Hour)
		if err == nil && n == 0 {
			return errRefused
		}
		return err
	},
	"Update": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		return l.Update(ctx, "k", "o", time.Hour)
	},
	"Unlock": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		_, err := l.Unlock(ctx, "k", "o")
		return err
	},
	"ForceSet": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		return l.ForceSet(ctx, "k", "v", time.Hour)
	},
	"Info": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		_, err := l.Info(ctx, "k")
		return err
	},
	"Fence": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		_, err := l.Fence(ctx, "k")
		return err
	},
	"CompareAndSet": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		_, err := l.CompareAndSet(ctx, "n", lock.OpGT, 5, 6, time.Hour)
		return err
	},
	"CompareAndDelete": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		_, err := l.CompareAndDelete(ctx, "n", lock.OpGT, 5)
		return err
	},
	"TryAcquire": func(ctx context.Context, l *lock.Locker, _ *lock.Pool) error {
		m, err := l.Mutex("f")
		if err != nil {
			return err
		}
		ls, err := m.TryAcquire(ctx)
		if errors.Is(err, lock.ErrNotAcquired) {
			return errRefused
		}
		if err == nil {
			return ls.Release(ctx)
		}
		return err
	},
	"PoolAdd": func(ctx context.Context, _ *lock.Locker, p *lock.Pool) error {
		_, err := p.Add(ctx, "x")
		return err
	},
	"PoolRemove": func(ctx context.Context, _ *lock.Locker, p *lock.Pool) error {
		_, err := p.Remove(ctx, "a")
		return err
	},
	"PoolAssign": func(ctx context.Context, _ *lock.Locker, p *lock.Pool) error { return p.Assign(ctx, "a", "y") },
	"PoolMembers": func(ctx context.Context, _ *lock.Locker, p *lock.Pool) error {
		_, err := p.Members(ctx)
		return err
	},
	"PoolContains": func(ctx context.Context, _ *lock.Locker, p *lock.Pool) error {
		_, err := p.Contains(ctx, "a")
		return err
	},
}

// lockDump reads the keys' types and contents.
func lockDump(t *testing.T, ctx context.Context, c rueidis.Client, keys []string) string {
	t.Helper()
	named := make(map[string]string, len(keys))
	for _, k := range keys {
		named[k] = k
	}
	return fmt.Sprint(redisxtest.ReadKeys(t, ctx, c, named))
}

// TestCorruptLockKeys (issue 13, points 5 and 6): with a lock's key,
// hold count, fencing counter or a lock pool's member set of the wrong type,
// or garbage in a counter, every operation answers an error matching
// ErrCorrupt that names the key and writes nothing, or does not read that
// key and leaves it alone; Lock on a key of the wrong type no longer
// answers (false, nil).
func TestCorruptLockKeys(t *testing.T) {
	redisxtest.Each(t, func(t *testing.T, b *redisxtest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		type corruption struct {
			name, key string // key: a Redis key of the case's prefix
			value     string // "" for the wrong type (a hash)
		}
		var cases []corruption
		for _, k := range []string{":{lock:k}:lock", ":{lock:k}:holds", ":{lock:f}:lock", ":{lock:f}:fence", ":{lock:n}:lock", ":{lock:n}:holds", ":{lockpool:p}:members"} {
			cases = append(cases, corruption{name: "WrongType" + k, key: k})
		}
		cases = append(cases,
			corruption{name: "Garbage/holds", key: ":{lock:k}:holds", value: "many"},
			corruption{name: "Garbage/fence", key: ":{lock:f}:fence", value: "x"},
		)
		n := 0
		for _, cr := range cases {
			for _, op := range slices.Sorted(maps.Keys(lockCorruptOps)) {
				n++
				prefix := fmt.Sprintf("%s-%d", b.Prefix, n)
				l, err := lock.New(b.Client, prefix)
				if err != nil {
					t.Fatal(err)
				}
				p, err := lock.NewPool(b.Client, prefix, "p")
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					if _, err := l.RLock(ctx, "k", "o", time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.Assign(ctx, "a", "b"); err != nil {
					t.Fatal(err)
				}
				m, err := l.Mutex("f")
				if err != nil {
					t.Fatal(err)
				}
				ls, err := m.TryAcquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := ls.Release(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := l.CompareAndSet(ctx, "n", lock.OpGT, 1, 3, time.Hour); err != nil {
					t.Fatal(err)
				}
				key := prefix + cr.key
				c := b.Client
				if err := c.Do(ctx, c.B().Del().Key(key).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				if cr.value != "" {
					err = c.Do(ctx, c.B().Set().Key(key).Value(cr.value).Build()).Error()
				} else {
					err = c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue("x", "1").Build()).Error()
				}
				if err != nil {
					t.Fatal(err)
				}
				// All keys of the case, for the before/after comparison.
				var keys []string
				for _, name := range []string{"k", "f", "n"} {
					for _, s := range []string{"lock", "holds", "fence"} {
						keys = append(keys, fmt.Sprintf("%s:{lock:%s}:%s", prefix, name, s))
					}
				}
				keys = append(keys, prefix+":{lockpool:p}:members")
				before := lockDump(t, ctx, c, keys)
				err = lockCorruptOps[op](ctx, l, p)
				after := lockDump(t, ctx, c, keys)
				name := cr.name + "/" + op
				switch {
				case err == nil || errors.Is(err, errRefused):
					// Success: the operation does not read that key and
					// leaves it alone. Refusing as if another owner held
					// the lock is no answer to a corrupt lock key.
					ownKey := map[string]string{"Lock": ":{lock:k}:lock", "RLock": ":{lock:k}:lock", "TryAcquire": ":{lock:f}:lock"}[op]
					if errors.Is(err, errRefused) && cr.key == ownKey {
						t.Errorf("%s: answered as if the lock were held, not ErrCorrupt", name)
					}
					var corruptBefore, corruptAfter string
					for _, part := range strings.Split(before, "; ") {
						if strings.HasPrefix(part, key+"=") {
							corruptBefore = part
						}
					}
					for _, part := range strings.Split(after, "; ") {
						if strings.HasPrefix(part, key+"=") {
							corruptAfter = part
						}
					}
					// Deleted unread (ForceSet drops the hold count) is fine.
					if corruptBefore != corruptAfter && !strings.HasSuffix(corruptAfter, "=none <nil>") {
						t.Errorf("%s: succeeded and rewrote the corrupt key: %s -> %s", name, corruptBefore, corruptAfter)
					}
				case before != after:
					t.Errorf("%s: wrote, then failed: %v\nbefore %s\nafter  %s", name, err, before, after)
				case !errors.Is(err, redisallocator.ErrCorrupt):
					t.Errorf("%s: error does not match ErrCorrupt: %v", name, err)
				case !strings.Contains(err.Error(), key):
					t.Errorf("%s: error does not name %s: %v", name, key, err)
				}
			}
		}
	})
}
