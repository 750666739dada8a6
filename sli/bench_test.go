package sli

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkObserve measures classification plus accounting per record, from
// all procs at once over a few services and routes, as the ALS streams do.
// Target: < 50 ns/op and 0 allocs/op.
func BenchmarkObserve(b *testing.B) {
	clk := &fakeClock{now: start}
	tr, err := New(Config{Catalog: testCatalog(), Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	services := []string{"web", "api", "cart", "search"}
	var obs []Observation
	for _, s := range services {
		for r := 0; r < 4; r++ {
			obs = append(obs, Observation{
				Time: start, Service: s, Route: fmt.Sprintf("route%d", r), Method: "GET", Path: "/api/v1/items?id=7",
				Status: 200, GRPCStatus: -1, Duration: 12 * time.Millisecond, Direction: "inbound",
				ResponseFlags: nil,
			})
		}
	}
	obs[3].Status, obs[3].ResponseFlags = 503, []string{"UF", "URX"}
	for i := range obs {
		tr.Observe(&obs[i])
	}
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine its own copies, as each stream decodes its own.
		mine := append([]Observation(nil), obs...)
		k := int(next.Add(1))
		for pb.Next() {
			tr.Observe(&mine[k%len(mine)])
			k++
		}
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
		if Classify(&o, "/status") != Bad {
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
