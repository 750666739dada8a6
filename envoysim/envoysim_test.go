package envoysim

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSimulator runs the simulator against a recording server: one stream
// per (service, sidecar, worker), each opened with its identifier and
// carrying it once, and exactly Total entries.
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
	const streams = 3 * 2 * 2 // the built-in services × sidecars × workers
	s.waitEnded(t, streams)
	seen := s.seen()
	if len(seen) != streams {
		t.Fatalf("%d streams, want %d", len(seen), streams)
	}
	idRE := regexp.MustCompile(`^sidecar~10\.\d+\.\d+\.[12]~(frontend|backend|cache)-[0-9a-f]+~mesh\.svc\.cluster\.local (frontend|backend|cache) als$`)
	entries, msgs, nodes := 0, 0, map[string]bool{}
	for i, r := range seen {
		m := idRE.FindStringSubmatch(r.ids[0])
		if m == nil || m[1] != m[2] {
			t.Errorf("stream %d opens with identifier %q", i, r.ids[0])
			continue
		}
		nodes[r.ids[0]] = true
		for j, id := range r.ids[1:] {
			if id != "" {
				t.Errorf("stream %d: message %d repeats the identifier", i, j+2)
			}
		}
		tcp := strings.Count(strings.Join(r.entries, " "), "tcp")
		if (m[1] == "cache") != (tcp == len(r.entries)) || (m[1] != "cache" && tcp != 0) {
			t.Errorf("stream %d of %s: %d of %d entries TCP", i, m[1], tcp, len(r.entries))
		}
		if r.end != "OK" {
			t.Errorf("stream %d ended %q, want a half-close", i, r.end)
		}
		entries += len(r.entries)
		msgs += len(r.ids)
	}
	if len(nodes) != streams {
		t.Errorf("%d distinct identifiers on %d streams", len(nodes), streams)
	}
	if entries != 1005 || stats.Entries != 1005 || stats.Messages != int64(msgs) {
		t.Errorf("server got %d entries in %d messages; Stats %+v; want 1005 in as many messages", entries, msgs, stats)
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
