package alerts

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// promtool unit test file format (`promtool test rules`).
type unitTestFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []testGroup    `yaml:"tests"`
}

type testGroup struct {
	Name          string          `yaml:"name"`
	Interval      model.Duration  `yaml:"interval"`
	InputSeries   []series        `yaml:"input_series"`
	AlertRuleTest []alertTestCase `yaml:"alert_rule_test,omitempty"`
	PromQLExpr    []exprTestCase  `yaml:"promql_expr_test,omitempty"`
}

type series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTestCase struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

type exprTestCase struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []expSample    `yaml:"exp_samples"`
}

type expSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// Test scenario shape: constant traffic of testRate requests per minute
// (more when the low-traffic guard needs it, see steadyRate), scraped
// every minute, checked once every alert's `for` has elapsed.
const (
	testRate     = 1000
	testRoute    = "/"
	testEvalTime = 30 * time.Minute
	testSamples  = 40
	// aboveMargin and belowMargin put the error ratio 10% above a
	// condition's threshold or 10% below a severity's lowest one.
	aboveMargin = 1.1
	belowMargin = 0.9
	// outageAfter is how long the clean history lasts before the 100%
	// outage; outagePage is the least time given the page to fire.
	outageAfter = time.Hour
	outagePage  = 5 * time.Minute
	// oneRPS is one request per second, in requests per scrape minute:
	// the slowest traffic whose outages the guard must not delay.
	oneRPS = 60
	// lowTrafficFailAt is when the one failed request of the low-traffic
	// case happens, after an hour at one request a minute; the case runs
	// for lowTrafficSamples minutes.
	lowTrafficFailAt  = 61 * time.Minute
	lowTrafficSamples = 100
)

// UnitTestsFile renders the `promtool test rules` file of one service. It
// proves, for each SLO: that a steady error ratio just above each burn
// factor fires exactly the severities it should (a steady ratio cannot
// tell a condition's two windows apart: the Go engine tests isolate the
// fast page pair); that each severity stays quiet just below its lowest
// threshold; that a service without traffic records an error ratio of 0
// and alerts nothing; that a total outage after an hour of clean traffic
// pages within five minutes (longer for objectives below 99.9%, see
// outageDetect), at 1000 requests a minute and at one request a second
// alike; and, when the low-traffic guard is on, that one failed request at
// one request a minute pages nothing. rulesFile is the rule file's path
// relative to the test file.
func UnitTestsFile(cat *catalog.Catalog, svc catalog.Service, cfg Config, rulesFile string) ([]byte, error) {
	slos, err := SLOs(svc)
	if err != nil {
		return nil, err
	}
	f := unitTestFile{
		RuleFiles:          []string{rulesFile},
		EvaluationInterval: model.Duration(time.Minute),
	}
	for _, s := range slos {
		budget, err := strconv.ParseFloat(s.Budget, 64)
		if err != nil {
			return nil, fmt.Errorf("service %q slo %q: %w", svc.Name, s.Name, err)
		}
		for _, b := range s.Alerts() {
			ratio := aboveMargin * b.Factor * budget
			if ratio >= 1 {
				// A budget this large cannot be burnt this fast: the
				// condition can never fire, so there is nothing to prove.
				continue
			}
			name := fmt.Sprintf("%s %s: a steady burn 10%% above %s× (%s and %s) fires %s", svc.Name, s.Name,
				humanFactor(b.Factor), b.Long.Name, b.Short.Name, joinSeverities(firingSeverities(s, ratio, budget)))
			g, err := constantBurn(cat, svc, slos, s, ratio, budget, cfg, name)
			if err != nil {
				return nil, err
			}
			f.Tests = append(f.Tests, g)
		}
		for _, sev := range severities() {
			ratio := belowMargin * minFactor(s, sev) * budget
			if ratio >= 1 {
				continue
			}
			name := fmt.Sprintf("%s %s: %s stays quiet 10%% below %s× burn", svc.Name, s.Name, sev, humanFactor(minFactor(s, sev)))
			g, err := constantBurn(cat, svc, slos, s, ratio, budget, cfg, name)
			if err != nil {
				return nil, err
			}
			f.Tests = append(f.Tests, g)
		}
	}
	if len(slos) > 0 {
		f.Tests = append(f.Tests, noTraffic(svc, slos))
	}
	for _, s := range slos {
		budget, _ := strconv.ParseFloat(s.Budget, 64)
		detect, ok := outageDetect(s, budget)
		if !ok {
			continue
		}
		for _, rate := range []float64{testRate, oneRPS} {
			g, err := outage(cat, svc, slos, s, detect, rate, cfg)
			if err != nil {
				return nil, err
			}
			f.Tests = append(f.Tests, g)
		}
	}
	for _, s := range slos {
		g, ok, err := lowTraffic(svc, slos, s)
		if err != nil {
			return nil, err
		}
		if ok {
			f.Tests = append(f.Tests, g)
		}
	}
	return marshalYAML(f)
}

