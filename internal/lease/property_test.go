package lease_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/redisallocator/redisallocator/internal/lease"
)

// TestPropertyNeverValidPastServerExpiry drives a lease through random
// renewals (random latencies before and after the server applies them,
// random outcomes) and random pauses, against a model of the server's TTL.
// At every step: Valid implies the server still holds the lease, strictly
// before its expiry; an ended lease never becomes valid again; and once
// timers have run, the context has ended exactly when Valid is false.
func TestPropertyNeverValidPastServerExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// rapid asks t for its deadline, which a bubble forbids: hide it.
		rapid.Check(struct{ testing.TB }{t}, func(rt *rapid.T) {
			ttl := time.Duration(rapid.Int64Range(int64(10*time.Millisecond), int64(10*time.Second)).Draw(rt, "ttl"))
			sent := time.Now()
			grantRTT := time.Duration(rapid.Int64Range(0, int64(ttl)).Draw(rt, "grantRTT"))
			time.Sleep(grantRTT / 2)
			serverExpiry := time.Now().Add(ttl) // the grant is applied mid-way
			time.Sleep(grantRTT - grantRTT/2)

			var before, after time.Duration // latencies of the next renewal
			var outcome int                 // 0 ok, 1 transient, 2 lost
			k, err := lease.New(sent, lease.Config{TTL: ttl, IsLost: isGone, Renew: func(_ context.Context, _ time.Duration) error {
				time.Sleep(before)
				if outcome == 0 {
					serverExpiry = time.Now().Add(ttl)
				}
				time.Sleep(after)
				switch outcome {
				case 1:
					return errors.New("timeout")
				case 2:
					return errGone
				}
				return nil
			}})
			if err != nil {
				rt.Fatal(err)
			}
			ctx := k.Context()
			ended := false
			check := func(step string) {
				synctest.Wait()
				now := time.Now()
				valid := k.Valid()
				if valid && !now.Before(serverExpiry) {
					rt.Fatalf("%s: valid at %v, server expiry %v", step, now.Sub(sent), serverExpiry.Sub(sent))
				}
				if valid && ended {
					rt.Fatalf("%s: an ended lease became valid again", step)
				}
				if (ctx.Err() != nil) == valid {
					rt.Fatalf("%s: valid=%v but ctx.Err()=%v", step, valid, ctx.Err())
				}
				ended = ended || !valid
			}
			check("grant")
			steps := rapid.IntRange(1, 30).Draw(rt, "steps")
			for range steps {
				if rapid.Bool().Draw(rt, "renew") {
					before = time.Duration(rapid.Int64Range(0, int64(ttl/2)).Draw(rt, "before"))
					after = time.Duration(rapid.Int64Range(0, int64(ttl/2)).Draw(rt, "after"))
					outcome = rapid.IntRange(0, 2).Draw(rt, "outcome")
					_ = k.Renew(context.Background())
					check("renew")
				} else {
					time.Sleep(time.Duration(rapid.Int64Range(0, int64(ttl)).Draw(rt, "sleep")))
					check("sleep")
				}
			}
			k.End(errors.New("done"))
		})
	})
}
