// Package kafkasink produces encoded records to Kafka (segmentio/kafka-go,
// acks=all, key = service) without ever blocking the receivers: Submit only
// enqueues; a record Kafka has not acknowledged within the delivery timeout,
// or cannot take at all, goes to an on-disk spool (package
// kafkasink/internal/spool) and is replayed in order when Kafka is back and
// after a restart. Every record dropped is counted by reason.
//
// It knows no receiver: it takes record.Messages from whoever submits them.
package kafkasink
