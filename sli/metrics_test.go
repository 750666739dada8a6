package sli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelMap(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// value returns the value of the series of name with exactly labels want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	for _, m := range mfs[name].GetMetric() {
		if fmt.Sprint(labelMap(m)) == fmt.Sprint(want) {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{Registerer: reg, MaxRoutesPerService: 2})
	obs := []Observation{
		{Service: "web", Route: "home", Status: 200, Duration: 100 * time.Millisecond},
		{Service: "web", Route: "home", Status: 200, Duration: 400 * time.Millisecond}, // slow
		{Service: "web", Route: "home", Status: 503, Duration: 900 * time.Millisecond}, // bad: not a latency event
		{Service: "web", Route: "cart", Status: 200, Duration: 300 * time.Millisecond}, // exactly the threshold: fast
		{Service: "web", Route: "pay", Status: 500},                                    // third route: __other__
		{Service: "web", Route: "login", Status: 200},                                  // fourth: __other__
		{Service: "web", Route: "home", Path: "/status", Status: 503},                  // health check: excluded
		{Service: "web", Route: "home", Status: 503, Direction: "outbound"},            // excluded
		{Service: "web.default", Route: "cart", Status: 200},                           // alias of web
		{Service: "redis", TCP: true, ResponseFlags: []string{"UF"}},
		{Service: "redis", TCP: true},
	}
	for i := range obs {
		obs[i].Time, obs[i].GRPCStatus = start, -1
		tr.Observe(&obs[i])
	}
	mfs := gather(t, reg)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metricRequests, map[string]string{"service": "web", "route": "home", "slo": "availability"}, 3},
		{metricErrors, map[string]string{"service": "web", "route": "home", "slo": "availability"}, 1},
		{metricRequests, map[string]string{"service": "web", "route": "home", "slo": "latency"}, 2},
		{metricErrors, map[string]string{"service": "web", "route": "home", "slo": "latency"}, 1},
		{metricRequests, map[string]string{"service": "web", "route": "cart", "slo": "availability"}, 2},
		{metricErrors, map[string]string{"service": "web", "route": "cart", "slo": "latency"}, 0},
		{metricRequests, map[string]string{"service": "web", "route": OtherRoute, "slo": "availability"}, 2},
		{metricErrors, map[string]string{"service": "web", "route": OtherRoute, "slo": "availability"}, 1},
		{metricRouteOverflow, map[string]string{"service": "web"}, 2},
		{metricRequests, map[string]string{"service": "redis", "route": "", "slo": "availability"}, 2},
		{metricErrors, map[string]string{"service": "redis", "route": "", "slo": "availability"}, 1},
		{metricDuration, map[string]string{"service": "web", "route": "home"}, 3},
		{metricBudget, map[string]string{"service": "redis", "slo": "availability"}, 1 - 0.5/0.001},
		{metricBurnRate, map[string]string{"service": "redis", "slo": "availability", "window": "5m"}, 500},
		// web latency events: 100ms, 400ms (slow), 300ms, login and the alias
		// with unknown duration (fast); the 503s are not latency events.
		{metricBurnRate, map[string]string{"service": "web", "slo": "latency", "window": "1h"}, (1.0 / 5) / 0.01},
		{metricSvcOverflow, map[string]string{}, 0},
	} {
		if got := value(t, mfs, tc.name, tc.labels); !near(got, tc.want) {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// TCP entries have no latency series and no histogram; tcp_service has
	// no latency SLO at all.
	for _, m := range mfs[metricRequests].GetMetric() {
		if l := labelMap(m); l["service"] == "redis" && l["slo"] == "latency" {
			t.Errorf("latency series for a tcp_service: %v", l)
		}
	}
	for _, m := range mfs[metricDuration].GetMetric() {
		if labelMap(m)["service"] == "redis" {
			t.Errorf("duration histogram for TCP entries")
		}
	}
	// Every configured threshold is a bucket boundary, exactly.
	for _, m := range mfs[metricDuration].GetMetric() {
		if labelMap(m)["route"] != "home" {
			continue
		}
		var bounds []float64
		for _, b := range m.GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
			if b.GetUpperBound() == 0.3 && b.GetCumulativeCount() != 1 {
				t.Errorf("home le=0.3 holds %d, want 1 (the 100ms request)", b.GetCumulativeCount())
			}
		}
		if !slices.Contains(bounds, 0.3) || !slices.Contains(bounds, 0.5) {
			t.Errorf("buckets %v lack the 300ms threshold or the default 500ms", bounds)
		}
		if got := m.GetHistogram().GetSampleSum(); !near(got, 1.4) {
			t.Errorf("home duration sum %v, want 1.4", got)
		}
	}
}

func TestServiceCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{Registerer: reg, MaxServices: 2})
	for _, s := range []string{"a", "b", "c", "d", "a", "web"} {
		tr.Observe(&Observation{Time: start, Service: s, Status: 200, GRPCStatus: -1})
	}
	mfs := gather(t, reg)
	if got := value(t, mfs, metricSvcOverflow, map[string]string{}); got != 2 {
		t.Errorf("service overflow %v, want 2 (c and d)", got)
	}
	if got := value(t, mfs, metricRequests, map[string]string{"service": OtherService, "route": "", "slo": "availability"}); got != 2 {
		t.Errorf("__other__ requests %v, want 2", got)
	}
	if got := value(t, mfs, metricRequests, map[string]string{"service": "web", "route": "", "slo": "availability"}); got != 1 {
		t.Errorf("catalog services are not capped: web requests %v, want 1", got)
	}
}

