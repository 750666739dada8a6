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
		selftrace.AttrRecords.Int(w.n),
		selftrace.AttrAccepted.Int64(s.accepted.Load()-before),
		selftrace.AttrBytes.Int(len(w.frame)),
		attribute.String("als.node_id", st.id.NodeID),
		attribute.String("als.log_name", st.id.LogName),
	)
	if err != nil {
		span.SetAttributes(selftrace.AttrOutcome.String(status.Code(err).String()))
		span.SetStatus(otelcodes.Error, err.Error())
	} else {
		span.SetAttributes(selftrace.AttrOutcome.String("accepted"))
	}
	span.End()
	return err
}
