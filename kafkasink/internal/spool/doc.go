// Package spool is the Kafka sink's on-disk queue for records Kafka could not
// take yet: an append-only, checksummed segment log with a persisted read
// cursor, so spooled records are replayed in order after an outage and after
// a restart, and a torn or corrupt tail costs only itself.
//
// It is internal to package kafkasink: nothing else writes or replays it.
package spool
