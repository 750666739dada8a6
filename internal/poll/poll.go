// Package poll lets a test wait for what another goroutine or process
// makes true — a record counted, a server ready — by asking again until a
// deadline, instead of sleeping a fixed time and hoping: a fixed sleep is
// too short on a loaded machine and too long on an idle one.
//
// It is for tests only; nothing in the ingest runtime imports it.
package poll

import (
	"testing"
	"time"
)

// The pause between two asks starts at minInterval and doubles up to
// maxInterval: quick when the condition is nearly true, cheap when it
// takes seconds.
const (
	minInterval = time.Millisecond
	maxInterval = 50 * time.Millisecond
)

// Until calls cond until it returns true. If timeout passes first it
// fails the test, saying what it waited for. Like t.Fatal, it must be
// called from the test's goroutine.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	UntilState(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// UntilState is Until for a cond that also describes what it saw, which
// the failure reports: the last state, to tell a slow test from a wrong
// one.
func UntilState(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var state string
	if Wait(timeout, func() bool {
		var ok bool
		ok, state = cond()
		return ok
	}) {
		return
	}
	if state != "" {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, state)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// Wait calls cond until it returns true or timeout passes, and says
// whether it did: for a test that goes on either way.
func Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for interval := minInterval; ; interval = min(2*interval, maxInterval) {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(interval, left))
	}
}
