// Package kafkasink produces encoded records to Kafka (segmentio/kafka-go,
// acks=all, key = service) without ever blocking the receivers: Submit only
// enqueues; a record Kafka has not acknowledged within the delivery timeout,
// or cannot take at all, goes to an on-disk spool (package
// kafkasink/internal/spool) and is replayed in order when Kafka is back and
// after a restart. Every record dropped is counted by reason.
//
// It names every record on acceptance — the meshtel-id and meshtel-prev
// headers, from an ingester id and sequence kept in the state directory
// (package kafkasink/internal/ingestid) — and the name stays with the record
// through retries, the spool and replays, so consumers count it once.
//
// It knows no receiver: it takes record.Messages from whoever submits them.
package kafkasink
