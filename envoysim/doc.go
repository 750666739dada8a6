// Package envoysim speaks Envoy's gRPC Access Log Service like a fleet of
// Envoy sidecars: one stream per (Envoy, worker thread), the identifier on a
// stream's first message only, batches of HTTP or TCP entries with realistic
// status, flag, gRPC status, latency and cookie mixes, and never a read of
// the server's responses. It is alsd's load generator (`alsd simulate`), the
// demo's traffic and the fake Envoy of the tests.
//
// It imports nothing of alsd: only the Envoy protos, gRPC and the catalog.
package envoysim
