package dashboards

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/meshtel/meshtel/catalog"
)

// edgePanel is the part of a panel the dependency tests look at.
type edgePanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Transformations []struct {
		ID      string         `json:"id"`
		Options map[string]any `json:"options"`
	} `json:"transformations"`
}

func panelsOf(t *testing.T, b []byte) []edgePanel {
	t.Helper()
	var d struct {
		Panels []edgePanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Panels
}

// edgeSeries: web calls api at 1 req/s with 10% errors, all under 100ms
// but 1% under 500ms; web calls auth at 0.5 req/s without errors; api
// calls db, a TCP edge without durations.
const edgeSeries = `
load 1m
  mesh_edge_requests_total{source="web",destination="api"} 0+60x20
  mesh_edge_errors_total{source="web",destination="api"} 0+6x20
  mesh_edge_duration_seconds_bucket{source="web",destination="api",le="0.1"} 0+59.4x20
  mesh_edge_duration_seconds_bucket{source="web",destination="api",le="0.5"} 0+60x20
  mesh_edge_duration_seconds_bucket{source="web",destination="api",le="+Inf"} 0+60x20
  mesh_edge_duration_seconds_count{source="web",destination="api"} 0+60x20
  mesh_edge_requests_total{source="web",destination="auth"} 0+30x20
  mesh_edge_errors_total{source="web",destination="auth"} 0x20
  mesh_edge_requests_total{source="api",destination="db"} 0+12x20
  mesh_edge_errors_total{source="api",destination="db"} 0x20
`

// evalAt evaluates an instant query over edgeSeries at 20m, with Grafana's
// $__range as 10m, and returns value by the labels named.
func evalAt(t *testing.T, expr string, by ...string) map[string]float64 {
	t.Helper()
	st := promqltest.LoadedStorage(t, edgeSeries)
	eng := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	q, err := eng.NewInstantQuery(context.Background(), st, nil, strings.ReplaceAll(expr, "$__range", "10m"), time.Unix(20*60, 0))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	res := q.Exec(context.Background())
	vec, err := res.Vector()
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	out := map[string]float64{}
	for _, s := range vec {
		var key []string
		for _, l := range by {
			key = append(key, s.Metric.Get(l))
		}
		out[strings.Join(key, " ")] = math.Round(s.F*1e6) / 1e6
	}
	return out
}

// TestDependencyNodeGraph: the overview's node graph queries return the
// frame Grafana's node graph reads — id, source and target per edge — with
// the request rate and error ratio, and the transformations name them
// mainstat and secondarystat.
func TestDependencyNodeGraph(t *testing.T) {
	b, err := Overview(&catalog.Catalog{Services: testServices()})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(panelsOf(t, b), func(p edgePanel) bool { return p.Type == "nodeGraph" })
	if i < 0 {
		t.Fatal("no nodeGraph panel on the overview")
	}
	p := panelsOf(t, b)[i]
	if len(p.Targets) != 2 || p.Targets[0].RefID != "edges" || p.Targets[1].RefID != "errors" {
		t.Fatalf("targets %+v, want refIds edges and errors", p.Targets)
	}
	rate := evalAt(t, p.Targets[0].Expr, "id", "source", "target")
	if want := map[string]float64{"web→api web api": 1, "web→auth web auth": 0.5, "api→db api db": 0.2}; !mapsEqual(rate, want) {
		t.Errorf("edges frame %v, want %v", rate, want)
	}
	ratio := evalAt(t, p.Targets[1].Expr, "id")
	if want := map[string]float64{"web→api": 0.1, "web→auth": 0, "api→db": 0}; !mapsEqual(ratio, want) {
		t.Errorf("errors frame %v, want %v", ratio, want)
	}
	var aliases []string
	for _, tr := range p.Transformations {
		if tr.ID == "calculateField" {
			aliases = append(aliases, tr.Options["alias"].(string))
		}
	}
	if p.Transformations[0].ID != "merge" || !slices.Equal(aliases, []string{"mainstat", "secondarystat"}) {
		t.Errorf("transformations %+v: want merge, then mainstat and secondarystat", p.Transformations)
	}
}

// TestCallerTable: the service dashboard's caller table gives, per
// caller, its request rate, error ratio and p99, from the caller's edge.
func TestCallerTable(t *testing.T) {
	svc := testServices()[0]
	svc.Name = "api"
	b, err := Service(svc)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(panelsOf(t, b), func(p edgePanel) bool { return strings.HasPrefix(p.Title, "Callers") })
	if i < 0 {
		t.Fatal("no caller table on the service dashboard")
	}
	p := panelsOf(t, b)[i]
	want := []map[string]float64{{"web": 1}, {"web": 0.1}, {"web": 0.1}} // p99 in the (0, 100ms] bucket, at its top
	if len(p.Targets) != len(want) {
		t.Fatalf("%d targets, want requests, errors and p99", len(p.Targets))
	}
	for k, tg := range p.Targets {
		if got := evalAt(t, tg.Expr, "source"); !mapsEqual(got, want[k]) {
			t.Errorf("%s: %v, want %v", tg.RefID, got, want[k])
		}
	}
	tcp := testServices()[1]
	b, err = Service(tcp)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range panelsOf(t, b) {
		if strings.HasPrefix(p.Title, "Callers") && len(p.Targets) != 2 {
			t.Errorf("TCP service: %d caller queries, want requests and errors only", len(p.Targets))
		}
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
