package alerts

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// windowed is an availability-only service with SLO window w.
func windowed(w catalog.Window) catalog.Service {
	svc := availabilityOnly("99.9", 99.9)
	svc.SLOs.Availability.Window = w
	return svc
}

// TestRulesPerWindow: each window's rules carry its own burn factors (the
// workbook's budget shares for its length), record its own rolling budget
// window and say which window the objective is over.
func TestRulesPerWindow(t *testing.T) {
	for _, tc := range []struct {
		window     catalog.Window
		thresholds []string
		record     string // the budget window's recording rule; "" for none
		over       string
	}{
		{catalog.Window30d, []string{"(14.4 * 0.001)", "(6 * 0.001)", "(3 * 0.001)", "(1 * 0.001)"}, "30d", "over 30d"},
		{catalog.Window28d, []string{"(13.44 * 0.001)", "(5.6 * 0.001)", "(2.8 * 0.001)", "(0.9333333333333333 * 0.001)"}, "28d", "over 28d"},
		{catalog.Window7d, []string{"(3.36 * 0.001)", "(1.4 * 0.001)", "(0.7 * 0.001)", "(0.23333333333333334 * 0.001)"}, "7d", "over 7d"},
		{catalog.WindowMonth, []string{"(14.4 * 0.001)", "(6 * 0.001)", "(3 * 0.001)", "(1 * 0.001)"}, "", "over the calendar month"},
	} {
		t.Run(string(tc.window), func(t *testing.T) {
			svc := windowed(tc.window)
			out, err := RulesFile(nil, svc, Config{})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range append(tc.thresholds, "objective 99.9% "+tc.over) {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("rules lack %q", want)
				}
			}
			groups, err := RuleGroups(nil, svc, Config{})
			if err != nil {
				t.Fatal(err)
			}
			var budgets []string
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					w := strings.TrimPrefix(r.Record, RecordPrefix)
					if strings.HasSuffix(w, "d") && w != "1d" && w != "3d" && !strings.HasPrefix(r.Record, BadEventsPrefix) {
						budgets = append(budgets, w)
						if g.Interval == 0 || !strings.Contains(r.Expr, "increase(") || !strings.Contains(r.Expr, "["+w+"]") {
							t.Errorf("%s: not a long-window increase ratio in %s:\n%s", r.Record, g.Name, r.Expr)
						}
					}
				}
			}
			if want := tc.record; (want == "" && len(budgets) != 0) || (want != "" && (len(budgets) != 1 || budgets[0] != want)) {
				t.Errorf("budget recording rules %v, want %q", budgets, want)
			}
		})
	}
}

// TestEngineBurnPerWindow: the same 2× burn (ratio 0.002 against a 0.001
// budget) for two hours tickets a 30d or 28d SLO but pages a 7d one: at
// 2× a week's budget is gone in 3.5 days, and 1.4× over 6h and 30m is 5%
// of it in six hours.
func TestEngineBurnPerWindow(t *testing.T) {
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+1000x120
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0+2x120
`
	for w, wantPage := range map[catalog.Window]bool{catalog.Window30d: false, catalog.Window28d: false, catalog.Window7d: true, catalog.WindowMonth: false} {
		got := evaluate(t, windowed(w), load, 120*time.Minute, time.Minute)
		if _, ok := got["availability/ticket"]; !ok {
			t.Errorf("%s: no ticket at 2× burn; fired %v", w, got)
		}
		if _, ok := got["availability/page"]; ok != wantPage {
			t.Errorf("%s: page fired %v at 2× burn, want %v", w, ok, wantPage)
		}
	}
}

// TestPromtoolPerWindow: the generated promtool tests of a 7d SLO, whose
// factors differ most from the 30d ones, next to a 30d latency SLO pass
// against their rules. (artifacts' TestPromtool runs every window of the
// example catalog.)
func TestPromtoolPerWindow(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	for _, w := range []catalog.Window{catalog.Window7d} {
		svc := windowed(w)
		svc.Name = "svc_" + string(w)
		svc.Alerting.MinBadEvents = 10
		svc.SLOs.Latency = &catalog.LatencyObjective{Objective: catalog.Objective{Percent: 99, Text: "99", Window: catalog.Window30d},
			Threshold: time.Second, ThresholdText: "1s"}
		cat := testCatalog()
		rules, err := RulesFile(cat, svc, testCfg)
		if err != nil {
			t.Fatal(err)
		}
		dir := writeRulesAndTests(t, cat, svc, rules)
		if out, err := exec.Command(bin, "test", "rules", filepath.Join(dir, "tests", svc.Name+".test.yml")).CombinedOutput(); err != nil {
			t.Errorf("%s: promtool test rules: %v\n%s", w, err, out)
		}
	}
	if f := sli.BurnAlertsFor(catalog.Window7d)[3].Factor; humanFactor(f) != "0.2333" {
		t.Errorf("humanFactor(%v) = %s", f, humanFactor(f))
	}
}
