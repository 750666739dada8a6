package kafkasink

import (
	"context"

	"github.com/meshtel/meshtel/internal/selftrace"
	"github.com/meshtel/meshtel/record"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// traceProduce is produce within a "kafka.produce" span; path says
// whether msgs are live or replayed from the spool.
func (s *Sink) traceProduce(ctx context.Context, msgs []record.Message, path string) error {
	ctx, span := s.tracer.Start(ctx, selftrace.SpanProduce, trace.WithSpanKind(trace.SpanKindProducer))
	if !span.IsRecording() {
		span.End()
		return s.produce(ctx, path, msgs)
	}
	var size int
	for i := range msgs {
		size += len(msgs[i].Key) + len(msgs[i].Value)
	}
	span.SetAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.destination.name", s.cfg.Topic),
		selftrace.AttrRecords.Int(len(msgs)),
		selftrace.AttrBytes.Int(size),
		selftrace.AttrPath.String(path),
	)
	err := s.produce(ctx, path, msgs)
	if err != nil {
		span.SetAttributes(selftrace.AttrOutcome.String("error"))
		span.SetStatus(otelcodes.Error, err.Error())
	} else {
		span.SetAttributes(selftrace.AttrOutcome.String("acked"))
	}
	span.End()
	return err
}
