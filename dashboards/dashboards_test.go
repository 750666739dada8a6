package dashboards

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

func TestUID(t *testing.T) {
	long := strings.Repeat("a", 63)
	longer := strings.Repeat("a", 62) + "b"
	for _, name := range []string{"my_website", "x", strings.Repeat("n", 28), strings.Repeat("n", 29), long, longer} {
		uid := UID(name)
		if len(uid) > MaxUIDLength {
			t.Errorf("UID(%q) = %q: %d chars", name, uid, len(uid))
		}
		if UID(name) != uid {
			t.Errorf("UID(%q) not stable", name)
		}
		if uid == OverviewUID || uid == CookiesUID || uid == PipelineUID {
			t.Errorf("UID(%q) collides with a fixed dashboard", name)
		}
	}
	if UID("my_website") != "meshtel-svc-my_website" {
		t.Errorf("short names keep their name: %q", UID("my_website"))
	}
	if UID(long) == UID(longer) {
		t.Errorf("long names sharing a prefix collide: %q", UID(long))
	}
}

func testServices() []catalog.Service {
	return []catalog.Service{
		{
			Name: "my_website", Kind: catalog.HTTPService, Team: "web",
			SLOs: catalog.SLOs{
				Availability: &catalog.Objective{Percent: 99.95, Text: "99.95"},
				Latency: &catalog.LatencyObjective{
					Objective: catalog.Objective{Percent: 99, Text: "99"},
					Threshold: 300 * time.Millisecond, ThresholdText: "300ms",
				},
			},
			Alerting: catalog.Alerting{MinBadEvents: 10},
		},
		{
			Name: "redis_cache", Kind: catalog.TCPService, Team: "platform",
			SLOs: catalog.SLOs{Availability: &catalog.Objective{Percent: 99.9, Text: "99.9"}},
		},
	}
}

// dash is the part of a dashboard's JSON the tests look at.
type dash struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Type    string `json:"type"`
			Name    string `json:"name"`
			Query   string `json:"query"`
			Current struct {
				Value string `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
		FieldConfig struct {
			Defaults struct {
				Thresholds struct {
					Steps []struct {
						Value *json.RawMessage `json:"value"`
					} `json:"steps"`
				} `json:"thresholds"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
	} `json:"panels"`
}

func allDashboards(t *testing.T) map[string][]byte {
	t.Helper()
	cat := &catalog.Catalog{Services: testServices()}
	out := map[string][]byte{}
	for _, svc := range cat.Services {
		b, err := Service(svc)
		if err != nil {
			t.Fatal(err)
		}
		out[svc.Name] = b
	}
	var err error
	if out["overview"], err = Overview(cat); err != nil {
		t.Fatal(err)
	}
	if out["cookies"], err = Cookies(cat); err != nil {
		t.Fatal(err)
	}
	if out["pipeline"], err = Pipeline(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDashboardsSelectDatasourceThroughVariable(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for name, b := range allDashboards(t) {
		var d dash
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(d.UID) == 0 || len(d.UID) > MaxUIDLength {
			t.Errorf("%s: uid %q", name, d.UID)
		}
		found := false
		for _, v := range d.Templating.List {
			if v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus" && v.Current.Value == DatasourceUID {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no datasource variable defaulting to %s", name, DatasourceUID)
		}
		ids := map[int]bool{}
		targets := 0
		for _, panel := range d.Panels {
			if ids[panel.ID] || panel.ID == 0 {
				t.Errorf("%s: panel %q id %d missing or repeated", name, panel.Title, panel.ID)
			}
			ids[panel.ID] = true
			for _, tg := range panel.Targets {
				targets++
				if tg.Datasource.UID != "${datasource}" || tg.Datasource.Type != "prometheus" {
					t.Errorf("%s/%s: target datasource %+v", name, panel.Title, tg.Datasource)
				}
				expr := strings.NewReplacer("$__rate_interval", "5m", "$__range", "6h").Replace(tg.Expr)
				if _, err := p.ParseExpr(expr); err != nil {
					t.Errorf("%s/%s: %q: %v", name, panel.Title, tg.Expr, err)
				}
			}
		}
		if targets == 0 {
			t.Errorf("%s: no queries", name)
		}
	}
}

func TestServiceDashboardPanels(t *testing.T) {
	b, err := Service(testServices()[0])
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`"value": 0.9995,`, // objective as written, not 0.9995000000000001
		`"value": 0.99,`,
		`"value": 0.3,`,                                               // the latency threshold drawn on the quantiles
		`"value": 14.4,`, `"value": 6,`, `"value": 3,`, `"value": 1,`, // burn factors
		`slo:sli_error:ratio_rate30d{service=\"my_website\",slo=\"availability\",generator=\"meshtel\"}`,
		`mesh_slo_error_budget_remaining_ratio{service=\"my_website\",slo=\"latency\"}`,
		`histogram_quantile(0.99`,
		`Availability SLO: 99.95% over 30d`,
		`Latency SLO: 99% over 30d under 300ms`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("my_website dashboard lacks %s", want)
		}
	}
	tcp, err := Service(testServices()[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(tcp), "histogram_quantile") || strings.Contains(string(tcp), `slo=\"latency\"`) {
		t.Errorf("tcp_service dashboard shows latency")
	}
	if strings.Contains(string(tcp), "Low-traffic guard") {
		t.Errorf("a service with min_bad_events 0 shows the low-traffic guard")
	}
}

