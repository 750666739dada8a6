package alerts

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

func guarded(objective string, pct float64, minBad int) catalog.Service {
	svc := availabilityOnly(objective, pct)
	svc.Alerting.MinBadEvents = minBad
	return svc
}

func TestGuards(t *testing.T) {
	for _, tc := range []struct {
		objective string
		minBad    int
		sev       sli.Severity
		want      []string // Expr per pair
		wantMin   []float64
	}{
		{"99.9", 10, sli.Page, []string{"10", "10"}, []float64{10, 10}},
		{"99.9", 10, sli.Ticket, []string{"10", "10"}, []float64{10, 10}},
		// 99.99%: at one request a second the 1h pair's threshold is
		// crossed after 5.184 bad requests, so the guard asks no more.
		{"99.99", 10, sli.Page, []string{"(14.4 * 0.0001 * 3600)", "10"}, []float64{5.184, 10}},
		{"99.99", 10, sli.Ticket, []string{"10", "10"}, []float64{10, 10}},
		{"99.9", 100, sli.Page, []string{"(14.4 * 0.001 * 3600)", "100"}, []float64{51.84, 100}},
		{"99.9", 200, sli.Page, []string{"(14.4 * 0.001 * 3600)", "(6 * 0.001 * 21600)"}, []float64{51.84, 129.6}},
		{"99.9", 100, sli.Ticket, []string{"100", "100"}, []float64{100, 100}},
		// Exactly at the cap, the catalog's number is kept.
		{"99.5", 1296, sli.Ticket, []string{"1296", "1296"}, []float64{1296, 1296}},
		{"99.999", 1, sli.Page, []string{"(14.4 * 0.00001 * 3600)", "1"}, []float64{0.5184, 1}},
		{"99.9", 0, sli.Page, nil, nil},
	} {
		name := fmt.Sprintf("%s/%d/%s", tc.objective, tc.minBad, tc.sev)
		t.Run(name, func(t *testing.T) {
			svc := guarded(tc.objective, 0, tc.minBad)
			slos, err := SLOs(svc)
			if err != nil {
				t.Fatal(err)
			}
			gs, err := Guards(svc, slos[0], tc.sev)
			if err != nil {
				t.Fatal(err)
			}
			var exprs []string
			var mins []float64
			for i, g := range gs {
				exprs = append(exprs, g.Expr)
				mins = append(mins, g.Min)
				if g.Pair != pairs(slos[0], tc.sev)[i] {
					t.Errorf("guard %d belongs to %+v, want %+v", i, g.Pair, pairs(slos[0], tc.sev)[i])
				}
			}
			if !slices.Equal(exprs, tc.want) {
				t.Errorf("Expr = %q, want %q", exprs, tc.want)
			}
			for i := range mins {
				if d := mins[i] - tc.wantMin[i]; d > 1e-9 || d < -1e-9 {
					t.Errorf("Min = %v, want %v", mins, tc.wantMin)
				}
			}
		})
	}
}

// The guard as it appears in the rules: one more condition per window
// pair, on the pair's long window, and none when it is off.
func TestGuardExpression(t *testing.T) {
	for _, tc := range []struct {
		minBad int
		want   []string
	}{
		{10, []string{
			`slo:sli_bad_events:increase1h{service="checkout",slo="availability",generator="meshtel"} >= 10`,
			`slo:sli_bad_events:increase6h{service="checkout",slo="availability",generator="meshtel"} >= 10`,
			`slo:sli_bad_events:increase1d{service="checkout",slo="availability",generator="meshtel"} >= 10`,
			`slo:sli_bad_events:increase3d{service="checkout",slo="availability",generator="meshtel"} >= 10`,
		}},
		{0, nil},
	} {
		out, err := RulesFile(nil, guarded("99.9", 99.9, tc.minBad), Config{})
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Count(out, []byte("slo:sli_bad_events:increase")) - len(guardWindows()); got != len(tc.want) {
			t.Errorf("min_bad_events %d: %d guard conditions, want %d", tc.minBad, got, len(tc.want))
		}
		for _, w := range tc.want {
			if !bytes.Contains(out, []byte(w)) {
				t.Errorf("min_bad_events %d: rules lack %s", tc.minBad, w)
			}
		}
	}
}

