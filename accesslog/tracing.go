package accesslog

import (
	"context"

	"github.com/meshtel/meshtel/internal/selftrace"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/status"
)

// handleTraced is handle within an "als.batch" span.
func (s *Server) handleTraced(ctx context.Context, st *streamState, w *wireBatch) error {
	_, span := s.tracer.Start(ctx, selftrace.SpanBatch, trace.WithSpanKind(trace.SpanKindServer))
	if !span.IsRecording() {
		span.End()
		return s.handle(st, w)
	}
	before := s.accepted.Load()
	err := s.handle(st, w)
	span.SetAttributes(
		attribute.String("als.node_id", st.id.NodeID),
		attribute.String("als.log_name", st.id.LogName),
	)
	s.endSpan(span, w.n, s.accepted.Load()-before, len(w.frame), err)
	return err
}

// exportTraced is handleExport within an "otlp.export" span.
func (s *Server) exportTraced(ctx context.Context, o *otlpState) (*exportResponse, error) {
	_, span := s.tracer.Start(ctx, selftrace.SpanExport, trace.WithSpanKind(trace.SpanKindServer))
	if !span.IsRecording() {
		span.End()
		return s.handleExport(o)
	}
	before := s.accepted.Load()
	resp, err := s.handleExport(o)
	s.endSpan(span, o.batch.n, s.accepted.Load()-before, len(o.frame), err)
	return resp, err
}

// endSpan records a batch's figures and outcome on span and ends it.
func (s *Server) endSpan(span trace.Span, records int, accepted int64, bytes int, err error) {
	span.SetAttributes(
		selftrace.AttrRecords.Int(records),
		selftrace.AttrAccepted.Int64(accepted),
		selftrace.AttrBytes.Int(bytes),
	)
	if err != nil {
		span.SetAttributes(selftrace.AttrOutcome.String(status.Code(err).String()))
		span.SetStatus(otelcodes.Error, err.Error())
	} else {
		span.SetAttributes(selftrace.AttrOutcome.String("accepted"))
	}
	span.End()
}
