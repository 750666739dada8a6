package dashboards

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/meshtel/meshtel/catalog"
)

// TestServiceDashboardWindows: a service whose availability SLO is over 7
// rolling days and whose latency SLO is over the calendar month shows each
// SLI, budget and burn factors for its own window, and never the 30-day
// recording rule it does not have.
func TestServiceDashboardWindows(t *testing.T) {
	svc := catalog.Service{
		Name: "billing", Kind: catalog.HTTPService, Team: "web",
		SLOs: catalog.SLOs{
			Availability: &catalog.Objective{Percent: 99.9, Text: "99.9", Window: catalog.Window7d},
			Latency: &catalog.LatencyObjective{
				Objective: catalog.Objective{Percent: 99, Text: "99", Window: catalog.WindowMonth},
				Threshold: time.Second, ThresholdText: "1s",
			},
		},
	}
	b, err := Service(svc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`Availability SLO: 99.9% over 7d`,
		`Latency SLO: 99% over the calendar month under 1s`,
		`"title": "SLI (7d)"`, `"title": "Error budget remaining (7d)"`,
		`"title": "SLI (month)"`, `"title": "Error budget remaining (month)"`,
		`slo:sli_error:ratio_rate7d{service=\"billing\",slo=\"availability\",generator=\"meshtel\"}`,
		`"value": 3.36,`, `"value": 1.4,`, `"value": 0.7,`, `"value": 0.23333333333333334,`, // 7d factors
		`"timeFrom": "now/M"`,
		`increase(mesh_sli_errors_total{service=\"billing\",slo=\"latency\"}[$__range])`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if strings.Contains(s, "ratio_rate30d") || strings.Contains(s, "ratio_rate28d") {
		t.Error("dashboard reads a budget window no SLO of the service has")
	}
	var d dash
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	for _, panel := range d.Panels {
		for _, tg := range panel.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$__range", "12d").Replace(tg.Expr)
			if _, err := p.ParseExpr(expr); err != nil {
				t.Errorf("%s: %q: %v", panel.Title, tg.Expr, err)
			}
		}
	}
	for cat, want := range map[*catalog.Catalog]string{
		{Services: []catalog.Service{svc}}: "each SLO's window",
		{Services: testServices()}:         "30d",
		{Services: []catalog.Service{{Name: "db", Kind: catalog.TCPService, SLOs: catalog.SLOs{Availability: &svc.SLOs.Latency.Objective}}}}: "month",
	} {
		if got := overviewWindow(cat); got != want {
			t.Errorf("overview window %q, want %q", got, want)
		}
	}
}
