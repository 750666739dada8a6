package accesslog

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	waitFor(t, 5*time.Second, "both streams accepted", func() bool { return srv.Accepted() == 2 })
	c := newEnvoy(t, addr, "c", "web")
	_ = c.send(1)
	if err := c.close(); status.Code(err) != codes.ResourceExhausted {
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
	waitFor(t, 5*time.Second, "the closed stream's slot freed", func() bool { return srv.streams.Load() == 1 })
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
// and counted; a busy one on the same server is not.
func TestStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	srv, addr := serveTest(t, ServerConfig{Converter: &Converter{}, StreamIdleTimeout: 300 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	quiet, busy := newEnvoy(t, addr, "quiet", "web"), newEnvoy(t, addr, "busy", "web")
	if err := quiet.send(1); err != nil {
		t.Fatal(err)
	}
	for range 12 {
		if err := busy.send(1); err != nil {
			t.Fatalf("busy stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := quiet.close(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("quiet stream: %v, want DeadlineExceeded", err)
	}
	if err := busy.close(); err != nil {
		t.Fatalf("busy stream: %v", err)
	}
	if hits := testutil.ToFloat64(srv.m.limitHits.WithLabelValues("idle")); hits != 1 {
		t.Errorf("idle limit hits = %v, want 1", hits)
	}
}
