package redisallocator_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/redisallocator/redisallocator"
)

// Start an embedded Redis and talk to it through the client every package
// of the module accepts.
func ExampleEmbedded() {
	r, err := redisallocator.Embedded()
	if err != nil {
		panic(err)
	}
	defer r.Close()

	ctx := context.Background()
	c := r.Client()
	if err := c.Do(ctx, c.B().Set().Key("greeting").Value("hello").Build()).Error(); err != nil {
		panic(err)
	}
	v, err := c.Do(ctx, c.B().Get().Key("greeting").Build()).ToString()
	fmt.Println(v, err)
	// Output: hello <nil>
}

// Connect by URL: here to the embedded server, in production to any
// redis://, rediss://, unix:// or comma-separated cluster URL.
func ExampleConnect() {
	r, err := redisallocator.Embedded()
	if err != nil {
		panic(err)
	}
	defer r.Close()

	ctx := context.Background()
	c, err := redisallocator.Connect(ctx, r.URL())
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
