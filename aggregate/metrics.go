package aggregate

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. alsd_consumer_lag is SPEC §1's; the rest are the
// aggregator's own.
const (
	metricLag               = "alsd_consumer_lag"
	metricRecords           = "alsd_aggregate_records_total"
	metricSkipped           = "alsd_aggregate_records_skipped_total"
	metricCheckpoints       = "alsd_aggregate_checkpoints_total"
	metricCheckpointCorrupt = "alsd_aggregate_checkpoint_corrupt_total"
	metricCheckpointBytes   = "alsd_aggregate_checkpoint_bytes"
	metricRestoreSeconds    = "alsd_aggregate_restore_seconds"
	metricOwned             = "alsd_aggregate_partitions"
	metricRebalances        = "alsd_aggregate_generations_total"
	metricHolesClosed       = "alsd_aggregate_seen_holes_closed_total"
	metricFenced            = "alsd_aggregate_commits_refused_total"
	metricCheckpointStale   = "alsd_aggregate_checkpoint_stale_total"
)

// Reasons of alsd_aggregate_records_skipped_total: a closed set.
const (
	reasonDecode = "decode" // not a SPEC §2 JSON record
	reasonProto  = "proto"  // --kafka-encoding=proto records: not decoded by aggregators
	// reasonDuplicate: a record whose meshtel-id the state has counted
	// already (a producer retry, a spool replay of a write that landed).
	reasonDuplicate = "duplicate"
)

type metrics struct {
	lag               *prometheus.GaugeVec
	records           prometheus.Counter
	skipped           *prometheus.CounterVec
	checkpoints       *prometheus.CounterVec
	checkpointCorrupt prometheus.Counter
	checkpointBytes   prometheus.Histogram
	restoreSeconds    prometheus.Histogram
	owned             prometheus.Gauge
	rebalances        prometheus.Counter
	holesClosed       prometheus.Counter
	fenced            prometheus.Counter
	checkpointStale   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricLag,
			Help: "Records of the partition not consumed yet, as of the last fetch: high watermark minus next offset.",
		}, []string{"partition"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricRecords,
			Help: "Records consumed and accounted in SLI and cookie state (again after a crash for those past the last checkpoint).",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricSkipped,
			Help: "Records consumed but not accounted, by reason (decode, proto, duplicate).",
		}, []string{"reason"}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricCheckpoints,
			Help: "Partition checkpoints written to the state topic, by result (ok, error).",
		}, []string{"result"}),
		checkpointCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCheckpointCorrupt,
			Help: "State-topic messages skipped at restore because they are corrupt or belong to another topic.",
		}),
		checkpointBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricCheckpointBytes,
			Help:    "Size of the checkpoints written, bytes before compression.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricRestoreSeconds,
			Help:    "Time from a partition's assignment to consuming it: reading and loading its checkpoint.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricOwned,
			Help: "Record partitions this aggregator owns and consumes.",
		}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricRebalances,
			Help: "Consumer group generations this aggregator took part in (one per rebalance).",
		}),
		holesClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricHolesClosed,
			Help: "Gaps in a service's record chain given up on (records lost before Kafka, such as a full spool's): a record filling one later counts as a duplicate.",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricFenced,
			Help: "Offset commits the group coordinator refused or did not answer (a member that lost its partitions, a coordinator down): no checkpoint follows them.",
		}),
		checkpointStale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCheckpointStale,
			Help: "Checkpoints passed over at restore because a more advanced one was written before them.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.lag, m.records, m.skipped, m.checkpoints, m.checkpointCorrupt,
		m.checkpointBytes, m.restoreSeconds, m.owned, m.rebalances, m.holesClosed, m.fenced, m.checkpointStale}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
