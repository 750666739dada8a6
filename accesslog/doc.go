// Package accesslog is meshtel's ingest path: an Envoy gRPC Access Log
// Service (envoy.service.accesslog.v3) server that turns every HTTP and TCP
// log entry into one Record, encodes it, and hands it to a Kafka Sink that
// never blocks a stream and never loses an accepted record (records Kafka
// cannot take now go to an on-disk Spool and are replayed later).
//
// The package knows nothing of SLOs or cookie inventories: the caller plugs
// such stages in (ServerConfig.Stages) and supplies the outcome classifier.
// It also holds the Simulator, a load generator that speaks ALS like a fleet
// of Envoy sidecars.
package accesslog
