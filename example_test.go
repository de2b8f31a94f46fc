package redisallocator_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/redisallocator/redisallocator"
	"github.com/redisallocator/redisallocator/redisallocatortest"
)

// Connect by URL: here to an embedded server from the test-support package,
// in production to any redis://, rediss://, unix:// or comma-separated
// cluster URL.
func ExampleConnect() {
	srv, err := redisallocatortest.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := redisallocator.Connect(ctx, srv.URL())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	pong, err := c.Do(ctx, c.B().Ping().Build()).ToString()
	fmt.Println(pong, err)

	_, err = redisallocator.Connect(ctx, "http://localhost")
	fmt.Println(errors.Is(err, redisallocator.ErrInvalidURL))
	// Output:
	// PONG <nil>
	// true
}
