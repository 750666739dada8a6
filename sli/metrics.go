package sli

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names: SPEC §5 for the mesh_ ones, alsd's own for the rest.
const (
	metricRequests      = "mesh_sli_requests_total"
	metricErrors        = "mesh_sli_errors_total"
	metricDuration      = "mesh_request_duration_seconds"
	metricBudget        = "mesh_slo_error_budget_remaining_ratio"
	metricBurnRate      = "mesh_slo_burn_rate"
	metricRouteOverflow = "alsd_sli_route_overflow_total"
	metricSvcOverflow   = "alsd_sli_service_overflow_total"
	metricCkptErrors    = "alsd_sli_checkpoint_errors_total"
	metricCkptCorrupt   = "alsd_sli_checkpoint_corrupt_total"
)

// metrics exports the tracker. The SLI series are read from the tracker's
// own counters at scrape time, so Observe never touches a Prometheus
// metric, and the gauges are never staler than the scrape.
type metrics struct {
	t                                   *Tracker
	requests, errors, duration          *prometheus.Desc
	budget, burn                        *prometheus.Desc
	routeOverflow, svcOverflow          *prometheus.Desc
	checkpointErrors, checkpointCorrupt prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, t *Tracker) (*metrics, error) {
	m := &metrics{
		t: t,
		requests: prometheus.NewDesc(metricRequests,
			"Requests that count for the SLO (not excluded), by service, route and SLO.",
			[]string{"service", "route", "slo"}, nil),
		errors: prometheus.NewDesc(metricErrors,
			"Bad requests of the SLO, by service, route and SLO.",
			[]string{"service", "route", "slo"}, nil),
		duration: prometheus.NewDesc(metricDuration,
			"Duration of non-excluded HTTP requests, as Envoy logged it.",
			[]string{"service", "route"}, nil),
		budget: prometheus.NewDesc(metricBudget,
			"Share of the error budget of the SLO's window (30d, 28d, 7d or the calendar month) left; negative when overspent, 1 without traffic.",
			[]string{"service", "slo"}, nil),
		burn: prometheus.NewDesc(metricBurnRate,
			"Error ratio over the window divided by the allowed error ratio; 0 without traffic.",
			[]string{"service", "slo", "window"}, nil),
		routeOverflow: prometheus.NewDesc(metricRouteOverflow,
			"Requests counted under route __other__ because the service has too many routes.",
			[]string{"service"}, nil),
		svcOverflow: prometheus.NewDesc(metricSvcOverflow,
			"Requests counted under service __other__ because too many services are not in the catalog.",
			nil, nil),
		checkpointErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCkptErrors, Help: "SLI checkpoints that could not be written.",
		}),
		checkpointCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCkptCorrupt, Help: "SLI checkpoints found corrupt at start and ignored.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m, m.checkpointErrors, m.checkpointCorrupt} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register sli metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.requests, m.errors, m.duration, m.budget, m.burn, m.routeOverflow, m.svcOverflow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	t := m.t
	now := t.cfg.Now().Unix()
	upper := make([]float64, len(t.bounds))
	for i, b := range t.bounds {
		upper[i] = b.Seconds()
	}
	for _, s := range t.sortedServices() {
		s.mu.Lock()
		routes, spills := s.routeStates(), s.spills
		s.mu.Unlock()
		hasLat := s.slos.Latency != nil
		for _, r := range routes {
			if s.slos.Availability != nil {
				ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(r.Availability.Total), s.name, r.Route, Availability)
				ch <- prometheus.MustNewConstMetric(m.errors, prometheus.CounterValue, float64(r.Availability.Bad), s.name, r.Route, Availability)
			}
			if hasLat {
				ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(r.Latency.Total), s.name, r.Route, Latency)
				ch <- prometheus.MustNewConstMetric(m.errors, prometheus.CounterValue, float64(r.Latency.Bad), s.name, r.Route, Latency)
			}
			buckets := make(map[float64]uint64, len(upper))
			var cum uint64
			for i, n := range r.Hist {
				cum += n
				if i < len(upper) {
					buckets[upper[i]] = cum
				}
			}
			if cum == 0 {
				continue // TCP only: no durations to show
			}
			ch <- prometheus.MustNewConstHistogram(m.duration, cum, float64(r.HistSumUs)/1e6, buckets, s.name, r.Route)
		}
		if spills > 0 {
			ch <- prometheus.MustNewConstMetric(m.routeOverflow, prometheus.CounterValue, float64(spills), s.name)
		}
		for _, x := range s.statuses(now, t) {
			ch <- prometheus.MustNewConstMetric(m.budget, prometheus.GaugeValue, x.ErrorBudgetRemaining, s.name, x.SLO)
			for _, w := range Windows {
				ch <- prometheus.MustNewConstMetric(m.burn, prometheus.GaugeValue, x.BurnRates[w.Name], s.name, x.SLO, w.Name)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(m.svcOverflow, prometheus.CounterValue, float64(t.svcSpills.Load()))
}

var _ prometheus.Collector = (*metrics)(nil)
