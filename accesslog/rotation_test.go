package accesslog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/record"
)

// flush sends entries as an Envoy worker's ALS logger flushes them: on the
// stream in use, or, when alsd had ended it, on a new one through the
// load balancer (Envoy learns of the end from the stream's close before
// its next flush; envoysim's Envoy when a send fails). It returns the
// number of the stream that took them, from 0. What the logger sent
// before it learned of the end, and alsd had not read, is lost: the
// entries in flight.
func flush(e *envoysim.Envoy, entries []*datav3.HTTPAccessLogEntry) (int, error) {
	err := e.SendHTTP(context.Background(), entries...)
	if errors.Is(err, envoysim.ErrStreamEnded) {
		err = e.SendHTTP(context.Background(), entries...)
	}
	return e.Streams() - 1, err
}

func newLogger(conn grpc.ClientConnInterface, node string) *envoysim.Envoy {
	return envoysim.NewEnvoy(conn, envoysim.EnvoyConfig{NodeID: node, Cluster: "web"})
}

// ids records the request ids the server handled.
type ids struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *ids) stage(records []record.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range records {
		s.seen[records[i].RequestID] = true
	}
}

func (s *ids) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id]
}

// rotationEntries are n entries with request ids "logger/message/i".
func rotationEntries(logger string, msg, n int) []*datav3.HTTPAccessLogEntry {
	entries := make([]*datav3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.Now()},
			Request: &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Path: "/",
				RequestId: fmt.Sprintf("%s/%d/%d", logger, msg, i)},
		}
	}
	return entries
}

// sent is what a logger sent: per stream, the messages that went out on it.
type sent struct {
	name     string
	perMsg   int
	messages [][]int // stream → message numbers
}

// run sends messages of perMsg entries, pause apart (0: as fast as the
// transport takes them), until until(messages sent, streams opened) is
// true, and closes the last stream.
func (s *sent) run(l *envoysim.Envoy, pause time.Duration, until func(msgs, streams int) bool) error {
	for m := 0; !until(m, l.Streams()); m++ {
		stream, err := flush(l, rotationEntries(s.name, m, s.perMsg))
		if err != nil {
			return err
		}
		for len(s.messages) <= stream {
			s.messages = append(s.messages, nil)
		}
		s.messages[stream] = append(s.messages[stream], m)
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	return l.CloseStream()
}

// losses checks what the server handled against what was sent: on each
// stream, the messages lost must be the last ones sent (those in flight
// when the server ended it), never one before a message it handled. It
// returns the entries lost and the streams that lost any.
func (s *sent) losses(t *testing.T, got *ids) (lost, streams int) {
	t.Helper()
	for _, msgs := range s.messages {
		handledAfter := false
		streamLost := 0
		for i := len(msgs) - 1; i >= 0; i-- {
			for e := range s.perMsg {
				id := fmt.Sprintf("%s/%d/%d", s.name, msgs[i], e)
				switch h := got.has(id); {
				case h:
					handledAfter = true
				case handledAfter:
					t.Errorf("%s: lost %s, sent before entries the server handled", s.name, id)
				default:
					streamLost++
				}
			}
		}
		if streamLost > 0 {
			lost += streamLost
			streams++
		}
	}
	return lost, streams
}

// rotationProfiles are senders as Envoy workers under three loads:
// saturating the stream (writes back to back), heavy (a flush every
// millisecond) and Envoy's ordinary flushing at intervals.
var rotationProfiles = []struct {
	name    string
	loggers int
	pause   time.Duration
	until   func(msgs, streams int) bool
}{
	{"saturating", 1, 0, func(m, s int) bool { return s > 5 || m >= 20000 }},
	{"heavy", 2, time.Millisecond, func(m, s int) bool { return s > 5 || m >= 5000 }},
	{"paced", 1, 200 * time.Millisecond, func(m, s int) bool { return m >= 12 }},
}

// TestStreamRotationUnderLoad: past MaxStreamAge alsd ends streams and the
// loggers reopen them. It loses only the messages in flight when it ended
// a stream — the tail of that stream, never one before a message it
// handled — and a logger flushing at intervals, as Envoy does, loses
// nothing. The log reports the entries lost per rotation. It does not run
// in parallel with the package's other tests, for the same reason.
func TestStreamRotationUnderLoad(t *testing.T) {
	got := &ids{seen: map[string]bool{}}
	srv, addr, _ := serveOTLP(t, ServerConfig{Converter: &Converter{}, Stages: []Stage{got.stage},
		MaxStreamAge: 20 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	conn := dial(t, addr)
	type result struct {
		sent    *sent
		streams int
	}
	results := map[string][]result{}
	var mu sync.Mutex
	// The paced logger runs alone, after the others: its zero loss must
	// not depend on how the loaded ones share the machine's cores.
	for _, phase := range [][]string{{"saturating", "heavy"}, {"paced"}} {
		var wg sync.WaitGroup
		for _, p := range rotationProfiles {
			if !slices.Contains(phase, p.name) {
				continue
			}
			for i := range p.loggers {
				s := &sent{name: fmt.Sprintf("%s%d", p.name, i), perMsg: 20}
				wg.Go(func() {
					l := newLogger(conn, s.name)
					if err := s.run(l, p.pause, p.until); err != nil {
						t.Errorf("%s: %v", s.name, err)
					}
					mu.Lock()
					results[p.name] = append(results[p.name], result{s, l.Streams()})
					mu.Unlock()
				})
			}
		}
		wg.Wait()
	}
	msg := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: rotationEntries("saturating0", 99999, 20)}}}
	msgBytes := proto.Size(msg)
	entryBytes := msgBytes / 20
	reopened := 0
	for _, p := range rotationProfiles {
		lost, streams, most := 0, 0, 0
		for _, r := range results[p.name] {
			l, _ := r.sent.losses(t, got)
			lost, streams, most = lost+l, streams+r.streams, max(most, maxLost(t, r.sent, got))
			reopened += r.streams - 1
		}
		rotations := streams - p.loggers
		if rotations < 5 {
			t.Errorf("%s: %d rotations", p.name, rotations)
		}
		if p.name == "paced" && lost != 0 {
			t.Errorf("paced: %d entries lost", lost)
		}
		// In flight: what alsd's receive window let the sender write
		// unread, what the sender's gRPC buffered behind it (grpc-go's
		// write quota, 64 KiB) and the message being written.
		if b := most * entryBytes; b > streamWindow+64<<10+2*msgBytes {
			t.Errorf("%s: %d bytes lost on one stream, more than could be in flight", p.name, b)
		}
		t.Logf("%s: %d rotations, %d entries lost (%.0f per rotation, at most %d on one stream: %d KiB)",
			p.name, rotations, lost, float64(lost)/float64(max(rotations, 1)), most, most*entryBytes>>10)
	}
	// A last stream may end after its last message, unnoticed by its
	// logger, which then closes it with OK.
	if rotated := int(testutil.ToFloat64(srv.m.rotated)); rotated < reopened || rotated > reopened+4 {
		t.Errorf("%s = %d, want the %d streams the loggers reopened, and at most one more per logger", MetricStreamsRotated, rotated, reopened)
	}
}

