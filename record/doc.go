// Package record is meshtel's record contract (SPEC §2): Record, the one
// model every Envoy access-log entry becomes, its JSON encoding (AppendJSON)
// and parser (ParseJSON), its protobuf encoding (ToProto, package recordpb),
// and the Kafka message, key and headers alsd produces.
//
// It is a leaf that every side imports — receivers, the Kafka sink, the
// aggregators, tests — so it imports nothing of the runtime: no gRPC, Envoy
// protos, Kafka client, Prometheus client or OpenTelemetry. A Record never
// holds a cookie value: cookies are httpcookie.Observations.
package record
