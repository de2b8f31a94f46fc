package redisxtest

import "go.uber.org/goleak"

// LeakOptions are the goleak options every package's TestMain uses: rueidis
// finishes a few things in goroutines of its own after Close (connections
// replaced by a cluster topology refresh are closed five seconds later; a
// delayed refresh may still be sleeping), which are not our leaks.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
	}
}
