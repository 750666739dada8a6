package edges

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
)

// BigMesh returns a catalog of n services, each declaring up to per
// upstreams, and calls making edges edges among them: every declared
// upstream is called, plus undeclared calls until the count is reached.
// The web UI's benchmarks use the same shape.
func bigMesh(tb testing.TB, n, per, edges int) (*catalog.Catalog, []Observation) {
	tb.Helper()
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - http_service: svc-%03d\n    port: %d\n", i, 10000+i)
		if i+1 < n {
			b.WriteString("    upstreams: [")
			for j := 1; j <= per && i+j < n; j++ {
				if j > 1 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "svc-%03d", i+j)
			}
			b.WriteString("]\n")
		}
	}
	cat, err := catalog.Parse("big.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	var calls []Observation
	seen := map[[2]int]bool{}
	add := func(i, j int) {
		if len(calls) < edges && !seen[[2]int{i, j}] {
			seen[[2]int{i, j}] = true
			calls = append(calls, Observation{Time: testNow, Source: fmt.Sprintf("svc-%03d", i), Destination: fmt.Sprintf("svc-%03d", j),
				Status: 200, GRPCStatus: -1, Duration: time.Duration(1+len(calls)%300) * time.Millisecond})
		}
	}
	for i := range n {
		for j := 1; j <= per && i+j < n; j++ {
			add(i, i+j)
		}
	}
	// Undeclared calls: every pair in turn, spread over the sources.
	for k := 0; len(calls) < edges && k < n*n; k++ {
		add(k%n, (k/n*7+k)%n)
	}
	return cat, calls
}

// BenchmarkMemoryPerEdge measures what one edge costs a tracker: 5,000
// edges among 500 services, heap after minus heap before, per edge.
func BenchmarkMemoryPerEdge(b *testing.B) {
	cat, calls := bigMesh(b, 500, 8, 5000)
	var perEdge float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, err := New(Config{Catalog: cat, Now: func() time.Time { return testNow }})
		if err != nil {
			b.Fatal(err)
		}
		for i := range calls {
			tr.Observe(&calls[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEdge = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(calls))
		runtime.KeepAlive(tr)
	}
	b.ReportMetric(perEdge, "bytes/edge")
}

// BenchmarkObserve is the hot path: one outbound call on a known edge.
func BenchmarkObserve(b *testing.B) {
	cat, calls := bigMesh(b, 500, 8, 5000)
	tr, err := New(Config{Catalog: cat, Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Observe(&calls[i%len(calls)])
		i++
	}
}

// BenchmarkSnapshot is what one /api/dependencies or scrape costs at 5,000
// edges.
func BenchmarkSnapshot(b *testing.B) {
	cat, calls := bigMesh(b, 500, 8, 5000)
	tr, err := New(Config{Catalog: cat, Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	for i := range calls {
		tr.Observe(&calls[i])
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := tr.Snapshot(); len(r.Edges) != len(calls) {
			b.Fatalf("%d edges", len(r.Edges))
		}
	}
}
