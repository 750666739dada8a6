package accesslog

import (
	"context"
	"net"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestServerDecodesFrames: the server takes what proto.Unmarshal takes and
// ends the stream with the status grpc-go gave for what it refuses.
func TestServerDecodesFrames(t *testing.T) {
	t.Parallel()
	srv, err := NewServer(ServerConfig{Converter: &Converter{Catalog: testCatalog(t)}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	valid := marshal(t, httpMessage(true, fullHTTPEntry(), fullHTTPEntry()))
	// Merged into valid: an entry whose scheme is not UTF-8.
	badUTF8 := append(append([]byte(nil), valid...), handMessages()[6]...)
	if err := proto.Unmarshal(badUTF8, &alsv3.StreamAccessLogsMessage{}); err == nil {
		t.Fatal("proto.Unmarshal takes the message meant to be malformed")
	}
	for _, tt := range []struct {
		name     string
		frames   [][]byte
		code     codes.Code
		accepted int64
	}{
		{"valid", [][]byte{valid, valid}, codes.OK, 4},
		{"invalid UTF-8 after a valid message", [][]byte{valid, badUTF8}, codes.Internal, 2},
		{"truncated", [][]byte{valid[:len(valid)-1]}, codes.Internal, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Accepted()
			e := newEnvoy(t, lis.Addr().String(), "frames", "web")
			var err error
			for _, f := range tt.frames {
				if err = e.SendFrame(ctx, f); err != nil {
					break // the server ended the stream
				}
			}
			if err := e.closeAfter(err); status.Code(err) != tt.code {
				t.Fatalf("status %v, want code %v", err, tt.code)
			}
			if got := srv.Accepted() - before; got != tt.accepted {
				t.Errorf("accepted %d entries, want %d", got, tt.accepted)
			}
		})
	}
}
