package accesslog

import (
	"context"
	"net"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// bytesCodec sends []byte as the message, as a broken Envoy might.
type bytesCodec struct{}

func (bytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (bytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, v)
}

func (bytesCodec) Name() string { return grpcproto.Name }

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
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

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
			desc := &alsv3.AccessLogService_ServiceDesc.Streams[0]
			stream, err := conn.NewStream(ctx, desc, "/"+alsv3.AccessLogService_ServiceDesc.ServiceName+"/"+desc.StreamName, grpc.ForceCodecV2(bytesCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.frames {
				if err := stream.SendMsg(f); err != nil {
					break // the server ended the stream
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			err = stream.RecvMsg(&alsv3.StreamAccessLogsResponse{})
			if status.Code(err) != tt.code {
				t.Fatalf("status %v, want code %v", err, tt.code)
			}
			if got := srv.Accepted() - before; got != tt.accepted {
				t.Errorf("accepted %d entries, want %d", got, tt.accepted)
			}
		})
	}
}
