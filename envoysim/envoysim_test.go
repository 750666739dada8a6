package envoysim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/internal/poll"
)

// simStreams is the streams of a simulator with the built-in services,
// two sidecars each and two workers per sidecar.
const simStreams = 3 * 2 * 2

var simIdentRE = regexp.MustCompile(`^sidecar~10\.\d+\.\d+\.[12]~(frontend|backend|cache)-[0-9a-f]+~mesh\.svc\.cluster\.local (frontend|backend|cache) als$`)

// checkSimStreams holds each stream to Envoy's rules: opened with an
// identifier of its own naming its service, never repeated, and entries
// of the service's kind. It returns the entries and messages seen.
func checkSimStreams(t *testing.T, seen []received) (entries, msgs int) {
	t.Helper()
	idents := map[string]bool{}
	for i, r := range seen {
		m := simIdentRE.FindStringSubmatch(r.ids[0])
		if m == nil || m[1] != m[2] || idents[r.ids[0]] {
			t.Errorf("stream %d opens with identifier %q", i, r.ids[0])
			continue
		}
		idents[r.ids[0]] = true
		for j, id := range r.ids[1:] {
			if id != "" {
				t.Errorf("stream %d: message %d repeats the identifier", i, j+2)
			}
		}
		tcp := strings.Count(strings.Join(r.entries, " "), "tcp")
		if (m[1] == "cache" && tcp != len(r.entries)) || (m[1] != "cache" && tcp != 0) {
			t.Errorf("stream %d of %s: %d of %d entries TCP", i, m[1], tcp, len(r.entries))
		}
		entries += len(r.entries)
		msgs += len(r.ids)
	}
	return entries, msgs
}

// TestSimulator runs the simulator until Total: exactly Total entries
// arrive, each stream half-closed, none opened twice.
func TestSimulator(t *testing.T) {
	t.Parallel()
	s := startServer(t, &alsServer{})
	sim, err := New(Config{Target: s.addr, Sidecars: 2, Streams: 2, BatchSize: 10, Total: 1005, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stats, err := sim.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A worker that starts after the others sent Total opens no stream.
	poll.UntilState(t, 10*time.Second, "every stream half-closed", func() (bool, string) {
		ended := 0
		for _, r := range s.seen() {
			if r.end == "OK" {
				ended++
			}
		}
		return ended == len(s.seen()), fmt.Sprintf("%d of %d", ended, len(s.seen()))
	})
	seen := s.seen()
	if len(seen) == 0 || len(seen) > simStreams {
		t.Fatalf("%d streams, want 1 to %d", len(seen), simStreams)
	}
	entries, msgs := checkSimStreams(t, seen)
	if entries != 1005 || stats.Entries != 1005 || stats.Messages != int64(msgs) {
		t.Errorf("server got %d entries in %d messages; Stats %+v; want 1005 in as many messages", entries, msgs, stats)
	}
}

// TestSimulatorFleet runs the simulator at a rate until every (service,
// sidecar, worker) has a stream that sent twice, then stops it: one
// stream each, reset when the run ends.
func TestSimulatorFleet(t *testing.T) {
	t.Parallel()
	s := startServer(t, &alsServer{})
	sim, err := New(Config{Target: s.addr, Sidecars: 2, Streams: 2, BatchSize: 10, Rate: 1200, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := sim.Run(ctx)
		done <- err
	}()
	poll.UntilState(t, 30*time.Second, fmt.Sprintf("%d streams with two messages each", simStreams), func() (bool, string) {
		twice := 0
		for _, r := range s.seen() {
			if len(r.ids) >= 2 {
				twice++
			}
		}
		return twice == simStreams, fmt.Sprintf("%d of %d streams", twice, len(s.seen()))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run ended by its context: %v", err)
	}
	s.waitEnded(t, simStreams)
	seen := s.seen()
	if len(seen) != simStreams {
		t.Fatalf("%d streams, want %d", len(seen), simStreams)
	}
	checkSimStreams(t, seen)
	for i, r := range seen {
		if !strings.Contains(r.end, "Canceled") {
			t.Errorf("stream %d ended %q, want a reset", i, r.end)
		}
	}
}

// TestSimulatorStreamEnded: a stream the server ends stops the run with
// an error carrying the status.
func TestSimulatorStreamEnded(t *testing.T) {
	t.Parallel()
	s := startServer(t, &alsServer{endAfter: endFirstStreamAfter(1, codes.ResourceExhausted)})
	sim, err := New(Config{Target: s.addr, Sidecars: 1, Streams: 1, BatchSize: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := sim.Run(ctx); status.Code(err) != codes.ResourceExhausted || ctx.Err() != nil {
		t.Errorf("Run = %v, want the stream's ResourceExhausted before the minute is up", err)
	}
}
