// Package edges counts the mesh's dependency edges as the callers see them
// (SPEC §8): one edge per (source, destination), where the source is the
// service whose sidecar logged an outbound call and the destination is the
// service it called (the record's peer_service). Per edge it keeps the
// requests, the errors and a latency histogram, classified by SPEC §3's
// rules as if the record were final (sli.Classify, with the destination's
// health check), cumulatively and over the last minutes for a current rate.
//
// It compares the observed graph with the declared one: an edge is
// declared when the catalog lists the destination among the source's
// upstreams; a Report lists observed edges nobody declared (undeclared) and
// declared upstreams nobody called since counting began (unused). Reports
// render as JSON (GET /api/dependencies), Markdown and Graphviz DOT.
//
// Memory is bounded whatever the traffic: names outside the catalog
// collapse into the node Other, so a tracker holds at most (N+1)² edges
// for a catalog of N services, and never more than Config.MaxEdges plus
// one (source, Other) edge per source; each edge is a fixed-size record
// (no per-request growth).
//
// A Tracker's State is mergeable: states of trackers that saw disjoint
// parts of a stream add up to the state of one tracker that saw all of it,
// which is how alsd restores its checkpoint and how aggregators combine
// partitions. Reports of several instances merge the same way
// (MergeReports).
//
// The package takes plain observations, never records: it knows nothing of
// Envoy, gRPC or Kafka. It does not alert and does not change any SLI:
// outbound records stay excluded from the callee's own SLI (SPEC §3).
package edges
