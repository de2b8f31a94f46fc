package lock_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, redisxtest.LeakOptions()...)
}
