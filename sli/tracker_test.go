package sli

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
)

// fakeClock is an injectable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// testCatalog is a hand-built catalog: web with a health check and its own
// availability objective, redis without latency, defaults for the rest.
func testCatalog() *catalog.Catalog {
	def := catalog.SLOs{
		Availability: &catalog.Objective{Percent: 99.9, Text: "99.9"},
		Latency: &catalog.LatencyObjective{Objective: catalog.Objective{Percent: 99, Text: "99"},
			Threshold: 300 * time.Millisecond, ThresholdText: "300ms"},
	}
	return &catalog.Catalog{
		Defaults: catalog.Defaults{Team: "platform", SLOs: def},
		Services: []catalog.Service{
			{Name: "web", Kind: catalog.HTTPService, HealthCheck: "/status", Aliases: []string{"web.default"},
				SLOs: catalog.SLOs{Availability: &catalog.Objective{Percent: 99.95, Text: "99.95"}, Latency: def.Latency}},
			{Name: "redis", Kind: catalog.TCPService, SLOs: catalog.SLOs{Availability: def.Availability}},
		},
	}
}

// start is an hour boundary, so every tier's slots align with it.
var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func newTestTracker(t *testing.T, clk *fakeClock, cfg Config) *Tracker {
	t.Helper()
	if cfg.Catalog == nil {
		cfg.Catalog = testCatalog()
	}
	cfg.Now = clk.Now
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// feed sends perSlot requests in every 10s slot of [from, to), setting the
// clock along, with bad(i) deciding the i-th request's fate.
func feed(tr *Tracker, clk *fakeClock, service string, from, to time.Time, perSlot int, bad func(i int) bool) {
	o := Observation{Service: service, Route: "r1", Method: "GET", Path: "/x", GRPCStatus: -1, Direction: "inbound"}
	i := 0
	for ts := from; ts.Before(to); ts = ts.Add(10 * time.Second) {
		clk.now = ts.Add(9 * time.Second)
		for j := 0; j < perSlot; j++ {
			o.Time = ts.Add(time.Duration(j) * 10 * time.Second / time.Duration(perSlot))
			o.Status = 200
			if bad(i) {
				o.Status = 503
			}
			o.Duration = 10 * time.Millisecond
			tr.Observe(&o)
			i++
		}
	}
	clk.now = to.Add(-time.Nanosecond)
}

func find(t *testing.T, r Report, service, slo string) SLOStatus {
	t.Helper()
	for _, s := range r.SLOs {
		if s.Service == service && s.SLO == slo {
			return s
		}
	}
	t.Fatalf("no %s/%s in report", service, slo)
	return SLOStatus{}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSteadyBurnIsOne(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{})
	end := start.Add(73 * time.Hour)
	// One bad request in every thousand: exactly 0.1% in every window
	// that is a multiple of 100s, against a 99.9% objective.
	feed(tr, clk, "api", start, end, 100, func(i int) bool { return i%1000 == 0 })
	s := find(t, tr.Snapshot(), "api", Availability)
	for _, w := range Windows {
		if got := s.BurnRates[w.Name]; !near(got, 1) {
			t.Errorf("burn %s = %v, want 1", w.Name, got)
		}
	}
	wantTotal := uint64(73 * 360 * 100)
	if s.Total != wantTotal || s.Bad != wantTotal/1000 {
		t.Errorf("total/bad = %d/%d, want %d/%d", s.Total, s.Bad, wantTotal, wantTotal/1000)
	}
	if !near(s.ErrorBudgetRemaining, 0) || !near(s.SLI, 0.999) {
		t.Errorf("budget %v sli %v, want 0 and 0.999", s.ErrorBudgetRemaining, s.SLI)
	}
	if s.Objective != 99.9 || s.Window != "30d" {
		t.Errorf("objective %v window %q", s.Objective, s.Window)
	}
}

func TestOutage(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{})
	// Two good hours, then a 10-minute total outage ending now.
	outage := start.Add(2 * time.Hour)
	end := outage.Add(10 * time.Minute)
	feed(tr, clk, "api", start, outage, 60, func(int) bool { return false })
	feed(tr, clk, "api", outage, end, 60, func(int) bool { return true })
	s := find(t, tr.Snapshot(), "api", Availability)
	// Error ratio over the window ÷ 0.001.
	want := map[string]float64{
		"5m": 1000, "30m": 1000.0 / 3, "1h": 1000.0 / 6, "2h": 1000.0 / 12,
		"6h": 1000.0 / 13, "1d": 1000.0 / 13, "3d": 1000.0 / 13,
	}
	for w, b := range want {
		if got := s.BurnRates[w]; math.Abs(got-b) > 1e-6 {
			t.Errorf("burn %s = %v, want %v", w, got, b)
		}
	}
	// 130 minutes at 6 req/s, 10 of them all bad: 46800 requests, 3600 bad;
	// the budget allows 46.8, so 3600/46.8 = 76.92 budgets are spent.
	if s.Total != 46800 || s.Bad != 3600 {
		t.Errorf("total/bad = %d/%d, want 46800/3600", s.Total, s.Bad)
	}
	if want := 1 - 3600/46.8; math.Abs(s.ErrorBudgetRemaining-want) > 1e-6 {
		t.Errorf("budget remaining %v, want %v", s.ErrorBudgetRemaining, want)
	}
	if s.Status() != StatusExhausted {
		t.Errorf("status %q, want exhausted", s.Status())
	}
	// An hour later the 5m and 30m windows have recovered, the 1h window
	// holds no outage any more; the budget has not come back.
	clk.now = end.Add(time.Hour)
	s = find(t, tr.Snapshot(), "api", Availability)
	if s.BurnRates["5m"] != 0 || s.BurnRates["1h"] != 0 || s.BurnRates["2h"] == 0 {
		t.Errorf("after an hour of silence: %v", s.BurnRates)
	}
	if s.Bad != 3600 {
		t.Errorf("bad %d after silence, want 3600", s.Bad)
	}
}

