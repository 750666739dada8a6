// Package accesslog holds alsd's receivers: the Envoy gRPC Access Log
// Service (envoy.service.accesslog.v3) server with its limits, TLS, mTLS
// SAN allow-list and identity binding; the hand-written wire decoder; and
// the conversion of every HTTP and TCP log entry into one record.Record.
// The same server takes OpenTelemetry logs (opentelemetry.proto.collector.
// logs.v1 LogsService/Export, SPEC §7; otlp*.go): its own wire decoder
// reads the attributes of four vocabularies (and, through package
// envoytext, Envoy's text format) into the entry the Converter fills
// Records from, so both inputs convert alike.
//
// A receiver never blocks a stream: it converts, runs the stages the caller
// plugs in (ServerConfig.Stages, e.g. the SLI engine and the cookie
// inventory, which take plain observations) and hands the encoded records to
// a Submitter without waiting (the Kafka sink, package kafkasink, is one).
// It does not know the sink, the SLO state or the inventory: cookie headers
// are reduced to observations with package cookies/httpcookie, and the
// outcome classifier is supplied by the caller.
package accesslog