func TestClock(t *testing.T) {
	clk := &fakeClock{now: start.Add(time.Hour)}
	tr := newTestTracker(t, clk, Config{})
	// Far future: clamped to now, so it counts in the 5m window now.
	tr.Observe(&Observation{Time: start.Add(24 * time.Hour), Service: "api", Status: 500, GRPCStatus: -1})
	// Zero time: now.
	tr.Observe(&Observation{Service: "api", Status: 500, GRPCStatus: -1})
	// 40 days ago: counted, but outside every window.
	tr.Observe(&Observation{Time: start.Add(-40 * 24 * time.Hour), Service: "api", Status: 500, GRPCStatus: -1})
	s := find(t, tr.Snapshot(), "api", Availability)
	if c := s.WindowCounts["5m"]; c.Total != 2 || c.Bad != 2 {
		t.Errorf("5m window %+v, want 2 bad of 2", c)
	}
	if s.Total != 2 {
		t.Errorf("30d total %d, want 2", s.Total)
	}
	if got := tr.State().Services[0].Routes[0].Availability.Total; got != 3 {
		t.Errorf("cumulative counter %d, want 3", got)
	}
}

func TestNewRejectsBadObjectives(t *testing.T) {
	c := testCatalog()
	c.Services[0].SLOs.Availability.Percent = 100
	if _, err := New(Config{Catalog: c}); err == nil || !strings.Contains(err.Error(), `"web"`) {
		t.Errorf("objective 100: got %v, want an error naming the service", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Registerer: reg}); err == nil {
		t.Error("second tracker on one registry: no error")
	}
}

func TestHandler(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{})
	mixed(tr, clk, start, time.Hour, 1, 0)
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/slo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var doc struct {
		GeneratedAt string                       `json:"generated_at"`
		SLOs        []map[string]json.RawMessage `json:"slos"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, doc.GeneratedAt); err != nil {
		t.Errorf("generated_at: %v", err)
	}
	if len(doc.SLOs) == 0 {
		t.Fatal("no slos")
	}
	for _, s := range doc.SLOs {
		for _, k := range []string{"service", "slo", "objective", "window", "total", "bad", "sli", "error_budget_remaining", "burn_rates"} {
			if _, ok := s[k]; !ok {
				t.Errorf("slo entry lacks %q: %s", k, s)
			}
		}
		var burn map[string]float64
		if err := json.Unmarshal(s["burn_rates"], &burn); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"} {
			if _, ok := burn[w]; !ok {
				t.Errorf("burn_rates lacks %q", w)
			}
		}
		if string(s["window"]) != `"30d"` {
			t.Errorf("window %s", s["window"])
		}
	}
	if string(doc.SLOs[0]["objective"]) != "99.9" && string(doc.SLOs[0]["objective"]) != "99.95" {
		t.Errorf("objective printed as %s", doc.SLOs[0]["objective"])
	}

	post, err := http.Post(srv.URL+"/api/slo", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", post.StatusCode)
	}
	md, err := http.Get(srv.URL + "/api/slo?format=md")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(md.Body)
	md.Body.Close()
	if !strings.Contains(b.String(), "| web ") {
		t.Errorf("markdown lacks web's row:\n%s", b.String())
	}
}

func TestWriteReportGolden(t *testing.T) {
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{})
	// Three days: web healthy with a few errors; cart healthy, then an
	// hour at 2% errors (a page-level burn, most budget left); api at 0.3%
	// errors all along (budget overspent).
	end := start.Add(72 * time.Hour)
	feed(tr, clk, "web", start, end, 6, func(i int) bool { return i%5000 == 0 })
	feed(tr, clk, "cart", start, end.Add(-time.Hour), 6, func(int) bool { return false })
	feed(tr, clk, "cart", end.Add(-time.Hour), end, 6, func(i int) bool { return i%50 == 0 })
	feed(tr, clk, "api", start, end, 6, func(i int) bool { return i%333 == 0 })
	r := tr.Snapshot()
	for svc, want := range map[string]string{"web": StatusOK, "cart": StatusWarning, "api": StatusExhausted, "redis": StatusOK} {
		if got := find(t, r, svc, Availability).Status(); got != want {
			t.Errorf("%s status %q, want %q", svc, got, want)
		}
	}
	for _, format := range []string{"md", "json"} {
		var b bytes.Buffer
		if err := WriteReport(&b, r, format); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "report."+format)
		if *update {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s report differs from %s (go test -update to accept):\n%s", format, golden, b.String())
		}
	}
	var back Report
	var b bytes.Buffer
	WriteReport(&b, r, "json")
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if got := MergeReports(back); fmt.Sprint(got.SLOs) != fmt.Sprint(r.SLOs) {
		t.Errorf("json round trip changed the report")
	}
	if err := WriteReport(&b, r, "csv"); err == nil {
		t.Error("csv: no error")
	}
}
