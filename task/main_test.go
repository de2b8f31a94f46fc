package task_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if raceEnabled {
		set := false
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
		if !set {
			// CI runs everything under -race on two cores; 25 random
			// sequences still cover every action many times.
			_ = flag.Set("rapid.checks", "25")
		}
	}
	goleak.VerifyTestMain(m, redisxtest.LeakOptions()...)
}
