package webui

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/examples"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/sli"
)

// fixtureNow is the fixed clock of the test mesh.
var fixtureNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// plantedValue is a cookie value the pages must never show.
const plantedValue = "planted.leak.7f3e9a@example.com"

// plantedQuery is a query string the pages must never show.
const plantedQuery = "token=planted-query-5c1d"

type fixture struct {
	ui        *UI
	tracker   *sli.Tracker
	inventory *cookies.Inventory
	edges     *edges.Tracker
	reg       *prometheus.Registry
	cat       *catalog.Catalog
	clock     time.Time
}

// newFixture builds a UI over a real tracker and inventory for the demo
// mesh (examples/mesh.yaml). With traffic, my_website is burning (2% errors
// in the last hour against 99.95%, budget still left), checkout has
// exhausted its budget, some_service is fine and the rest have no traffic.
func newFixture(t testing.TB, traffic bool) *fixture {
	t.Helper()
	cat, err := catalog.Parse("mesh.yaml", examples.Mesh)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{cat: cat, clock: fixtureNow}
	now := func() time.Time { return f.clock }
	tr, err := sli.New(sli.Config{Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cookies.New(cookies.Config{Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	et, err := edges.New(edges.Config{Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	f.tracker, f.inventory, f.edges, f.reg = tr, inv, et, reg
	f.ui, err = New(Config{
		SLO: tr.Snapshot, SLOState: tr.State, Month: tr.Month, Cookies: inv.Snapshot, Dependencies: et.Snapshot, Catalog: cat, Gatherer: reg, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if traffic {
		f.feed(t)
	}
	return f
}

func (f *fixture) observe(o sli.Observation) {
	if f.tracker.Observe(&o) == outcome.Bad {
		f.ui.ObserveBad(o.Service, o.Method, o.Path, o.Status, o.ResponseFlags, o.Time)
	}
}

func (f *fixture) feed(t testing.TB) {
	t.Helper()
	routes := []string{"home", "api_pins", "static"}
	// Ten days ago: a good month so far for my_website, as a checkpoint
	// would restore it.
	tenDays := fixtureNow.Add(-240*time.Hour).Unix() / 3600 * 3600
	f.tracker.Add(&sli.State{Services: []sli.ServiceState{{Name: "my_website", Slots: []sli.SlotState{
		{Resolution: 3600, Start: tenDays, Availability: sli.Counts{Total: 200000}, Latency: sli.Counts{Total: 200000}},
	}}}})
	// The last six hours: my_website fails 2% in the last hour; checkout
	// fails 10% throughout; some_service is fine.
	for i := range 6 * 3600 {
		at := fixtureNow.Add(-6 * time.Hour).Add(time.Duration(i) * time.Second)
		lastHour := at.After(fixtureNow.Add(-time.Hour))
		status, flags := 200, []string(nil)
		if lastHour && i%50 == 0 {
			status, flags = 503, []string{"UF", "URX"}
		}
		f.observe(sli.Observation{Time: at, Service: "my_website", Route: routes[i%3], Method: "GET",
			Path: "/api/v1/pins?" + plantedQuery, Status: status, ResponseFlags: flags, GRPCStatus: -1,
			Duration: time.Duration(10+i%400) * time.Millisecond, Direction: "inbound"})
		status, flags = 200, nil
		if i%10 == 0 {
			status, flags = 0, []string{"UH"}
		}
		f.observe(sli.Observation{Time: at, Service: "checkout", Route: "pay", Method: "POST", Path: "/checkout",
			Status: status, ResponseFlags: flags, GRPCStatus: -1, Duration: 120 * time.Millisecond, Direction: "inbound"})
		f.observe(sli.Observation{Time: at, Service: "some_service", Route: "default", Method: "GET", Path: "/items",
			Status: 200, GRPCStatus: -1, Duration: 3 * time.Millisecond, Direction: "inbound"})
		f.calls(i, at, lastHour)
	}
	headers := []struct{ service, authority, setCookie, cookie string }{
		{"my_website", "www.example.com", "sid=" + plantedValue + "; Path=/; Max-Age=3600", "sid=" + plantedValue},
		{"my_website", "www.example.com", "csrf_token=abc123; Path=/; Secure; HttpOnly; SameSite=Strict", ""},
		{"my_website", "www.example.com", "tracker=1; Domain=ads.example.net; Path=/; Secure; SameSite=None; Max-Age=63072000", "_ga=GA1.2.3.4"},
		{"checkout", "shop.example.com", "cart_id=5f0c6a1e-8f8a-4c8e-9a53-2d9b0c1e7a44; Path=/; Secure; HttpOnly; SameSite=Lax", "cart_id=5f0c6a1e-8f8a-4c8e-9a53-2d9b0c1e7a44"},
	}
	for _, h := range headers {
		obs, bad := httpcookie.ParseResponse(h.setCookie, fixtureNow, nil, nil)
		if h.cookie != "" {
			obs, bad = httpcookie.ParseRequest(h.cookie, obs, bad)
		}
		f.inventory.Observe(h.service, h.authority, fixtureNow.Add(-time.Minute), obs, bad)
	}
	records := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRecords, Help: "records"}, []string{"kind", "outcome"})
	records.WithLabelValues("http", "good").Add(12345)
	records.WithLabelValues("http", "bad").Add(67)
	produced := prometheus.NewCounter(prometheus.CounterOpts{Name: metricProduced, Help: "produced"})
	produced.Add(12400)
	kafkaErrors := prometheus.NewCounter(prometheus.CounterOpts{Name: metricKafkaErrors, Help: "errors"})
	kafkaErrors.Add(9000)
	spool := prometheus.NewGauge(prometheus.GaugeOpts{Name: metricSpoolBytes, Help: "spool"})
	spool.Set(4096)
	streams := prometheus.NewGauge(prometheus.GaugeOpts{Name: metricStreamsActive, Help: "streams"})
	streams.Set(3)
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricDropped, Help: "dropped"}, []string{"reason"})
	dropped.WithLabelValues("spool_full").Add(2)
	f.reg.MustRegister(records, produced, kafkaErrors, spool, streams, dropped)
	// The budget history as Run would have sampled it over the last three
	// hours, and a pipeline taking 100 records/s whose Kafka went away
	// half an hour ago: production stopped, errors and the spool grew.
	for at := fixtureNow.Add(-3 * time.Hour); at.Before(fixtureNow); at = at.Add(5 * time.Minute) {
		f.clock = at
		f.ui.history.addSLOs(at, f.tracker.Snapshot())
		ago := fixtureNow.Sub(at).Seconds()
		outage := min(ago, 1800)
		m := pipelineMetrics{
			Records: value{12412 - 100*ago, true}, Produced: value{12400 - 100*(ago-outage), true},
			KafkaErrors: value{9000 - 5*outage, true}, Dropped: value{2, true}, Streams: value{3, true},
			SpoolBytes: value{4096 * max(0, 1-ago/1800), true},
		}
		f.ui.history.addPipeline(at, m)
	}
	f.clock = fixtureNow
	f.ui.Sample()
}

// calls feeds the edge tracker second i of the six hours: every declared
// upstream is called except reports → payments_db; checkout → payments
// fails 3% (connection failures its own SLI never sees); my_website reads
// redis_cache directly and a cron job outside the catalog calls auth, both
// undeclared.
func (f *fixture) calls(i int, at time.Time, lastHour bool) {
	if i == 0 {
		f.edges.Add(&edges.State{Since: at}) // counting began six hours ago
	}
	call := func(every int, src, dst string, status int, flags ...string) {
		if i%every == 0 {
			f.edges.Observe(&edges.Observation{Time: at, Source: src, Destination: dst, Method: "GET", Path: "/",
				Status: status, GRPCStatus: -1, ResponseFlags: flags, Duration: time.Duration(5+i%90) * time.Millisecond,
				TCP: dst == "redis_cache" || dst == "payments_db"})
		}
	}
	status, flags := 200, []string(nil)
	if lastHour && i%50 == 0 {
		status, flags = 503, []string{"UF"}
	}
	call(1, "my_website", "some_service", status, flags...)
	status, flags = 200, nil
	if i%66 == 0 {
		status, flags = 0, []string{"UF", "URX"}
	}
	call(2, "checkout", "payments", status, flags...)
	call(3, "checkout", "auth", 200)
	call(3, "checkout", "catalog_grpc", 200)
	call(5, "checkout", "redis_cache", 0)
	call(4, "payments", "payments_db", 0)
	call(10, "my_website", "redis_cache", 0)
	call(60, "legacy-cron", "auth", 200)
}

// runUI serves f's UI, sampling in the background, until the test ends.
func (f *fixture) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.ui.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(fmt.Errorf("run: %w", err))
		}
	})
}

func sliObs(service string, status int) sli.Observation {
	return sli.Observation{Time: fixtureNow, Service: service, Method: "GET", Path: "/", Status: status, GRPCStatus: -1, Direction: "inbound"}
}

func sliReport(services ...string) sli.Report {
	var r sli.Report
	for _, s := range services {
		r.SLOs = append(r.SLOs, sli.SLOStatus{Service: s, SLO: sli.Availability, ErrorBudgetRemaining: 0.5})
	}
	return r
}