// With the guard on, each SLO row shows the bad requests of every window
// pair against its minimum, and when the guard holds a pair back, with
// the same expression the generated promtool tests check.
func TestServiceDashboardGuard(t *testing.T) {
	svc := testServices()[0]
	b, err := Service(svc)
	if err != nil {
		t.Fatal(err)
	}
	var d dash
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	slos, err := alerts.SLOs(svc)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range slos {
		for _, sev := range []sli.Severity{sli.Page, sli.Ticket} {
			gs, err := alerts.Guards(svc, s, sev)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gs {
				want = append(want, alerts.HeldBackExpr(svc.Name, s, g),
					fmt.Sprintf(`%s{service=%q,slo=%q,generator="meshtel"}`, alerts.BadEventsName(g.Pair.Long.Name), svc.Name, s.Name))
			}
		}
	}
	got := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			got[tg.Expr] = p.Type
		}
	}
	if len(want) != 2*2*len(sli.BurnAlerts) {
		t.Fatalf("%d guard queries expected", len(want))
	}
	for i, w := range want {
		wantType := "state-timeline"
		if i%2 == 1 {
			wantType = "timeseries"
		}
		if got[w] != wantType {
			t.Errorf("no %s panel queries %s", wantType, w)
		}
	}
	if !strings.Contains(string(b), `"text": "held back"`) {
		t.Errorf("the held-back panel does not name its state")
	}
}

func TestProvisioning(t *testing.T) {
	ds, err := DatasourceProvisioning(ProvisioningConfig{PrometheusURL: "http://prom:9090"})
	if err != nil {
		t.Fatal(err)
	}
	var dsf datasourceFile
	if err := yaml.Unmarshal(ds, &dsf); err != nil {
		t.Fatal(err)
	}
	if len(dsf.Datasources) != 1 || dsf.Datasources[0].UID != DatasourceUID || dsf.Datasources[0].URL != "http://prom:9090" || dsf.Datasources[0].Type != "prometheus" {
		t.Errorf("datasource provisioning: %+v", dsf)
	}
	db, err := DashboardProvisioning(ProvisioningConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var dbf dashboardFile
	if err := yaml.Unmarshal(db, &dbf); err != nil {
		t.Fatal(err)
	}
	if len(dbf.Providers) != 1 || dbf.Providers[0].Options.Path != DefaultDashboardsPath || dbf.Providers[0].Type != "file" {
		t.Errorf("dashboard provisioning: %+v", dbf)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := allDashboards(t), allDashboards(t)
	for name := range a {
		if string(a[name]) != string(b[name]) {
			t.Errorf("%s differs between runs", name)
		}
	}
}
