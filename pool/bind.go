package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/script"
)

func checkBindName(name string) error {
	if err := redisx.ValidateMember("binding name", name); err != nil {
		return fmt.Errorf("%w: %w", errInvalidKey, err)
	}
	return nil
}

// Bind binds name to the member key for ttl (0: no expiry), so a Malloc
// with Bind(name, …) prefers that member. ErrNotMember when key is not in
// the pool.
func (a *Admin) Bind(ctx context.Context, name, key string, ttl time.Duration) error {
	if err := checkBindName(name); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if ttl < 0 || ttl > maxTTL || (ttl > 0 && ttl < time.Millisecond) {
		return fmt.Errorf("%w: binding TTL %v", errInvalidDuration, ttl)
	}
	_, err := a.c.runScript(ctx, script.PoolBind, []string{"set", name, key, ms(ttl)})
	return err
}

// Unbind removes the binding of name; it reports whether there was one.
func (a *Admin) Unbind(ctx context.Context, name string) (bool, error) {
	if err := checkBindName(name); err != nil {
		return false, err
	}
	msg, err := a.c.runScript(ctx, script.PoolBind, []string{"del", name, "", "0"})
	if err != nil {
		return false, err
	}
	n, err := msg.AsInt64()
	return n == 1, err
}
