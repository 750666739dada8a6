// Package selftrace is the vocabulary of alsd's own OpenTelemetry spans:
// the instrumentation scope, span names and attribute keys that the
// receivers and the Kafka sink share, so they are spelled once.
package selftrace

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of alsd's own spans, shared by
// the receivers and the Kafka sink so one trace shows a batch end to end.
const TracerName = "github.com/meshtel/meshtel/accesslog"

// Span names and attribute keys of alsd's self-tracing.
const (
	SpanBatch   = "als.batch"     // one StreamAccessLogsMessage received
	SpanExport  = "otlp.export"   // one OTLP logs Export call received
	SpanProduce = "kafka.produce" // one produce call to Kafka

	AttrRecords  = attribute.Key("alsd.records")  // entries (log records) in the batch, messages in the produce
	AttrAccepted = attribute.Key("alsd.accepted") // entries accepted from the batch
	AttrBytes    = attribute.Key("alsd.bytes")    // encoded size: the ALS message or OTLP request; keys and values produced
	AttrOutcome  = attribute.Key("alsd.outcome")  // "accepted", "acked", or the failure (a gRPC code, "error")
	AttrPath     = attribute.Key("alsd.path")     // produce: "live" or "replay" (from the spool)
)

// Tracer is tp's tracer; nil means the global provider, a no-op unless
// the program installed one.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(TracerName)
}
