package envoysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meshtel/meshtel/internal/poll"
)

// TestMain fails the package if a test leaves a goroutine behind: an
// Envoy must release its streams and connection.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// received is what the recording server saw on one stream.
type received struct {
	ids     []string // per message: "node cluster log_name", "" without identifier
	entries []string // request ids (HTTP) and "tcp" (TCP), in order
	end     string   // how the stream ended: "OK" on half-close, the error otherwise; "" while open
}

// alsServer is an ALS server on 127.0.0.1 that records what each stream
// brings and, told so, ends a stream after a message.
type alsServer struct {
	alsv3.UnimplementedAccessLogServiceServer
	addr string
	// endAfter returns the status that ends stream s (1-based) after its
	// message m (1-based); nil carries on. Nil: never.
	endAfter func(s, m int) error
	// deaf makes the server take streams without reading them.
	deaf bool

	mu      sync.Mutex
	streams []*received
}

func startServer(t *testing.T, s *alsServer) *alsServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	g := grpc.NewServer()
	alsv3.RegisterAccessLogServiceServer(g, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	t.Cleanup(func() { g.Stop(); <-done })
	return s
}

func (s *alsServer) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	s.mu.Lock()
	r := &received{}
	s.streams = append(s.streams, r)
	n := len(s.streams)
	s.mu.Unlock()
	err := s.serve(stream, r, n)
	s.mu.Lock()
	r.end = "OK"
	if err != nil {
		r.end = err.Error()
	}
	s.mu.Unlock()
	return err
}

func (s *alsServer) serve(stream alsv3.AccessLogService_StreamAccessLogsServer, r *received, n int) error {
	if s.deaf {
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	for m := 1; ; m++ {
		msg, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		id := ""
		if i := msg.GetIdentifier(); i != nil {
			id = i.GetNode().GetId() + " " + i.GetNode().GetCluster() + " " + i.GetLogName()
		}
		r.ids = append(r.ids, id)
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			r.entries = append(r.entries, e.GetRequest().GetRequestId())
		}
		for range msg.GetTcpLogs().GetLogEntry() {
			r.entries = append(r.entries, "tcp")
		}
		s.mu.Unlock()
		if s.endAfter != nil {
			if err := s.endAfter(n, m); err != nil {
				return err
			}
		}
	}
}

// seen returns a copy of what the server saw.
func (s *alsServer) seen() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]received, len(s.streams))
	for i, r := range s.streams {
		out[i] = received{ids: append([]string(nil), r.ids...), entries: append([]string(nil), r.entries...), end: r.end}
	}
	return out
}

// waitEnded waits until the server has ended n streams.
func (s *alsServer) waitEnded(t *testing.T, n int) {
	t.Helper()
	poll.UntilState(t, 10*time.Second, fmt.Sprintf("the server to end %d streams", n), func() (bool, string) {
		ended := 0
		seen := s.seen()
		for _, r := range seen {
			if r.end != "" {
				ended++
			}
		}
		return ended >= n, fmt.Sprintf("%d of %d streams ended", ended, len(seen))
	})
}

func entry(id string) *datav3.HTTPAccessLogEntry {
	return &datav3.HTTPAccessLogEntry{Request: &datav3.HTTPRequestProperties{RequestId: id}}
}

const ident = "sidecar~10.0.0.1~web-1~shop web als"

