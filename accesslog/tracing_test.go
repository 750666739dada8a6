package accesslog

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/internal/selftrace"
	"github.com/meshtel/meshtel/kafkasink"
)

func spanAttr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestTracing records alsd's spans with the SDK's in-memory exporter: one
// per received batch, accepted or refused, and one per Kafka produce.
func TestTracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := startHarness(t, kafkatest.FromEnv(t, testTopic), func(s *ServerConfig, k *kafkasink.Config) {
		s.TracerProvider, k.TracerProvider = tp, tp
		s.MaxEntriesPerMessage = 20
	})
	good := newEnvoy(t, h.addr, "tr", "web")
	for _, n := range []int{10, 15} {
		if err := good.send(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := good.close(); err != nil {
		t.Fatal(err)
	}
	bad := newEnvoy(t, h.addr, "big", "web")
	if err := bad.closeAfter(bad.send(21)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized batch: %v", err)
	}
	h.waitProduced(t, 25, 30*time.Second)
	// The produce span ends just after the acknowledgement is counted.
	var batches, produces []tracetest.SpanStub
	var produced int64
	poll.Wait(5*time.Second, func() bool {
		batches, produces, produced = nil, nil, 0
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case selftrace.SpanBatch:
				batches = append(batches, s)
			case selftrace.SpanProduce:
				produces = append(produces, s)
				if spanAttr(s, selftrace.AttrOutcome).AsString() == "acked" {
					produced += spanAttr(s, selftrace.AttrRecords).AsInt64()
				}
			}
		}
		return produced >= 25
	})
	if produced != 25 {
		t.Errorf("acked produce spans carry %d records, want 25", produced)
	}

	if len(batches) != 3 {
		t.Fatalf("%d batch spans, want 3", len(batches))
	}
	byRecords := map[int64]tracetest.SpanStub{}
	for _, s := range batches {
		byRecords[spanAttr(s, selftrace.AttrRecords).AsInt64()] = s
	}
	for _, n := range []int64{10, 15} {
		s, ok := byRecords[n]
		if !ok {
			t.Fatalf("no batch span of %d records", n)
		}
		if got := spanAttr(s, selftrace.AttrOutcome).AsString(); got != "accepted" {
			t.Errorf("batch of %d: outcome %q", n, got)
		}
		if got := spanAttr(s, selftrace.AttrAccepted).AsInt64(); got != n {
			t.Errorf("batch of %d: accepted %d", n, got)
		}
		if got := spanAttr(s, selftrace.AttrBytes).AsInt64(); got < n*100 {
			t.Errorf("batch of %d: %d bytes, too few for its entries", n, got)
		}
		if s.Status.Code == otelcodes.Error {
			t.Errorf("batch of %d: error status", n)
		}
	}
	refusedBatch := byRecords[21]
	if got := spanAttr(refusedBatch, selftrace.AttrOutcome).AsString(); got != codes.InvalidArgument.String() {
		t.Errorf("refused batch: outcome %q", got)
	}
	if refusedBatch.Status.Code != otelcodes.Error || spanAttr(refusedBatch, selftrace.AttrAccepted).AsInt64() != 0 {
		t.Errorf("refused batch: status %v, accepted %v", refusedBatch.Status, spanAttr(refusedBatch, selftrace.AttrAccepted))
	}
	for _, s := range produces {
		if got := spanAttr(s, selftrace.AttrPath).AsString(); got != "live" && got != "replay" {
			t.Errorf("produce path %q, want live or replay", got)
		}
		if spanAttr(s, selftrace.AttrBytes).AsInt64() <= 0 || spanAttr(s, attribute.Key("messaging.destination.name")).AsString() != testTopic {
			t.Errorf("produce span attributes %v", s.Attributes)
		}
	}
}

// TestTracingOffByDefault: without a provider, spans are not recorded.
func TestTracingOffByDefault(t *testing.T) {
	t.Parallel()
	_, span := selftrace.Tracer(nil).Start(context.Background(), selftrace.SpanBatch)
	defer span.End()
	if span.IsRecording() {
		t.Error("the default tracer records spans")
	}
}
