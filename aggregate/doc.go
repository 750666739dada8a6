// Package aggregate is the scale-out half of alsd (`alsd aggregate`, SPEC
// §1): it consumes the record topic as a member of a Kafka consumer group
// and computes SLIs, cookie inventories and dependency edges for the
// partitions, and so the services, it owns. Ingesters key records by
// service, so each service's records (its outbound calls too) live in one
// partition and its numbers come from one aggregator.
//
// State is kept per partition, in the manner of Kafka Streams: every
// CheckpointInterval each owned partition's SLI, cookie and edge state is
// written, in one message together with the offset of the first record it
// does not include, to the compacted state topic (key: the partition
// number). A member that is assigned a partition restores its newest
// checkpoint and seeks to that offset, whatever the group's committed
// offset says (committed offsets only feed lag monitoring). Records after
// the checkpoint are consumed again, into the restored state, so totals are
// exact across crashes and rebalances: nothing counted twice, nothing lost.
// The SLI state includes the per-day totals of the last 400 days, so the
// monthly report (MonthReport, /api/slo?month=) survives them too.
//
// Outcomes are derived again from each record with the aggregator's own
// catalog (sli.Classify through sli.Tracker); the record's service is kept
// as the ingester named it. A partition's tracker is given only the catalog
// services murmur2 puts in that partition, so memory grows with services,
// not partitions × services; should a producer key otherwise, the first
// record of another catalog service widens that partition to the whole
// catalog (logged).
//
// Records are counted once per meshtel-id (SPEC §2): a partition's state
// includes the set of ids it counted, kept per (ingester, service) as
// segments of the chain meshtel-prev links, so a producer retry or a spool
// replay of a record that had landed is dropped as a duplicate, however
// late it comes; records without the header are counted as they come.
//
// Zombies are fenced: a member checkpoints a partition only right after
// the group coordinator accepted its offset commit for it (which it
// refuses from a member of an ended generation), stops answering for a
// partition the coordinator has not confirmed for most of a session
// timeout, and a restore takes the most advanced of the last checkpoints
// rather than the last one written.
//
// The package does not ingest Envoy ALS, does not produce records and does
// not decode records produced with --kafka-encoding=proto (they are
// counted as skipped).
package aggregate
