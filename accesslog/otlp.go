package accesslog

import (
	"errors"
	"fmt"
	"sync"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	// OpenTelemetry Collectors' OTLP exporters compress with gzip by
	// default; the server decompresses what a registered codec names
	// (MaxMessageBytes applies to the decompressed size).
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/internal/selfmetric"
)

// The OTLP logs receiver (SPEC §7): opentelemetry.proto.collector.logs.v1
// LogsService/Export, served by the same Server as ALS, so it has the same
// TLS, mTLS SAN allow-list, identity binding, limits, stages, sink and
// metrics. Each log record becomes one Record through the Converter, as an
// ALS entry does; records that cannot be read are rejected in
// partial_success, the rest of the request is kept.

// exportResponse is the answer to an Export call.
type exportResponse = collogspb.ExportLogsServiceResponse

// otlpExporter is the handler type of otlpServiceDesc.
type otlpExporter interface {
	export(grpc.ServerStream) error
}

// otlpServiceDesc is the OTLP LogsService with Export served as a
// client-streaming handler: gRPC's wire format is the same for unary and
// streaming calls, and as a stream the request arrives as a raw frame for
// the wire decoder, size-limited and counted like an ALS message, past the
// same stream interceptors (the SAN allow-list) as ALS. ClientStreams must
// stay true: grpc-go calls a handler described as neither client- nor
// server-streaming without the stream interceptors, and the allow-list
// would not apply (TestOTLPTLS).
var otlpServiceDesc = grpc.ServiceDesc{
	ServiceName: collogspb.LogsService_ServiceDesc.ServiceName,
	HandlerType: (*otlpExporter)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    collogspb.LogsService_ServiceDesc.Methods[0].MethodName,
		Handler:       func(srv any, stream grpc.ServerStream) error { return srv.(otlpExporter).export(stream) },
		ClientStreams: true,
	}},
	Metadata: collogspb.LogsService_ServiceDesc.Metadata,
}

// otlpState is what one Export call needs, pooled across calls.
type otlpState struct {
	frame []byte
	batch otlpBatch
	st    streamState
}

var otlpStates = sync.Pool{New: func() any { return &otlpState{st: streamState{keys: map[string][]byte{}}} }}

const errTooManyExports = "too many concurrent OTLP exports"

// export serves one Export call. The sender waits for the answer, so it
// converts and hands over without waiting for anything downstream.
func (s *Server) export(stream grpc.ServerStream) error {
	if n := s.exports.Add(1); n > int64(s.cfg.MaxStreams) {
		s.exports.Add(-1)
		s.m.limitHits.WithLabelValues("streams").Inc()
		return status.Error(codes.ResourceExhausted, errTooManyExports)
	}
	defer s.exports.Add(-1)
	o := otlpStates.Get().(*otlpState)
	defer func() {
		if cap(o.frame) > maxPooledFrame {
			o.frame = nil
		}
		if len(o.st.keys) > 1024 {
			clear(o.st.keys)
		}
		otlpStates.Put(o)
	}()
	if err := stream.RecvMsg((*rawFrame)(&o.frame)); err != nil {
		if status.Code(err) == codes.ResourceExhausted {
			s.m.limitHits.WithLabelValues("message_bytes").Inc()
		}
		return err
	}
	ctx := stream.Context()
	principal := verifiedPrincipal(ctx)
	o.st.id = Identity{Principal: principal}
	o.st.bind = binding{verified: verifiedLeaf(ctx) != nil}
	o.batch.conv, o.batch.max, o.batch.principal = s.cfg.Converter, s.cfg.MaxEntriesPerMessage, principal
	resp, err := s.exportTraced(ctx, o)
	if err != nil {
		return err
	}
	return stream.SendMsg(resp)
}

// handleExport converts the request in o.frame and hands the records on.
func (s *Server) handleExport(o *otlpState) (*exportResponse, error) {
	b := &o.batch
	b.now = time.Now()
	switch err := b.decode(o.frame); {
	case errors.Is(err, errTooManyRecords):
		s.m.limitHits.WithLabelValues("entries").Inc()
		return nil, status.Errorf(codes.InvalidArgument, "request has more than %d log records, the limit", s.cfg.MaxEntriesPerMessage)
	case err != nil:
		s.m.streamErrors.WithLabelValues("otlp_malformed").Inc()
		return nil, status.Errorf(codes.InvalidArgument, "OTLP logs request: %v", err)
	}
	if b.cut > 0 {
		s.m.limitHits.WithLabelValues("header_bytes").Add(float64(b.cut))
	}
	s.m.countMasked(&b.masked)
	o.st.records = b.records
	n := s.bindIdentity(&o.st, len(b.records))
	records := b.records[:n]
	for _, stage := range s.cfg.Stages {
		stage(records)
	}
	if s.cfg.Sink != nil && n > 0 {
		msgs, err := s.encode(&o.st, records, b.now)
		if err != nil {
			s.m.streamErrors.WithLabelValues("encode").Inc()
			return nil, status.Errorf(codes.Internal, "encode records: %v", err)
		}
		s.cfg.Sink.Submit(msgs)
	}
	s.m.count(records)
	s.accepted.Add(int64(n))
	resp := &exportResponse{}
	refused := len(b.records) - n
	if b.rejected == 0 && refused == 0 {
		return resp, nil
	}
	s.m.dropped.WithLabelValues(selfmetric.DroppedOTLPUnreadable).Add(float64(b.rejected))
	msg := fmt.Sprintf("%d of %d log records rejected", b.rejected+refused, b.n)
	if b.rejected > 0 {
		msg += "; unreadable: " + b.reason
		s.warnUnreadable(b.rejected, b.n, b.reason, o.st.id.Principal)
	}
	if refused > 0 {
		msg += fmt.Sprintf("; %d refused: the catalog does not list the sender's identity %q among their service's spiffe identities", refused, o.st.id.Principal)
	}
	resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: int64(b.rejected + refused), ErrorMessage: msg}
	return resp, nil
}

// warnUnreadable logs rejected log records at most every 10s: a
// misconfigured fleet would otherwise flood the log. The reason names
// attributes and positions, never values.
func (s *Server) warnUnreadable(rejected, total int, reason, principal string) {
	now := time.Now().UnixNano()
	last := s.lastOTLPWarn.Load()
	if now-last < int64(10*time.Second) || !s.lastOTLPWarn.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("OTLP log records rejected as unreadable: see the first reason, and SPEC §7 for what alsd reads",
		"rejected", rejected, "of", total, "first", reason, "principal", principal)
}
