package accesslog

import (
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// rawFrame is a message received undecoded: the server's codec copies
// the bytes of the gRPC message into it, for the wire decoder.
type rawFrame []byte

// frameCodec is the ALS server's codec: protobuf for everything but a
// *rawFrame.
type frameCodec struct {
	proto encoding.CodecV2
}

func newFrameCodec() frameCodec {
	return frameCodec{proto: encoding.GetCodecV2(grpcproto.Name)}
}

func (c frameCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

// Unmarshal copies data into a *rawFrame, reusing its capacity: gRPC
// frees data once this returns, so the frame cannot keep its buffers.
func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*rawFrame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	n := data.Len()
	if cap(*f) < n {
		*f = make([]byte, n)
	}
	*f = (*f)[:n]
	data.CopyTo(*f)
	return nil
}

// Name is the content-subtype of responses: it is protobuf on the wire.
func (frameCodec) Name() string { return grpcproto.Name }

// alsServiceDesc is alsv3's AccessLogService with a handler that receives
// raw frames.
var alsServiceDesc = grpc.ServiceDesc{
	ServiceName: alsv3.AccessLogService_ServiceDesc.ServiceName,
	HandlerType: (*alsv3.AccessLogServiceServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    alsv3.AccessLogService_ServiceDesc.Streams[0].StreamName,
		Handler:       func(srv any, stream grpc.ServerStream) error { return srv.(*Server).streamAccessLogs(stream) },
		ClientStreams: true,
	}},
	Metadata: alsv3.AccessLogService_ServiceDesc.Metadata,
}
