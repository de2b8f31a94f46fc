package redisx_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redisallocator/redisallocator/internal/redisx"
)

func TestCeilMS(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + time.Nanosecond, 2},
		{1500 * time.Microsecond, 2},
		{time.Second, 1000},
		{-time.Millisecond, -1},
		{-1500 * time.Microsecond, -1},
	} {
		if got := redisx.CeilMS(tt.d); got != tt.want {
			t.Errorf("CeilMS(%v) = %d, want %d", tt.d, got, tt.want)
		}
		if got := redisx.MSArg(tt.d); got != strconv.FormatInt(tt.want, 10) {
			t.Errorf("MSArg(%v) = %s, want %d", tt.d, got, tt.want)
		}
	}
}
