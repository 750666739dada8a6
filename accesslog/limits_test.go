package accesslog

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/internal/poll"
)

// TestMaxStreams: a stream beyond MaxStreams is refused with
// ResourceExhausted and counted; the open ones carry on, and a slot freed
// is taken again.
func TestMaxStreams(t *testing.T) {
	t.Parallel()
	var got seen
	srv, addr := serveTest(t, ServerConfig{Converter: &Converter{}, Stages: []Stage{got.stage}, MaxStreams: 2, Registerer: prometheus.NewRegistry()})
	a, b := newEnvoy(t, addr, "a", "web"), newEnvoy(t, addr, "b", "web")
	for _, e := range []*envoy{a, b} {
		if err := e.send(1); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "both streams accepted", func() bool { return srv.Accepted() == 2 })
	c := newEnvoy(t, addr, "c", "web")
	if err := c.closeAfter(c.send(1)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream: %v, want ResourceExhausted", err)
	}
	if hits := testutil.ToFloat64(srv.m.limitHits.WithLabelValues("streams")); hits != 1 {
		t.Errorf("streams limit hits = %v, want 1", hits)
	}
	if err := a.send(3); err != nil {
		t.Fatal(err)
	}
	if err := a.close(); err != nil {
		t.Fatalf("a stream within the limit: %v", err)
	}
	poll.Until(t, 5*time.Second, "the closed stream's slot freed", func() bool { return srv.streams.Load() == 1 })
	d := newEnvoy(t, addr, "d", "web")
	if err := d.send(2); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatalf("a stream in a freed slot: %v", err)
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	if n := srv.Accepted(); n != 7 {
		t.Errorf("accepted %d, want 7", n)
	}
}

// TestStreamIdleTimeout: a silent stream is ended with DeadlineExceeded
// and counted, no sooner than the timeout; a busy one on the same server
// lives on for twice the timeout.
//
// The busy stream sends every twentieth of the timeout, so only a stall
// of the whole machine for a second fails it wrongly; the failure says
// how long its longest pause was.
func TestStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	srv, addr := serveTest(t, ServerConfig{Converter: &Converter{}, StreamIdleTimeout: idle, Registerer: prometheus.NewRegistry()})
	idleHits := func() float64 { return testutil.ToFloat64(srv.m.limitHits.WithLabelValues("idle")) }
	quiet, busy := newEnvoy(t, addr, "quiet", "web"), newEnvoy(t, addr, "busy", "web")
	if err := quiet.send(1); err != nil {
		t.Fatal(err)
	}
	quietSent := time.Now()
	tick := time.NewTicker(idle / 20)
	defer tick.Stop()
	var quietEnded time.Time
	var longest time.Duration
	for last := time.Now(); quietEnded.IsZero() || time.Since(quietEnded) < idle; <-tick.C {
		if err := busy.send(1); err != nil {
			t.Fatalf("busy stream: %v (longest pause between its messages %s)", err, longest)
		}
		longest, last = max(longest, time.Since(last)), time.Now()
		if quietEnded.IsZero() && idleHits() > 0 {
			quietEnded = time.Now()
		}
		if time.Since(quietSent) > 30*idle {
			t.Fatalf("the quiet stream is not ended after %s", 30*idle)
		}
	}
	if d := quietEnded.Sub(quietSent); d < idle {
		t.Errorf("the quiet stream was ended after %s, before the %s timeout", d, idle)
	}
	if err := quiet.close(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("quiet stream: %v, want DeadlineExceeded", err)
	}
	if err := busy.close(); err != nil {
		t.Fatalf("busy stream: %v (longest pause between its messages %s)", err, longest)
	}
	if hits := idleHits(); hits != 1 {
		t.Errorf("idle limit hits = %v, want 1", hits)
	}
}