func TestNoTrafficIsNotNaN(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{})
	r := tr.Snapshot()
	if len(r.SLOs) != 3 { // web availability+latency, redis availability
		t.Fatalf("got %d SLOs for an idle catalog, want 3: %+v", len(r.SLOs), r.SLOs)
	}
	for _, s := range r.SLOs {
		if s.SLI != 1 || s.ErrorBudgetRemaining != 1 || s.Status() != StatusOK {
			t.Errorf("%s/%s idle: sli %v budget %v status %s", s.Service, s.SLO, s.SLI, s.ErrorBudgetRemaining, s.Status())
		}
		for w, b := range s.BurnRates {
			if b != 0 {
				t.Errorf("%s/%s idle burn %s = %v", s.Service, s.SLO, w, b)
			}
		}
	}
}

// TestConcurrentUse runs Observe from many goroutines while snapshots,
// scrapes and checkpoints happen; run with -race. The totals must add up.
func TestConcurrentUse(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{Registerer: reg, StateDir: t.TempDir(), MaxRoutesPerService: 3})
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				o := Observation{Time: start, Service: []string{"web", "api", "x"}[i%3], Route: fmt.Sprint(i % 5),
					Status: 200 + 303*(i%2), GRPCStatus: -1}
				tr.Observe(&o)
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tr.Snapshot()
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
			if err := tr.Checkpoint(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	var total, bad uint64
	for _, s := range tr.Snapshot().SLOs {
		if s.SLO == Availability {
			total, bad = total+s.Total, bad+s.Bad
		}
	}
	if total != workers*each || bad != workers*each/2 {
		t.Errorf("total/bad %d/%d, want %d/%d", total, bad, workers*each, workers*each/2)
	}
}

func TestExcludedOnlyServicesDoNotAppear(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{})
	tr.Observe(&Observation{Time: start, Service: "gateway", Status: 503, GRPCStatus: -1, Direction: "outbound"})
	tr.Observe(&Observation{Time: start, Service: "web.default", Path: "/status?full=1", Status: 503, GRPCStatus: -1})
	tr.Observe(&Observation{Time: start, Service: "web.default", Path: "/", Status: 503, GRPCStatus: -1})
	r := tr.Snapshot()
	for _, s := range r.SLOs {
		if s.Service == "gateway" || s.Service == "web.default" {
			t.Errorf("unexpected service %q in report", s.Service)
		}
	}
	if s := find(t, r, "web", Availability); s.Total != 1 || s.Bad != 1 {
		t.Errorf("web via its alias: total/bad %d/%d, want 1/1 (health check excluded)", s.Total, s.Bad)
	}
}

func TestLateEntriesReachCoarseWindows(t *testing.T) {
	clk := &fakeClock{now: start.Add(10 * time.Hour)}
	tr := newTestTracker(t, clk, Config{})
	tr.Observe(&Observation{Time: clk.now, Service: "api", Status: 200, GRPCStatus: -1})
	// Three hours late: older than the fine tier holds.
	tr.Observe(&Observation{Time: clk.now.Add(-3 * time.Hour), Service: "api", Status: 503, GRPCStatus: -1})
	s := find(t, tr.Snapshot(), "api", Availability)
	for w, want := range map[string]float64{"1h": 0, "2h": 0, "6h": 1, "1d": 1, "3d": 1} {
		if got := s.WindowCounts[w].Bad; got != want {
			t.Errorf("%s window bad = %v, want %v", w, got, want)
		}
	}
	if s.Total != 2 || s.Bad != 1 {
		t.Errorf("budget total/bad %d/%d, want 2/1", s.Total, s.Bad)
	}
	// And once the current entry has aged into the coarse tiers too,
	// nothing is counted twice.
	clk.now = clk.now.Add(90 * time.Minute)
	s = find(t, tr.Snapshot(), "api", Availability)
	if c := s.WindowCounts["6h"]; c.Total != 2 || c.Bad != 1 || s.Total != 2 {
		t.Errorf("after 90m: 6h %+v, budget total %d; want 2/1 and 2", c, s.Total)
	}
}

func TestRoutesWithTheSameKeyStayApart(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{MaxRoutesPerService: 20})
	// Same length, first and last byte: only the full compare tells them apart.
	names := []string{"a1z", "a2z", "a1z", "a3z", "a2z", "a1z", ""}
	for i := 0; i < 12; i++ { // past fewRoutes, so the map path runs too
		names = append(names, fmt.Sprintf("r%02dx", i))
	}
	names = append(names, "r00x", "r11x", "a3z")
	for _, n := range names {
		tr.Observe(&Observation{Time: start, Service: "api", Route: n, Status: 200, GRPCStatus: -1})
	}
	got := map[string]uint64{}
	for _, r := range tr.State().Services[0].Routes {
		got[r.Route] = r.Availability.Total
	}
	want := map[string]uint64{"a1z": 3, "a2z": 2, "a3z": 2, "": 1, "r00x": 2, "r11x": 2}
	for i := 1; i < 11; i++ {
		want[fmt.Sprintf("r%02dx", i)] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("route counts\n got %v\nwant %v", got, want)
	}
}