// expected is the alert one SLO and severity of svc raises, as promtool
// must see it.
func expected(cat *catalog.Catalog, svc catalog.Service, s SLO, sev sli.Severity, cfg Config) (expAlert, error) {
	guards, err := Guards(svc, s, sev)
	if err != nil {
		return expAlert{}, err
	}
	return expAlert{
		ExpLabels:      alertLabels(svc, s, sev),
		ExpAnnotations: annotations(cat, svc, s, sev, guards, cfg),
	}, nil
}

// steadyRate is the requests per minute of a steady-burn case at error
// ratio ratio: testRate, or a power of ten above it when the low-traffic
// guard would otherwise hold the case back, so those cases test the burn
// thresholds alone (the guard has cases of its own). The guard is met
// with a margin by the time a ticket must start pending to fire at
// testEvalTime.
func steadyRate(svc catalog.Service, ratio float64) float64 {
	rate := float64(testRate)
	span := ((testEvalTime - ticketFor) * 2 / 3).Minutes()
	for ratio*rate*span < float64(svc.Alerting.MinBadEvents) {
		rate *= 10
	}
	return rate
}

// RulesPathFromTests is where UnitTestsFile's rule_files entry points when the
// layout of SPEC §5 is kept (prometheus/tests next to prometheus/rules).
func RulesPathFromTests(service string) string {
	return path.Join("..", "rules", service+".rules.yml")
}