// Ten requests a minute for seven hours; at 6h, a burst of k failures in
// one minute. Only the fast page pair (1h ∧ 5m, 14.4× of a 0.001 budget)
// sees it as a burn once k > 8.64 (the 6h pair would need k > 21.6):
// whether it pages is the guard's call.
func TestEngineGuard(t *testing.T) {
	for _, tc := range []struct {
		name     string
		minBad   int
		failures int
		page     bool
	}{
		{"guard not met", 10, 9, false},
		{"guard met", 10, 12, true},
		{"guard met exactly", 9, 9, true},
		{"guard off", 0, 9, true},
		{"no burn, guard off", 0, 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			load := fmt.Sprintf(`load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+10x420
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0x359 %dx60
`, tc.failures)
			got, _ := evaluateRules(t, guarded("99.9", 99.9, tc.minBad), nil, load, 350*time.Minute, 390*time.Minute, time.Minute)
			if _, paged := got["availability/page"]; paged != tc.page {
				t.Errorf("%d failures, min_bad_events %d: paged %v, want %v (fired: %v)", tc.failures, tc.minBad, paged, tc.page, got)
			}
		})
	}
}

// SPEC §5: one failed request at one request a minute never pages. Eight
// hours at one request a minute with a single failed request every two
// hours: without the guard each one pages, with it none does.
func TestEngineLowTrafficPages(t *testing.T) {
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+1x480
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0x59 1x119 2x119 3x119 4x60
`
	counts := map[int]map[string]int{}
	for _, minBad := range []int{catalog.DefaultMinBadEvents, 0} {
		_, counts[minBad] = evaluateRules(t, guarded("99.9", 99.9, minBad), nil, load, 0, 480*time.Minute, time.Minute)
	}
	with, without := counts[catalog.DefaultMinBadEvents], counts[0]
	t.Logf("4 isolated failures at 1 request/min over 8h, 99.9%%: with the guard %d pages and %d tickets; without it %d pages and %d tickets",
		with["availability/page"], with["availability/ticket"], without["availability/page"], without["availability/ticket"])
	if with["availability/page"] != 0 || with["availability/ticket"] != 0 {
		t.Errorf("with the guard: %v, want nothing", with)
	}
	if without["availability/page"] != 4 {
		t.Errorf("without the guard: %d pages, want one per failure (4): the scenario does not test the guard", without["availability/page"])
	}
}

// SPEC §5: the guard does not delay detection of a real outage (100%
// errors) at one request per second or more. After six hours at one
// request a second (every page window full), for every objective and
// min_bad_events, the page fires at the same minute with and without the
// guard. Without its cap (Guard.Min) a large min_bad_events would hold the
// page back, which the last case shows.
func TestEngineOutageAtOneRPSNotDelayed(t *testing.T) {
	load := `load 1m
	mesh_sli_requests_total{service="checkout",route="/",slo="availability"} 0+60x390
	mesh_sli_errors_total{service="checkout",route="/",slo="availability"} 0x360 60+60x29
`
	outage := 360 * time.Minute
	pageAt := func(t *testing.T, svc catalog.Service, edit func([]byte) []byte) time.Duration {
		t.Helper()
		got, _ := evaluateRules(t, svc, edit, load, outage-10*time.Minute, outage+30*time.Minute, time.Minute)
		at, ok := got["availability/page"]
		if !ok {
			t.Fatalf("min_bad_events %d: the outage never paged (fired: %v)", svc.Alerting.MinBadEvents, got)
		}
		return at - outage
	}
	objectives := map[string]float64{"99": 99, "99.9": 99.9, "99.95": 99.95, "99.99": 99.99, "99.999": 99.999}
	for _, text := range []string{"99", "99.9", "99.95", "99.99", "99.999"} {
		t.Run(text, func(t *testing.T) {
			t.Parallel()
			base := pageAt(t, guarded(text, objectives[text], 0), nil)
			for _, minBad := range []int{catalog.DefaultMinBadEvents, 1000} {
				if got := pageAt(t, guarded(text, objectives[text], minBad), nil); got != base {
					t.Errorf("min_bad_events %d: paged %s after the outage began, %s without the guard", minBad, got, base)
				}
			}
		})
	}
	t.Run("uncapped", func(t *testing.T) {
		t.Parallel()
		uncap := func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte(">= (14.4 * 0.001 * 3600)"), []byte(">= 1000"))
		}
		svc := guarded("99.9", 99.9, 1000)
		out, _ := RulesFile(nil, svc, Config{})
		if !strings.Contains(string(out), ">= (14.4 * 0.001 * 3600)") {
			t.Fatal("no capped guard to remove")
		}
		if capped, uncapped := pageAt(t, svc, nil), pageAt(t, svc, uncap); uncapped <= capped {
			t.Errorf("without the cap the page came at %s, with it at %s: the cap makes no difference here", uncapped, capped)
		}
	})
}
