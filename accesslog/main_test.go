package accesslog

import (
	"testing"

	"go.uber.org/goleak"
)

// leakIgnores are the goroutines that outlive a test without being
// alsd's: none so far.
var leakIgnores []goleak.Option

// TestMain fails the package if its tests leave a goroutine behind: a
// server, sink or stream that does not end with its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakIgnores...) }