// formatFactor prints a factor exactly, for the rules.
func formatFactor(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// humanFactor prints a factor for people: four significant digits, so the
// 28d window's 0.9333333333333333 reads 0.9333 (14.4 stays 14.4).
func humanFactor(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

func minFactor(s SLO, sev sli.Severity) float64 {
	m := math.Inf(1)
	for _, b := range s.Alerts() {
		if b.Severity == sev {
			m = math.Min(m, b.Factor)
		}
	}
	return m
}

func seriesName(metric, service, slo string) string {
	return fmt.Sprintf("%s{service=%q,route=%q,slo=%q}", metric, service, testRoute, slo)
}

// counter is a promtool series notation for a counter growing by step per
// interval for n intervals.
func counter(step float64, n int) string {
	return fmt.Sprintf("0+%sx%d", strconv.FormatFloat(step, 'f', -1, 64), n)
}

// constantBurn is a test where the SLO under test has a constant error
// ratio and every other SLO of the service is clean. Because the ratio is
// constant, every window sees the same ratio, so exactly the severities
// with a condition below it must fire.
func constantBurn(cat *catalog.Catalog, svc catalog.Service, slos []SLO, s SLO, ratio, budget float64, cfg Config, name string) (testGroup, error) {
	g := testGroup{Name: name, Interval: model.Duration(time.Minute)}
	rate := steadyRate(svc, ratio)
	for _, o := range slos {
		errs := 0.0
		if o.Name == s.Name {
			errs = ratio * rate
		}
		g.InputSeries = append(g.InputSeries,
			series{seriesName(RequestsMetric, svc.Name, o.Name), counter(rate, testSamples)},
			series{seriesName(ErrorsMetric, svc.Name, o.Name), counter(roundStep(errs), testSamples)},
		)
	}
	tc := alertTestCase{EvalTime: model.Duration(testEvalTime), Alertname: AlertName, ExpAlerts: []expAlert{}}
	for _, sev := range firingSeverities(s, ratio, budget) {
		a, err := expected(cat, svc, s, sev, cfg)
		if err != nil {
			return g, err
		}
		tc.ExpAlerts = append(tc.ExpAlerts, a)
	}
	g.AlertRuleTest = []alertTestCase{tc}
	return g, nil
}

// firingSeverities are the severities a steady error ratio fires: with a
// constant ratio every window sees the same value, so a severity fires
// exactly when one of its factors is below the burn.
func firingSeverities(s SLO, ratio, budget float64) []sli.Severity {
	var out []sli.Severity
	for _, sev := range severities() {
		if ratio > minFactor(s, sev)*budget {
			out = append(out, sev)
		}
	}
	return out
}

func joinSeverities(sevs []sli.Severity) string {
	names := make([]string, len(sevs))
	for i, s := range sevs {
		names[i] = string(s)
	}
	return strings.Join(names, " and ")
}

// roundStep keeps promtool's series notation short; a millionth of a
// request per minute is far inside the 10% margins.
func roundStep(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// noTraffic: counters that exist but do not move must record an error
// ratio of 0 for every window (SLI 1, no NaN) and raise nothing.
func noTraffic(svc catalog.Service, slos []SLO) testGroup {
	g := testGroup{Name: svc.Name + ": no traffic records SLI 1 and alerts nothing", Interval: model.Duration(time.Minute)}
	for _, o := range slos {
		g.InputSeries = append(g.InputSeries,
			series{seriesName(RequestsMetric, svc.Name, o.Name), fmt.Sprintf("0x%d", testSamples)},
			series{seriesName(ErrorsMetric, svc.Name, o.Name), fmt.Sprintf("0x%d", testSamples)},
		)
	}
	g.AlertRuleTest = []alertTestCase{{EvalTime: model.Duration(testEvalTime), Alertname: AlertName, ExpAlerts: []expAlert{}}}
	for _, w := range sli.Windows {
		tc := exprTestCase{Expr: RecordName(w.Name), EvalTime: model.Duration(testEvalTime)}
		for _, o := range slos {
			tc.ExpSamples = append(tc.ExpSamples, expSample{
				Labels: fmt.Sprintf("%s{generator=%q,service=%q,slo=%q}", RecordName(w.Name), Generator, svc.Name, o.Name),
			})
		}
		g.PromQLExpr = append(g.PromQLExpr, tc)
	}
	return g
}

// outageDetect is how long after the start of a total outage the page must
// be firing: the time the 1h window needs to cross the fastest page
// threshold, plus the page's `for`, plus a scrape and an evaluation.
// ok is false when the ticket could fire first (its `for` would have
// elapsed), which leaves nothing crisp to prove.
func outageDetect(s SLO, budget float64) (d time.Duration, ok bool) {
	alerts := s.Alerts()
	fastest := alerts[0]
	for _, b := range alerts {
		if b.Severity == sli.Page && b.Factor > fastest.Factor {
			fastest = b
		}
	}
	cross := time.Duration(math.Ceil(fastest.Factor*budget*fastest.Long.Duration.Minutes())) * time.Minute
	d = max(cross+pageFor+2*time.Minute, outagePage)
	return d, fastest.Factor*budget < 1 && d < ticketFor
}

// outage: a clean hour (the fastest page window full) at rate requests
// a minute, then every request of one SLO fails. Nothing fires before; the
// page fires within outageDetect — five minutes for objectives of 99.9%
// and up — whether the service takes 1000 requests a minute or one a
// second: the low-traffic guard must not delay it.
func outage(cat *catalog.Catalog, svc catalog.Service, slos []SLO, s SLO, detect time.Duration, rate float64, cfg Config) (testGroup, error) {
	traffic := fmt.Sprintf("%s requests a minute", formatFactor(rate))
	if rate == oneRPS {
		traffic = "one request a second"
	}
	g := testGroup{
		Name:     fmt.Sprintf("%s %s: a total outage at %s pages within %s", svc.Name, s.Name, traffic, model.Duration(detect)),
		Interval: model.Duration(time.Minute),
	}
	clean := int(outageAfter / time.Minute)
	after := int((detect + 5*time.Minute) / time.Minute)
	for _, o := range slos {
		errs := fmt.Sprintf("0x%d", clean+after)
		if o.Name == s.Name {
			errs = fmt.Sprintf("0x%d %s", clean, counterFrom(rate, rate, after-1))
		}
		g.InputSeries = append(g.InputSeries,
			series{seriesName(RequestsMetric, svc.Name, o.Name), counter(rate, clean+after)},
			series{seriesName(ErrorsMetric, svc.Name, o.Name), errs},
		)
	}
	page, err := expected(cat, svc, s, sli.Page, cfg)
	if err != nil {
		return g, err
	}
	g.AlertRuleTest = []alertTestCase{
		{EvalTime: model.Duration(outageAfter), Alertname: AlertName, ExpAlerts: []expAlert{}},
		{EvalTime: model.Duration(outageAfter + detect), Alertname: AlertName, ExpAlerts: []expAlert{page}},
	}
	return g, nil
}

// counterFrom is a promtool series notation for a counter starting at
// start and growing by step per interval for n intervals.
func counterFrom(start, step float64, n int) string {
	return fmt.Sprintf("%s+%sx%d", formatFactor(start), formatFactor(step), n)
}

// lowTraffic: an hour at one request a minute, then one request fails
// (SPEC §5: "one failed request at one request a minute never pages").
// While the failure is inside every window, nothing fires, not even once
// a ticket's `for` has passed. Where the fast page pair's burn conditions
// alone hold for that one failure (objectives from about 99.885%), the
// case also shows HeldBackExpr saying so: the guard is what keeps the
// pager quiet. ok is false when the guard is off or lets a
// single failure through (objectives above 99.998%, see Guard.Min).
func lowTraffic(svc catalog.Service, slos []SLO, s SLO) (g testGroup, ok bool, err error) {
	guards, err := Guards(svc, s, sli.Page)
	if err != nil || guards == nil || guards[0].Min <= 1 {
		return g, false, err
	}
	g = testGroup{
		Name:     fmt.Sprintf("%s %s: one failed request at one request a minute pages nothing", svc.Name, s.Name),
		Interval: model.Duration(time.Minute),
	}
	failAt := int(lowTrafficFailAt / time.Minute)
	for _, o := range slos {
		errs := fmt.Sprintf("0x%d", lowTrafficSamples)
		if o.Name == s.Name {
			errs = fmt.Sprintf("0x%d 1x%d", failAt-1, lowTrafficSamples-failAt)
		}
		g.InputSeries = append(g.InputSeries,
			series{seriesName(RequestsMetric, svc.Name, o.Name), counter(1, lowTrafficSamples)},
			series{seriesName(ErrorsMetric, svc.Name, o.Name), errs},
		)
	}
	// Without the guard the page would fire 2m after the failure and the
	// ticket 15m after it.
	for _, at := range []time.Duration{lowTrafficFailAt + pageFor + time.Minute, lowTrafficFailAt + ticketFor + 5*time.Minute} {
		g.AlertRuleTest = append(g.AlertRuleTest, alertTestCase{EvalTime: model.Duration(at), Alertname: AlertName, ExpAlerts: []expAlert{}})
	}
	fast := guards[0].Pair
	budget, _ := strconv.ParseFloat(s.Budget, 64)
	if 1.0/fast.Long.Duration.Minutes() <= fast.Factor*budget {
		return g, true, nil
	}
	g.PromQLExpr = []exprTestCase{{
		Expr:       HeldBackExpr(svc.Name, s, guards[0]),
		EvalTime:   model.Duration(lowTrafficFailAt + pageFor + time.Minute),
		ExpSamples: []expSample{{Labels: "{}", Value: 1}},
	}}
	return g, true, nil
}