func dial(t *testing.T, s *alsServer) *Envoy {
	t.Helper()
	e, err := Dial(s.addr, EnvoyConfig{NodeID: "sidecar~10.0.0.1~web-1~shop", Cluster: "web"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func mustSend(t *testing.T, e *Envoy, ids ...string) {
	t.Helper()
	entries := make([]*datav3.HTTPAccessLogEntry, len(ids))
	for i, id := range ids {
		entries[i] = entry(id)
	}
	if err := e.SendHTTP(context.Background(), entries...); err != nil {
		t.Fatalf("send %v: %v", ids, err)
	}
}

// sendUntilEnded sends on a stream the server has ended until a send
// learns it: the client hears of the end only when it next writes.
func sendUntilEnded(t *testing.T, e *Envoy) error {
	t.Helper()
	var err error
	poll.Until(t, 10*time.Second, "a send to find the stream ended", func() bool {
		err = e.SendHTTP(context.Background(), entry("lost"))
		return err != nil
	})
	return err
}

// TestEnvoy holds the Envoy to what Envoy does on the wire, against a
// real gRPC server.
func TestEnvoy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endAfter func(s, m int) error // the server's
		deaf     bool                 // the server's
		run      func(t *testing.T, s *alsServer, e *Envoy)
	}{
		{
			name: "identifier on a stream's first message only",
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				mustSend(t, e, "a", "b")
				mustSend(t, e, "c")
				if err := e.SendTCP(context.Background(), &datav3.TCPAccessLogEntry{}); err != nil {
					t.Fatal(err)
				}
				if err := e.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				want := []received{{ids: []string{ident, "", ""}, entries: []string{"a", "b", "c", "tcp"}, end: "OK"}}
				checkSeen(t, s, want)
				if e.Streams() != 1 {
					t.Errorf("Streams() = %d, want 1", e.Streams())
				}
			},
		},
		{
			name:     "a new stream, identifier first, after the server ends one",
			endAfter: endFirstStreamAfter(1, codes.Unavailable),
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				mustSend(t, e, "a")
				s.waitEnded(t, 1)
				err := sendUntilEnded(t, e)
				var ended *StreamEndedError
				if !errors.As(err, &ended) || !errors.Is(err, ErrStreamEnded) || ended.Stream != 1 || status.Code(err) != codes.Unavailable {
					t.Fatalf("send on the ended stream: %v; want a StreamEndedError of stream 1 with Unavailable", err)
				}
				mustSend(t, e, "b")
				mustSend(t, e, "c")
				if e.Streams() != 2 {
					t.Errorf("Streams() = %d, want 2", e.Streams())
				}
				if err := e.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				seen := s.seen()
				if len(seen) != 2 || !equal(seen[1], received{ids: []string{ident, ""}, entries: []string{"b", "c"}, end: "OK"}) {
					t.Errorf("server saw %+v; want stream 2 to carry b, c with the identifier first", seen)
				}
			},
		},
		{
			name:     "close returns the final status",
			endAfter: endFirstStreamAfter(1, codes.InvalidArgument),
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				mustSend(t, e, "a")
				if err := e.CloseStream(); status.Code(err) != codes.InvalidArgument {
					t.Fatalf("CloseStream = %v, want InvalidArgument", err)
				}
				if err := e.CloseStream(); err != nil {
					t.Errorf("CloseStream without a stream = %v", err)
				}
				mustSend(t, e, "b")
				if err := e.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				checkSeen(t, s, []received{
					{ids: []string{ident}, entries: []string{"a"}, end: status.Error(codes.InvalidArgument, "ended").Error()},
					{ids: []string{ident}, entries: []string{"b"}, end: "OK"},
				})
			},
		},
		{
			name: "reset, then a new stream",
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				mustSend(t, e, "a")
				e.Reset()
				s.waitEnded(t, 1)
				mustSend(t, e, "b")
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				seen := s.seen()
				if len(seen) != 2 || !strings.Contains(seen[0].end, "Canceled") ||
					!equal(seen[1], received{ids: []string{ident}, entries: []string{"b"}, end: "OK"}) {
					t.Errorf("server saw %+v; want stream 1 cancelled, stream 2 with b", seen)
				}
			},
		},
		{
			name: "a raw message goes as it is",
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				msg := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
					HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: []*datav3.HTTPAccessLogEntry{entry("raw")}}}}
				if err := e.SendMessage(context.Background(), msg); err != nil {
					t.Fatal(err)
				}
				mustSend(t, e, "a")
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				checkSeen(t, s, []received{{ids: []string{"", ""}, entries: []string{"raw", "a"}, end: "OK"}})
			},
		},
		{
			name: "frames go as they are",
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				b, err := proto.Marshal(&alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
					HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: []*datav3.HTTPAccessLogEntry{entry("framed")}}}})
				if err != nil {
					t.Fatal(err)
				}
				if err := e.SendFrame(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				mustSend(t, e, "a")
				if err := e.SendFrame(context.Background(), []byte{0xff}); err != nil {
					t.Fatal(err)
				}
				if err := e.Close(); status.Code(err) != codes.Internal {
					t.Fatalf("Close after a malformed frame = %v, want the server's Internal", err)
				}
				seen := s.seen()
				if len(seen) != 1 || !equal(seen[0], received{ids: []string{"", ""}, entries: []string{"framed", "a"}, end: seen[0].end}) ||
					!strings.Contains(seen[0].end, "Internal") {
					t.Errorf("server saw %+v; want the framed entry, a, then a failure to decode", seen)
				}
			},
		},
		{
			name: "close without a stream opens none",
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if err := e.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				checkSeen(t, s, []received{})
			},
		},
		{
			name: "ctx ends a send the server does not read",
			deaf: true,
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				big := strings.Repeat("x", 64<<10)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				var err error
				for range 1000 { // flow control blocks a send long before
					if err = e.SendHTTP(ctx, entry(big)); err != nil {
						break
					}
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("send = %v, want the context's deadline", err)
				}
				if err := e.CloseStream(); err != nil {
					t.Errorf("CloseStream after the reset = %v, want nil: no stream is open", err)
				}
				s.waitEnded(t, 1)
			},
		},
		{
			name: "close gives up on a server that never answers",
			deaf: true,
			run: func(t *testing.T, s *alsServer, e *Envoy) {
				e.cfg.CloseTimeout = 100 * time.Millisecond
				mustSend(t, e, "a")
				if err := e.Close(); err == nil || !strings.Contains(err.Error(), "no final status within 100ms") {
					t.Fatalf("Close = %v, want it to give up after 100ms", err)
				}
				s.waitEnded(t, 1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, &alsServer{endAfter: tt.endAfter, deaf: tt.deaf})
			tt.run(t, s, dial(t, s))
		})
	}
}

// endFirstStreamAfter ends stream 1 after message m with code.
func endFirstStreamAfter(m int, code codes.Code) func(int, int) error {
	return func(s, n int) error {
		if s == 1 && n == m {
			return status.Error(code, "ended")
		}
		return nil
	}
}

func equal(a, b received) bool {
	return strings.Join(a.ids, "|") == strings.Join(b.ids, "|") && strings.Join(a.entries, "|") == strings.Join(b.entries, "|") && a.end == b.end
}

// checkSeen waits until the server has seen every stream of want end,
// then compares.
func checkSeen(t *testing.T, s *alsServer, want []received) {
	t.Helper()
	s.waitEnded(t, len(want))
	seen := s.seen()
	ok := len(seen) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = equal(seen[i], want[i])
	}
	if !ok {
		t.Errorf("server saw\n %+v\nwant\n %+v", seen, want)
	}
}

// TestDialUnreachable: a send to nothing fails with Unavailable and
// leaves no stream.
func TestDialUnreachable(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	e, err := Dial(addr, EnvoyConfig{Cluster: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SendHTTP(context.Background(), entry("a")); status.Code(err) != codes.Unavailable {
		t.Errorf("send = %v, want Unavailable", err)
	}
	if e.Streams() != 0 {
		t.Errorf("Streams() = %d, want 0", e.Streams())
	}
}
