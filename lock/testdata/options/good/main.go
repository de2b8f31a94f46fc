// Command good compiles: the control for TestOptionTypes.
package main

import (
	"time"

	"github.com/redisallocator/redisallocator/lock"
)

func main() {
	// Mutex options are also constructor options (the default of every mutex).
	l, _ := lock.New(nil, "p", lock.WithMeterProvider(nil), lock.WithTTL(time.Second), lock.WithTracerProvider(nil))
	_, _ = l.Mutex("k", lock.WithTTL(time.Second), lock.WithWatchdog(true),
		lock.WithPollInterval(time.Millisecond, time.Second), lock.WithQuorumTimeout(time.Second))
}
