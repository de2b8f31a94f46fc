// Command bad must NOT compile: WithInterval is a session option and
// NewChecker takes CheckerOptions (see TestOptionTypes).
package main

import (
	"context"
	"time"

	"github.com/redisallocator/redisallocator/health"
)

func main() {
	var target health.Target[string]
	probe := func(context.Context, string, string) error { return nil }
	_, _ = health.NewChecker(nil, "p", target, probe, health.WithInterval(10*time.Second))
}
