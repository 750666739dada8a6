package accesslog

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/status"
)

// TracerName is the instrumentation scope of alsd's own spans.
const TracerName = "github.com/meshtel/meshtel/accesslog"

// Span names and attribute keys of alsd's self-tracing.
const (
	SpanBatch   = "als.batch"     // one StreamAccessLogsMessage received
	SpanProduce = "kafka.produce" // one produce call to Kafka

	AttrRecords  = attribute.Key("alsd.records")  // entries in the batch, messages in the produce
	AttrAccepted = attribute.Key("alsd.accepted") // entries accepted from the batch
	AttrBytes    = attribute.Key("alsd.bytes")    // encoded size: the ALS message; keys and values produced
	AttrOutcome  = attribute.Key("alsd.outcome")  // "accepted", "acked", or the failure (a gRPC code, "error")
	AttrPath     = attribute.Key("alsd.path")     // produce: "live" or "replay" (from the spool)
)

// tracer is tp's tracer; nil means the global provider, a no-op unless
// the program installed one.
func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(TracerName)
}

// handleTraced is handle within an "als.batch" span.
func (s *Server) handleTraced(ctx context.Context, st *streamState, w *wireBatch) error {
	_, span := s.tracer.Start(ctx, SpanBatch, trace.WithSpanKind(trace.SpanKindServer))
	if !span.IsRecording() {
		span.End()
		return s.handle(st, w)
	}
	before := s.accepted.Load()
	err := s.handle(st, w)
	span.SetAttributes(
		AttrRecords.Int(w.n),
		AttrAccepted.Int64(s.accepted.Load()-before),
		AttrBytes.Int(len(w.frame)),
		attribute.String("als.node_id", st.id.NodeID),
		attribute.String("als.log_name", st.id.LogName),
	)
	if err != nil {
		span.SetAttributes(AttrOutcome.String(status.Code(err).String()))
		span.SetStatus(otelcodes.Error, err.Error())
	} else {
		span.SetAttributes(AttrOutcome.String("accepted"))
	}
	span.End()
	return err
}

// traceProduce is produce within a "kafka.produce" span; path says
// whether msgs are live or replayed from the spool.
func (s *Sink) traceProduce(ctx context.Context, msgs []Message, path string) error {
	ctx, span := s.tracer.Start(ctx, SpanProduce, trace.WithSpanKind(trace.SpanKindProducer))
	if !span.IsRecording() {
		span.End()
		return s.produce(ctx, msgs)
	}
	var size int
	for i := range msgs {
		size += len(msgs[i].Key) + len(msgs[i].Value)
	}
	span.SetAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.destination.name", s.cfg.Topic),
		AttrRecords.Int(len(msgs)),
		AttrBytes.Int(size),
		AttrPath.String(path),
	)
	err := s.produce(ctx, msgs)
	if err != nil {
		span.SetAttributes(AttrOutcome.String("error"))
		span.SetStatus(otelcodes.Error, err.Error())
	} else {
		span.SetAttributes(AttrOutcome.String("acked"))
	}
	span.End()
	return err
}
