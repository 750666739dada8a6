package pii_test

import (
	"fmt"

	"github.com/meshtel/meshtel/pii"
)

func ExamplePath() {
	var c pii.Counts
	fmt.Println(pii.Path("/users/jane.doe%40example.com/cards/4111-1111-1111-1111", &c))
	fmt.Println(pii.Path("/orders/550e8400-e29b-41d4-a716-446655440000/static/app.3f9a2b1c9d0e.js", &c))
	// A receiver adds the counts to alsd_pii_masked_total{kind}.
	for k, n := range c {
		if n > 0 {
			fmt.Printf("%s %d\n", pii.Kind(k), n)
		}
	}
	// Output:
	// /users/{email}/cards/{card}
	// /orders/550e8400-e29b-41d4-a716-446655440000/static/app.3f9a2b1c9d0e.js
	// email 1
	// card 1
}

func ExampleUserAgent() {
	fmt.Println(pii.UserAgent("Mozilla/5.0 (compatible; FooBot/1.0; +mailto:ops@example.com)", nil))
	// Output:
	// Mozilla/5.0 (compatible; FooBot/1.0; +mailto:{email})
}
