// Package envoysim speaks Envoy's gRPC Access Log Service as Envoy does.
//
// Envoy is one Envoy worker's access logger: one stream at a time, the
// identifier on a stream's first message only, a new stream after the
// server ends one, and no read of the server's responses except the final
// status when it closes a stream. It is the one fake Envoy of the tests.
//
// Simulator drives a fleet of them like Envoy sidecars: one Envoy per
// (sidecar, worker thread), batches of HTTP or TCP entries with realistic
// status, flag, gRPC status, latency and cookie mixes. It is alsd's load
// generator (`alsd simulate`) and the demo's traffic; Generator makes its
// entries one at a time, for benchmarks.
//
// Envoy's OpenTelemetry access logger is here too: a Vocabulary renders an
// entry as the OTLP log record Envoy (or Envoy Gateway, or a collector
// speaking the semantic conventions, or Istio's text format) would send,
// the Simulator sends its traffic that way with Protocol OTLP, and
// ExportFrame sends any request, well-formed or not.
//
// It imports nothing of alsd: only the Envoy and OpenTelemetry protos,
// gRPC and the catalog.
package envoysim
