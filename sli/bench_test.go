package sli

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshtel/meshtel/outcome"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkObserve measures classification plus accounting per record, from
// all procs at once over a few services and routes, as the ALS streams do.
// Target: < 50 ns/op and 0 allocs/op. The ceiling sub-benchmark does the
// least any per-service counter must do (a map lookup, a lock, one
// increment) in the same run, so the overhead reads right on a busy machine.
func BenchmarkObserve(b *testing.B) {
	var obs []Observation
	for _, s := range []string{"web", "api", "cart", "search"} {
		for r := 0; r < 4; r++ {
			obs = append(obs, Observation{
				Time: start, Service: s, Route: fmt.Sprintf("route%d", r), Method: "GET", Path: "/api/v1/items?id=7",
				Status: 200, GRPCStatus: -1, Duration: 12 * time.Millisecond, Direction: "inbound",
			})
		}
	}
	obs[3].Status, obs[3].ResponseFlags = 503, []string{"UF", "URX"}
	// Each goroutine plays one stream: one service, its routes in turn.
	run := func(b *testing.B, observe func(*Observation)) {
		var next atomic.Uint32
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			g := int(next.Add(1)) % 4
			mine := append([]Observation(nil), obs[g*4:g*4+4]...)
			k := 0
			for pb.Next() {
				observe(&mine[k&3])
				k++
			}
		})
	}
	b.Run("tracker", func(b *testing.B) {
		clk := &fakeClock{now: start}
		tr, err := New(Config{Catalog: testCatalog(), Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(o *Observation) { tr.Observe(o) })
	})
	b.Run("ceiling", func(b *testing.B) {
		type counter struct {
			mu sync.Mutex
			n  uint64
		}
		m := map[string]*counter{}
		for _, o := range obs {
			m[o.Service] = &counter{}
		}
		run(b, func(o *Observation) {
			c := m[o.Service]
			c.mu.Lock()
			c.n++
			c.mu.Unlock()
		})
	})
}

// BenchmarkObserveOneService is the contended case: every stream logs for
// the same service and route.
func BenchmarkObserveOneService(b *testing.B) {
	clk := &fakeClock{now: start}
	tr, err := New(Config{Catalog: testCatalog(), Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		o := Observation{Time: start, Service: "web", Route: "r", Path: "/", Status: 200, GRPCStatus: -1, Duration: time.Millisecond}
		for pb.Next() {
			tr.Observe(&o)
		}
	})
}

// BenchmarkClassify is the classification alone.
func BenchmarkClassify(b *testing.B) {
	o := Observation{Path: "/api/v1/items?id=7", Status: 503, GRPCStatus: -1, ResponseFlags: []string{"UF", "URX"}, Direction: "inbound"}
	b.ReportAllocs()
	for b.Loop() {
		if Classify(&o, "/status") != outcome.Bad {
			b.Fatal("misclassified")
		}
	}
}

// BenchmarkSeriesMemory reports the heap bytes per (service, SLO) series
// and per (service, route) counter set, with 10k routes over 200 services.
func BenchmarkSeriesMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clk := &fakeClock{now: start}
		tr, err := New(Config{Catalog: testCatalog(), Now: clk.Now, MaxServices: 1000})
		if err != nil {
			b.Fatal(err)
		}
		o := Observation{Time: start, Path: "/", Status: 200, GRPCStatus: -1}
		for s := 0; s < 200; s++ {
			o.Service = fmt.Sprintf("svc%d", s)
			for r := 0; r < 50; r++ {
				o.Route = fmt.Sprintf("route%d", r)
				tr.Observe(&o)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		bytes := float64(after.HeapAlloc - before.HeapAlloc)
		// 200 services × 2 SLOs windowed, 10k (service, route) counter sets.
		b.ReportMetric(bytes/400, "B/service-slo")
		b.ReportMetric(bytes/1e4, "B/route-series")
		b.ReportMetric(bytes/(1<<20), "MiB/10k-routes")
		runtime.KeepAlive(tr)
	}
}

// BenchmarkScrape is one /metrics scrape of 200 services with 50 routes
// each: counters, histograms, budgets and burn rates, all computed then.
func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	clk := &fakeClock{now: start}
	tr, err := New(Config{Catalog: testCatalog(), Now: clk.Now, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	o := Observation{Time: start, Path: "/", Status: 200, GRPCStatus: -1}
	for s := 0; s < 200; s++ {
		o.Service = fmt.Sprintf("svc%d", s)
		for r := 0; r < 50; r++ {
			o.Route = fmt.Sprintf("route%d", r)
			tr.Observe(&o)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
