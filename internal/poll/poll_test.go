package poll

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeT records the first Fatalf instead of ending the goroutine, so the
// test can look at the failure.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	if f.failed == "" {
		f.failed = fmt.Sprintf(format, args...)
	}
}

func TestUntil(t *testing.T) {
	tests := []struct {
		name     string
		trueFrom int // the call from which cond holds; 0: never
		state    bool
		timeout  time.Duration
		wantFail string
	}{
		{"true at once", 1, false, time.Minute, ""},
		{"true after a while", 10, true, time.Minute, ""},
		{"never", 0, false, 100 * time.Millisecond, "timed out after 100ms waiting for the thing"},
		{"never, with its state", 0, true, 100 * time.Millisecond, "timed out after 100ms waiting for the thing; last: call "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			cond := func() (bool, string) {
				n := calls.Add(1)
				return tt.trueFrom > 0 && n >= int64(tt.trueFrom), fmt.Sprintf("call %d", n)
			}
			ft := &fakeT{TB: t}
			start := time.Now()
			if tt.state {
				UntilState(ft, tt.timeout, "the thing", cond)
			} else {
				Until(ft, tt.timeout, "the thing", func() bool { ok, _ := cond(); return ok })
			}
			took := time.Since(start)
			switch {
			case tt.wantFail == "" && ft.failed != "":
				t.Errorf("failed: %s", ft.failed)
			case tt.wantFail != "" && !strings.HasPrefix(ft.failed, tt.wantFail):
				t.Errorf("failure %q, want it to start %q", ft.failed, tt.wantFail)
			}
			if tt.trueFrom > 0 && calls.Load() != int64(tt.trueFrom) {
				t.Errorf("cond called %d times, want %d: polling goes on after it held", calls.Load(), tt.trueFrom)
			}
			if tt.trueFrom == 0 {
				if took < tt.timeout {
					t.Errorf("gave up after %s, before the timeout", took)
				}
				if calls.Load() < 3 {
					t.Errorf("cond asked only %d times in %s", calls.Load(), tt.timeout)
				}
			}
		})
	}
}

func TestWaitAsksOnceMoreAtTheDeadline(t *testing.T) {
	start := time.Now()
	ok := Wait(30*time.Millisecond, func() bool { return time.Since(start) >= 30*time.Millisecond })
	if !ok {
		t.Error("Wait gave up without asking at the deadline")
	}
}
