package edges

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names: SPEC §8 for the mesh_ ones, alsd's own for the rest.
const (
	MetricRequests    = "mesh_edge_requests_total"
	MetricErrors      = "mesh_edge_errors_total"
	MetricDuration    = "mesh_edge_duration_seconds"
	metricOverflow    = "alsd_edges_overflow_total"
	metricCkptErrors  = "alsd_edges_checkpoint_errors_total"
	metricCkptCorrupt = "alsd_edges_checkpoint_corrupt_total"
)

// metrics exports the tracker. The edge series are read from the tracker's
// own counters at scrape time, so Observe never touches a Prometheus
// metric.
type metrics struct {
	t                                   *Tracker
	requests, errors, duration          *prometheus.Desc
	overflow                            *prometheus.Desc
	checkpointErrors, checkpointCorrupt prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, t *Tracker) (*metrics, error) {
	labels := []string{"source", "destination"}
	m := &metrics{
		t: t,
		requests: prometheus.NewDesc(MetricRequests,
			"Outbound calls the source's sidecar logged to the destination, classified by SPEC §3 (excluded ones not counted).",
			labels, nil),
		errors: prometheus.NewDesc(MetricErrors,
			"Bad outbound calls (SPEC §3 availability) from source to destination, as the source saw them.",
			labels, nil),
		duration: prometheus.NewDesc(MetricDuration,
			"Duration of outbound HTTP calls from source to destination, as the source's sidecar logged it.",
			labels, nil),
		overflow: prometheus.NewDesc(metricOverflow,
			"Calls counted under destination \"other\" because the tracker holds its maximum of edges.",
			nil, nil),
		checkpointErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCkptErrors, Help: "Edge checkpoints that could not be written.",
		}),
		checkpointCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCkptCorrupt, Help: "Edge checkpoints found corrupt at start and ignored.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m, m.checkpointErrors, m.checkpointCorrupt} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register edge metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.requests, m.errors, m.duration, m.overflow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.t.State()
	upper := make([]float64, len(st.Buckets))
	for i, b := range st.Buckets {
		upper[i] = b.Seconds()
	}
	for _, e := range st.Edges {
		ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(e.Requests), e.Source, e.Destination)
		ch <- prometheus.MustNewConstMetric(m.errors, prometheus.CounterValue, float64(e.Errors), e.Source, e.Destination)
		buckets := make(map[float64]uint64, len(upper))
		var cum uint64
		for i, n := range e.Hist {
			cum += n
			if i < len(upper) {
				buckets[upper[i]] = cum
			}
		}
		if cum == 0 {
			continue // TCP only: no durations to show
		}
		ch <- prometheus.MustNewConstHistogram(m.duration, cum, float64(e.HistSumUs)/1e6, buckets, e.Source, e.Destination)
	}
	ch <- prometheus.MustNewConstMetric(m.overflow, prometheus.CounterValue, float64(st.Spills))
}

var _ prometheus.Collector = (*metrics)(nil)
