package sli

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

// TestAgreesWithPromQL scrapes the exported counters every 15s of simulated
// traffic into a TSDB and checks that PromQL's rate-based error ratio per
// window matches the burn rates alsd computes itself, within 1%.
func TestAgreesWithPromQL(t *testing.T) {
	if raceEnabled {
		t.Skip("2M single-goroutine observations: too slow under -race")
	}
	reg := prometheus.NewRegistry()
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{Registerer: reg})

	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = int64(24 * time.Hour / time.Millisecond)
	opts.MaxBlockDuration = opts.MinBlockDuration
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	scrape := func(ts time.Time) {
		mfs := gather(t, reg)
		app := db.Appender(context.Background())
		for _, name := range []string{metricRequests, metricErrors} {
			for _, m := range mfs[name].GetMetric() {
				b := labels.NewScratchBuilder(4)
				b.Add("__name__", name)
				for _, p := range m.GetLabel() {
					b.Add(p.GetName(), p.GetValue())
				}
				b.Sort()
				if _, err := app.Append(0, b.Labels(), ts.UnixMilli(), m.GetCounter().GetValue()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	// 3 hours at 100 req/s per service over three routes, the error rate
	// changing every 10 minutes between 0.05% and 3%. Errors and slow
	// requests are spread evenly (error diffusion), so that the 15s between
	// scrapes that PromQL extrapolates over hold the same error ratio as the
	// rest: the comparison then measures the computation, not sampling luck.
	rng := uint64(42)
	rnd := func() float64 { // xorshift: deterministic and dependency-free
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return float64(rng%1e6) / 1e6
	}
	end := start.Add(3 * time.Hour)
	errRate := 0.0
	acc := map[string]float64{}
	o := Observation{Method: "GET", Path: "/x", GRPCStatus: -1, Direction: "inbound"}
	n := 0
	for ts := start; ts.Before(end); ts = ts.Add(time.Second) {
		if ts.Sub(start)%(10*time.Minute) == 0 {
			errRate = 0.0005 + 0.03*rnd()
		}
		clk.now = ts
		if ts.Sub(start)%(15*time.Second) == 0 {
			scrape(ts)
		}
		for i := 0; i < 200; i++ {
			n++
			o.Time = ts.Add(time.Duration(i) * 5 * time.Millisecond)
			o.Service = []string{"web", "api"}[i%2]
			o.Route = []string{"a", "b", "c"}[i%3]
			o.Status = 200
			if acc[o.Service] += errRate; acc[o.Service] >= 1 {
				acc[o.Service]--
				o.Status = 503
			}
			o.Duration = time.Duration(n*37%331) * time.Millisecond
			tr.Observe(&o)
		}
	}
	clk.now = end
	scrape(end)
	report := tr.Snapshot()

	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	worst := 0.0
	defer func() { t.Logf("largest difference from PromQL: %.3f%%", 100*worst) }()
	for _, w := range Windows {
		if w.Duration > 2*time.Hour {
			continue // longer than the simulated history
		}
		q := `sum by (service, slo) (increase(mesh_sli_errors_total[` + w.Name + `]))
		    / sum by (service, slo) (increase(mesh_sli_requests_total[` + w.Name + `]))`
		qry, err := eng.NewInstantQuery(context.Background(), db, nil, q, end)
		if err != nil {
			t.Fatal(err)
		}
		res := qry.Exec(context.Background())
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		vec, err := res.Vector()
		if err != nil {
			t.Fatal(err)
		}
		if len(vec) != 4 {
			t.Fatalf("%s: %d series, want 4 (web and api, two SLOs)", w.Name, len(vec))
		}
		for _, s := range vec {
			st := find(t, report, s.Metric.Get("service"), s.Metric.Get("slo"))
			ours := st.BurnRates[w.Name] * (1 - st.Objective/100)
			rel := math.Abs(ours-s.F) / s.F
			worst = max(worst, rel)
			if rel > 0.01 {
				t.Errorf("%s %s/%s: alsd error ratio %.6f, PromQL %.6f (%.2f%% apart)",
					w.Name, st.Service, st.SLO, ours, s.F, 100*rel)
			}
		}
		qry.Close()
	}
}
