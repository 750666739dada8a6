package accesslog

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if its tests leave a goroutine behind: a
// server, sink, transport or stream that does not end with its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
