// Command good compiles: the control for TestOptionTypes.
package main

import (
	"context"
	"time"

	"github.com/redisallocator/redisallocator/health"
)

func main() {
	var target health.Target[string]
	probe := func(context.Context, string, string) error { return nil }
	_, _ = health.NewChecker(nil, "p", target, probe, health.WithProbeInterval(10*time.Second),
		health.WithEvents(nil), health.WithMeterProvider(nil))
	_, _ = health.NewSession(context.Background(), nil, "p", health.WithInterval(time.Second), health.WithGroup("g"), health.WithEvents(nil))
	_, _ = health.NewRegistry(nil, "p", health.WithGroup("g"), health.WithReaper(time.Second, 0), health.WithErrorFunc(nil))
}
