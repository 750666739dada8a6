package webui

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/sli"
)

// BenchmarkPages renders each page of the demo mesh with six hours of
// traffic: what one browser tab costs alsd per auto-refresh.
func BenchmarkPages(b *testing.B) {
	f := newFixture(b, true)
	h := f.ui.Handler()
	for _, path := range []string{"/", "/slo/my_website", "/cookies", "/pipeline"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkSample is Run's work every SampleInterval.
func BenchmarkSample(b *testing.B) {
	f := newFixture(b, true)
	b.ReportAllocs()
	for b.Loop() {
		f.ui.Sample()
	}
}

// bigMesh is a catalog of 500 services in six tiers, each calling a dozen
// services in the tiers below: calls making 5,000 edges, most declared,
// some not, and some declarations never called.
func bigMesh(b *testing.B) (*catalog.Catalog, []edges.Observation) {
	b.Helper()
	tiers := []int{40, 60, 100, 120, 100, 80}
	var names [][]string
	for t, n := range tiers {
		var tier []string
		for i := range n {
			tier = append(tier, fmt.Sprintf("tier%d-svc-%03d", t, i))
		}
		names = append(names, tier)
	}
	var yaml strings.Builder
	yaml.WriteString("services:\n")
	var calls []edges.Observation
	for t, tier := range names {
		for i, src := range tier {
			fmt.Fprintf(&yaml, "  - http_service: %s\n    port: %d\n", src, 10000+t*1000+i)
			if t == len(names)-1 {
				continue
			}
			var ups []string
			for k := range 13 {
				below := names[t+1+k%min(2, len(names)-t-1)]
				dst := below[(i*7+k*13)%len(below)]
				if !slices.Contains(ups, dst) {
					ups = append(ups, dst)
				}
			}
			fmt.Fprintf(&yaml, "    upstreams: [%s]\n", strings.Join(ups, ", "))
			for k, dst := range ups[1:] { // the first is declared, never called
				calls = append(calls, edges.Observation{Time: fixtureNow, Source: src, Destination: dst,
					Status: []int{200, 200, 200, 503}[k%4], GRPCStatus: -1, Duration: time.Duration(k+1) * time.Millisecond})
			}
			if i%3 == 0 { // an undeclared call
				calls = append(calls, edges.Observation{Time: fixtureNow, Source: src, Destination: names[len(names)-1][i%80], Status: 200, GRPCStatus: -1})
			}
		}
	}
	cat, err := catalog.Parse("big.yaml", []byte(yaml.String()))
	if err != nil {
		b.Fatal(err)
	}
	seen := map[[2]string]bool{}
	calls = slices.DeleteFunc(calls, func(o edges.Observation) bool {
		k := [2]string{o.Source, o.Destination}
		if seen[k] || len(seen) >= 5000 {
			return true
		}
		seen[k] = true
		return false
	})
	return cat, calls
}

// BenchmarkGraph renders /graph for 500 services and 5,000 edges: the
// layout, the SVG and the edge table, what one auto-refresh costs.
func BenchmarkGraph(b *testing.B) {
	cat, calls := bigMesh(b)
	now := func() time.Time { return fixtureNow }
	et, err := edges.New(edges.Config{Catalog: cat, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	for i := range calls {
		for range 1 + i%5 {
			et.Observe(&calls[i])
		}
	}
	tr, err := sli.New(sli.Config{Catalog: cat, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	u, err := New(Config{SLO: tr.Snapshot, Dependencies: et.Snapshot, Catalog: cat, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	rep := et.Snapshot()
	b.Run("page", func(b *testing.B) {
		h := u.Handler()
		var size int
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graph", nil))
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
			size = rec.Body.Len()
		}
		b.ReportMetric(float64(len(cat.Services)), "services")
		b.ReportMetric(float64(len(rep.Edges)), "edges")
		b.ReportMetric(float64(size)/1e6, "MB/page")
	})
	// The layout and the drawing's data alone, without the report, the
	// SLO statuses' source or the template.
	b.Run("layout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v graphView
			u.buildGraph(&v, rep)
		}
	})
}
