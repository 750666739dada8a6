package cookies

import "github.com/prometheus/client_golang/prometheus"

// Metric names.
const (
	metricCookies          = "mesh_cookies"
	metricMalformed        = "mesh_cookies_malformed_total"
	metricOverflow         = "mesh_cookies_overflow_total"
	metricServicesOverflow = "mesh_cookies_services_overflow_total"
	metricTracked          = "alsd_cookies_tracked"
	metricCheckpoints      = "alsd_cookies_checkpoints_total"
	metricCorrupt          = "alsd_cookies_checkpoint_corrupt_total"
)

type metrics struct {
	cookies          *prometheus.GaugeVec
	malformed        *prometheus.CounterVec
	overflow         *prometheus.CounterVec
	servicesOverflow prometheus.Counter
	tracked          prometheus.Gauge
	checkpoints      *prometheus.CounterVec
	corrupt          prometheus.Counter
}

// newMetrics creates the inventory's metrics and registers them with reg
// when it is not nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		cookies: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricCookies,
			Help: "Distinct cookies per service and finding (finding=\"none\" counts the cookies without any).",
		}, []string{"service", "finding"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricMalformed,
			Help: "Cookies, or header remainders, not taken from final access-log entries, by reason.",
		}, []string{"service", "reason"}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricOverflow,
			Help: "Cookie observations dropped because the service reached its cap of distinct cookies.",
		}, []string{"service"}),
		servicesOverflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricServicesOverflow,
			Help: "Access-log entries whose cookies were dropped because the inventory reached its cap of services.",
		}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricTracked,
			Help: "Distinct (service, name, domain, path) cookies held by the inventory.",
		}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricCheckpoints,
			Help: "Cookie inventory checkpoints written to the state directory, by result (ok, error).",
		}, []string{"result"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCorrupt,
			Help: "Cookie inventory checkpoints found corrupt or unreadable at start, kept aside and ignored.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors()[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.cookies, m.malformed, m.overflow, m.servicesOverflow, m.tracked, m.checkpoints, m.corrupt}
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
