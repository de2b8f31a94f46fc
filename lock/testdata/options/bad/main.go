// Command bad must NOT compile: WithMeterProvider configures a Locker and means
// nothing to one mutex (see TestOptionTypes).
package main

import "github.com/redisallocator/redisallocator/lock"

func main() {
	var l *lock.Locker
	_, _ = l.Mutex("k", lock.WithMeterProvider(nil))
}
