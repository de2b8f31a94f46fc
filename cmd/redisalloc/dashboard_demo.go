package main

import (
	"context"
	"fmt"
	"os"

	"github.com/redisallocator/redisallocator/cmd/redisalloc/inspect"
)

// startDashboard serves the web dashboard on the demo's Redis and prefix
// when --dashboard is set, printing its URL; the returned function stops
// it. The token, needed for a non-loopback address, comes from
// REDISALLOC_DASHBOARD_TOKEN.
func (d *demo) startDashboard(ctx context.Context) (stop func(), err error) {
	if d.o.dashboard == "" {
		return func() {}, nil
	}
	token := os.Getenv(dashboardTokenEnv)
	db, err := startDashboard(ctx, dashboardConfig{
		addr: d.o.dashboard, token: token, interval: d.o.interval,
		// The task views, read-only: the demo's dashboard offers no action.
		ops: &dashOps{client: d.client, prefix: d.prefix},
		source: func(ctx context.Context) (*inspect.Report, error) {
			return inspect.Collect(ctx, d.client, d.prefix, inspect.Options{})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("--dashboard: %w", err)
	}
	// The demo's output has one writer at a time; the run has not started.
	fmt.Fprintf(d.view.out, "dashboard: %s\n", db.URL)
	return db.Stop, nil
}