// maxLost is the most entries one stream of s lost.
func maxLost(t *testing.T, s *sent, got *ids) int {
	most := 0
	for _, msgs := range s.messages {
		one := &sent{name: s.name, perMsg: s.perMsg, messages: [][]int{msgs}}
		if lost, _ := one.losses(t, got); lost > most {
			most = lost
		}
	}
	return most
}

// TestRotationSpreadsStreams: Envoys keep their ALS streams on the alsd
// replica they reached first; once a second replica joins their
// round-robin pool, MaxStreamAge moves streams onto it, and without it
// none move.
func TestRotationSpreadsStreams(t *testing.T) {
	t.Parallel()
	for _, age := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run("age "+age.String(), func(t *testing.T) {
			t.Parallel()
			cfg := ServerConfig{Converter: &Converter{}, MaxStreamAge: age, Registerer: prometheus.NewRegistry()}
			a, aAddr, _ := serveOTLP(t, cfg)
			cfg.Registerer = prometheus.NewRegistry()
			b, bAddr, _ := serveOTLP(t, cfg)
			pool := manual.NewBuilderWithScheme("replicas")
			pool.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: aAddr}}})
			conn, err := grpc.NewClient(pool.Scheme()+":///alsd", grpc.WithResolvers(pool),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			loggers := make([]*envoysim.Envoy, 4)
			for i := range loggers {
				loggers[i] = newLogger(conn, fmt.Sprintf("worker%d", i))
				defer loggers[i].Reset()
			}
			round := func(m int) {
				for i, l := range loggers {
					if _, err := flush(l, rotationEntries(fmt.Sprint(i), m, 5)); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(5 * time.Millisecond) // Envoy's flush interval, shortened
			}
			round(0)
			pool.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: aAddr}, {Addr: bAddr}}})
			if age == 0 {
				for m := range 40 {
					round(m + 1)
				}
				if b.Accepted() != 0 {
					t.Errorf("without MaxStreamAge, replica b got %d records", b.Accepted())
				}
				return
			}
			deadline := time.Now().Add(20 * time.Second)
			for m := 1; b.Accepted() == 0 || a.Accepted() == 0; m++ {
				if time.Now().After(deadline) {
					t.Fatalf("after %d rounds: replica a %d records, b %d", m, a.Accepted(), b.Accepted())
				}
				round(m)
			}
			for _, l := range loggers {
				if err := l.CloseStream(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestSimulatorRotation: alsd simulate's Envoys reopen the streams alsd
// ends, as Envoy does, and keep sending; at flush intervals (each stream
// a batch every 120ms here) at most the batch in flight is lost per
// rotation.
func TestSimulatorRotation(t *testing.T) {
	srv, addr, _ := serveOTLP(t, ServerConfig{Converter: &Converter{}, MaxStreamAge: 50 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	const batch, streams = 50, 12 // the simulator's default mesh: 3 services × 2 sidecars × 2 streams
	sim, err := envoysim.New(envoysim.Config{Target: addr, Total: 10000, BatchSize: batch, Rate: 5000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := sim.Run(context.Background())
	if err != nil {
		t.Fatalf("the simulator stopped at a rotation: %v", err)
	}
	rotated := int64(testutil.ToFloat64(srv.m.rotated))
	lost := stats.Entries - srv.Accepted()
	if rotated < streams || lost < 0 || lost > rotated*batch {
		t.Errorf("%d rotations, %d of %d entries lost", rotated, lost, stats.Entries)
	}
	t.Logf("simulator: %d rotations, %d of %d entries lost (%.1f per rotation)", rotated, lost, stats.Entries, float64(lost)/float64(rotated))
}
