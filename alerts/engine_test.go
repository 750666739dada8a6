package alerts

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/meshtel/meshtel/catalog"
)

// firing is when an alert of one severity first fired, relative to the
// start of the data.
type firing map[string]time.Duration

// evaluate runs the generated rules of svc with Prometheus' own rule
// manager over the series loaded by load (promqltest "load" syntax), one
// step at a time up to until, evaluating each group at its own interval
// (or every step, when steps are longer) like Prometheus would, and
// returns when each slo/severity first fired.
func evaluate(t *testing.T, svc catalog.Service, load string, until, step time.Duration) firing {
	t.Helper()
	first, _ := evaluateRules(t, svc, nil, load, 0, until, step)
	return first
}

// evaluateRules is evaluate with the rule file passed through edit first
// (when not nil), evaluating from offset from only (the rules keep no
// state across a quiet history, and skipping it saves time); it also
// counts how many times each slo/severity began firing.
func evaluateRules(t *testing.T, svc catalog.Service, edit func([]byte) []byte, load string, from, until, step time.Duration) (firing, map[string]int) {
	t.Helper()
	ordered := loadRules(t, svc, edit, load)
	got, episodes := firing{}, map[string]int{}
	wasFiring := map[string]bool{}
	start := time.Unix(0, 0).UTC()
	for off := from; off <= until; off += step {
		ts := start.Add(off)
		for _, g := range ordered {
			if step < g.Interval() && off%g.Interval() != 0 {
				continue
			}
			g.Eval(context.Background(), ts)
			for _, r := range g.Rules() {
				if err := r.LastError(); err != nil {
					t.Fatalf("rule %s at %s: %v", r.Name(), off, err)
				}
				ar, ok := r.(*rules.AlertingRule)
				if !ok {
					continue
				}
				sev := ar.Labels().Get("slo") + "/" + ar.Labels().Get("severity")
				firingNow := false
				for _, a := range ar.ActiveAlerts() {
					firingNow = firingNow || a.State == rules.StateFiring
				}
				if firingNow && !wasFiring[sev] {
					episodes[sev]++
					if _, seen := got[sev]; !seen {
						got[sev] = off
					}
				}
				wasFiring[sev] = firingNow
			}
		}
	}
	return got, episodes
}

// loadRules loads svc's generated rules (through edit, when not nil) into
// Prometheus' rule manager over the series of load, and returns the
// groups in file order: recordings before the alerts reading them.
func loadRules(t *testing.T, svc catalog.Service, edit func([]byte) []byte, load string) []*rules.Group {
	t.Helper()
	groups, err := RuleGroups(nil, svc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	content, err := RulesFile(nil, svc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		content = edit(content)
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	// Recorded samples are appended behind the loaded data's head time, so
	// the storage must take them out of order; one block keeps it simple.
	week := int64(7 * 24 * time.Hour / time.Millisecond)
	st := promqltest.LoadedStorage(t, load, func(o *tsdb.Options) {
		o.OutOfOrderTimeWindow = week
		o.MinBlockDuration, o.MaxBlockDuration = week, week
	})
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(engine, st),
		AppendableV2: st,
		Queryable:    st,
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       slog.New(slog.DiscardHandler),
	})
	loaded, errs := m.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, file)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var ordered []*rules.Group
	for _, g := range groups.Groups {
		for _, lg := range loaded {
			if lg.Name() == g.Name {
				ordered = append(ordered, lg)
			}
		}
	}
	for _, g := range ordered {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true)
			}
		}
	}
	return ordered
}

func availabilityOnly(objective string, pct float64) catalog.Service {
	return catalog.Service{
		Name: "checkout", Kind: catalog.HTTPService, Team: "web",
		SLOs: catalog.SLOs{Availability: &catalog.Objective{Percent: pct, Text: objective}},
	}
}

func TestEngineOutagePagesWithinFiveMinutes(t *testing.T) {
	// 1000 requests a minute; after an hour every one of them fails.
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+1000x80
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0x60 1000+1000x19
`
	got := evaluate(t, availabilityOnly("99.9", 99.9), load, 80*time.Minute, time.Minute)
	page, ok := got["availability/page"]
	if !ok {
		t.Fatalf("page never fired; fired: %v", got)
	}
	outage := 60 * time.Minute
	if page <= outage || page > outage+5*time.Minute {
		t.Errorf("page fired %s after the outage began, want within (0, 5m]", page-outage)
	}
}

func TestEngineHalfBurnForThreeDaysStaysQuiet(t *testing.T) {
	// Error ratio 0.0005 against a 0.001 budget: a 0.5× burn, which
	// spends only half the budget in 30 days.
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+1000x4380
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0+0.5x4380
`
	// Evaluating every minute, as Prometheus does, takes over a minute;
	// by default every 20m, which still crosses every window's start.
	step := 20 * time.Minute
	if os.Getenv("MESHTEL_LONG_TESTS") != "" {
		step = time.Minute
	}
	got := evaluate(t, availabilityOnly("99.9", 99.9), load, 73*time.Hour, step)
	if len(got) > 0 {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("alerts fired at half the budget burn: %v", keys)
	}
}

func TestEngineBurnAtTicketThresholdFiresTicketOnly(t *testing.T) {
	// Ratio 0.002 against a 0.001 budget: a 2× burn. The 1× ticket
	// condition (3d ∧ 6h) holds; no page condition (≥ 6×) does.
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+1000x120
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0+2x120
`
	got := evaluate(t, availabilityOnly("99.9", 99.9), load, 120*time.Minute, time.Minute)
	if _, ok := got["availability/ticket"]; !ok {
		t.Errorf("ticket did not fire at 2× burn; fired: %v", got)
	}
	if _, ok := got["availability/page"]; ok {
		t.Errorf("page fired at 2× burn")
	}
}

func TestEngineOneHourBurnPagesThroughTheFastPair(t *testing.T) {
	// Six clean hours, then one hour at 15.84× burn (ratio 0.01584
	// against 0.001). The 6h window then sees 15.84/6 = 2.64× < 6×, so
	// only the 14.4× pair (1h ∧ 5m) can page.
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+1000x420
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0x360 15.84+15.84x59
`
	got := evaluate(t, availabilityOnly("99.9", 99.9), load, 420*time.Minute, time.Minute)
	page, ok := got["availability/page"]
	if !ok {
		t.Fatalf("page never fired; fired: %v", got)
	}
	if page <= 360*time.Minute {
		t.Errorf("page fired at %s, before the burn began", page)
	}
}
