package sli

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/outcome"
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

// yearState is the state of a tracker with 500 services of two SLOs each
// (1000 SLOs) that has had traffic in every slot: 400 days of per-day
// totals and, unless daysOnly, full hour, 15-minute, 2-minute and
// 10-second tiers, with counts of realistic width (40 requests a second).
func yearState(now time.Time, daysOnly bool) *State {
	st := &State{SavedAt: now}
	end := now.Unix()
	for s := 0; s < 500; s++ {
		ss := ServiceState{Name: fmt.Sprintf("service-%03d", s)}
		for ti, tr := range tiers {
			res := int64(tr.res / time.Second)
			n := int64(tr.span/tr.res) + 1
			switch {
			case ti == dayTier:
				n = keptDays + 1
			case daysOnly:
				continue
			}
			for e := end/res - n + 1; e <= end/res; e++ {
				c := uint64(res * 40)
				ss.Slots = append(ss.Slots, SlotState{Resolution: res, Start: e * res,
					Availability: Counts{Total: c, Bad: c / 1000}, Latency: Counts{Total: c, Bad: c / 100}})
			}
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

// BenchmarkCheckpointYear reports the checkpoint of 1000 SLOs (500
// services with availability and latency) with 400 days of per-day
// totals — alone ("days"), and with every other tier full too ("full") —:
// its size in all and per SLO, the time to restore it (read, check,
// decode, fold into a new tracker) and the tracker's heap per SLO.
func BenchmarkCheckpointYear(b *testing.B) {
	now := time.Date(2027, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, daysOnly := range []bool{true, false} {
		name := map[bool]string{true: "days", false: "full"}[daysOnly]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			st := yearState(now, daysOnly)
			if err := writeStateFile(statePath(dir), st); err != nil {
				b.Fatal(err)
			}
			data, _ := st.MarshalBinary()
			var before, after runtime.MemStats
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				tr, err := New(Config{Catalog: catalog.Empty(), StateDir: dir, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				if got := tr.Month(now); len(got.SLOs) != 1000 || got.SLOs[0].Total == 0 {
					b.Fatalf("restored %d SLOs", len(got.SLOs))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(data))/(1<<20), "MiB/checkpoint")
			b.ReportMetric(float64(len(data))/1000, "B/slo")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1000, "heapB/slo")
			b.ReportMetric(float64(keptDays+ringMargin)*16, "dayB/slo")
		})
	}
}
