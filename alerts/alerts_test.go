package alerts

import (
	"bytes"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

func TestBudgetText(t *testing.T) {
	for _, tc := range []struct {
		objective, want string
		wantErr         bool
	}{
		{"99.9", "0.001", false},
		{"99.95", "0.0005", false},
		{"99", "0.01", false},
		{"99.999", "0.00001", false},
		{"90", "0.1", false},
		{"99.90", "0.001", false},
		{"0.5", "0.995", false},
		{"100", "", true},
		{"0", "", true},
		{"abc", "", true},
	} {
		got, err := budgetText(tc.objective)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("budgetText(%q) = %q, %v; want %q, error %v", tc.objective, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestRatioText(t *testing.T) {
	for objective, want := range map[string]string{"99.9": "0.999", "99.95": "0.9995", "99": "0.99", "0.5": "0.005"} {
		if got, err := ratioText(objective); err != nil || got != want {
			t.Errorf("ratioText(%q) = %q, %v; want %q", objective, got, err, want)
		}
	}
}

// FuzzBudgetText: whatever an objective's text, the budget and the ratio
// are exact decimals that add up to exactly 1, or an error.
func FuzzBudgetText(f *testing.F) {
	for _, s := range []string{"99.9", "99.95", "99", "0.001", "50", "100", "-1", "1e2", "abc", "99.9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, objective string) {
		budget, err := budgetText(objective)
		if err != nil {
			return
		}
		ratio, err := ratioText(objective)
		if err != nil {
			t.Fatalf("budget %q but ratio error %v", budget, err)
		}
		b, ok1 := new(big.Rat).SetString(budget)
		r, ok2 := new(big.Rat).SetString(ratio)
		if !ok1 || !ok2 || strings.ContainsAny(budget+ratio, "eE/") {
			t.Fatalf("not plain decimals: %q %q", budget, ratio)
		}
		if b.Add(b, r).Cmp(big.NewRat(1, 1)) != 0 {
			t.Fatalf("%s + %s != 1 for %q", budget, ratio, objective)
		}
		if b.Sign() <= 0 {
			t.Fatalf("budget %s not positive", budget)
		}
	})
}

func testCatalog() *catalog.Catalog {
	return &catalog.Catalog{
		Defaults: catalog.Defaults{Team: "platform"},
		Teams: []catalog.Team{
			{Name: "web", Receiver: "web-oncall", RunbookBase: "https://runbooks.example.com/web/"},
			{Name: "platform", Receiver: "platform-oncall"},
			{Name: "data", Receiver: "platform-oncall"},
		},
		Services: []catalog.Service{
			{
				Name: "my_website", Kind: catalog.HTTPService, Team: "web",
				SLOs: catalog.SLOs{
					Availability: &catalog.Objective{Percent: 99.95, Text: "99.95"},
					Latency: &catalog.LatencyObjective{
						Objective: catalog.Objective{Percent: 99, Text: "99"},
						Threshold: 500 * time.Millisecond, ThresholdText: "500ms",
					},
				},
			},
			{
				Name: "redis_cache", Kind: catalog.TCPService, Team: "platform", Runbook: "https://wiki/redis",
				SLOs:     catalog.SLOs{Availability: &catalog.Objective{Percent: 99.9, Text: "99.9"}},
				Alerting: catalog.Alerting{MinBadEvents: 10},
			},
		},
	}
}

var testCfg = Config{DashboardURL: func(s string) string { return "https://grafana.example.com/d/" + s }}

func TestRuleGroups(t *testing.T) {
	cat := testCatalog()
	for _, svc := range cat.Services {
		t.Run(svc.Name, func(t *testing.T) {
			groups, err := RuleGroups(cat, svc, testCfg)
			if err != nil {
				t.Fatal(err)
			}
			slos, _ := SLOs(svc)
			records := map[string]bool{}
			alerts := map[string]bool{}
			p := parser.NewParser(parser.Options{})
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					expr, err := p.ParseExpr(r.Expr)
					if err != nil {
						t.Fatalf("%s%s: %v", r.Record, r.Alert, err)
					}
					if r.Labels["generator"] != Generator {
						t.Errorf("%s%s: generator label %q", r.Record, r.Alert, r.Labels["generator"])
					}
					// Every selector is pinned to this service.
					parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
						if vs, ok := n.(*parser.VectorSelector); ok {
							pinned := false
							for _, m := range vs.LabelMatchers {
								pinned = pinned || (m.Name == "service" && m.Value == svc.Name)
							}
							if !pinned {
								t.Errorf("%s%s: selector %s not pinned to service", r.Record, r.Alert, vs)
							}
						}
						return nil
					})
					if r.Record != "" {
						records[r.Record] = true
						if !strings.Contains(r.Expr, "sum by (service, slo)") {
							t.Errorf("%s: not aggregated by (service, slo):\n%s", r.Record, r.Expr)
						}
						if strings.HasPrefix(r.Record, RecordPrefix) && !strings.Contains(r.Expr, "> 0") {
							t.Errorf("%s: division not guarded:\n%s", r.Record, r.Expr)
						}
						continue
					}
					if r.Alert != AlertName {
						t.Errorf("alert named %q", r.Alert)
					}
					key := r.Labels["slo"] + "/" + r.Labels["severity"]
					if alerts[key] {
						t.Errorf("two alert rules for %s", key)
					}
					alerts[key] = true
					if r.Labels["service"] != svc.Name || r.Labels["team"] != svc.Team {
						t.Errorf("%s: labels %v", key, r.Labels)
					}
					if r.Labels["severity"] == string(sli.Page) && time.Duration(r.For) > 2*time.Minute {
						t.Errorf("%s: for %s > 2m on a page", key, r.For)
					}
					if r.Annotations["dashboard"] != testCfg.DashboardURL(svc.Name) {
						t.Errorf("%s: dashboard %q", key, r.Annotations["dashboard"])
					}
				}
			}
			for _, w := range sli.Windows {
				if !records[RecordName(w.Name)] {
					t.Errorf("no recording rule for window %s", w.Name)
				}
			}
			for _, s := range slos {
				if w := sli.WindowOf(s.Window); !w.Calendar() && !records[RecordName(w.Name)] {
					t.Errorf("no recording rule for the budget window %s", w.Name)
				}
			}
			for _, b := range sli.BurnAlerts {
				if !records[BadEventsName(b.Long.Name)] {
					t.Errorf("no bad-request count for the long window %s", b.Long.Name)
				}
			}
			if want := len(slos) * 2; len(alerts) != want {
				t.Errorf("%d alert rules, want %d (%v)", len(alerts), want, alerts)
			}
		})
	}
}

func TestRulesFileLoadsWithRulefmt(t *testing.T) {
	cat := testCatalog()
	for _, svc := range cat.Services {
		out, err := RulesFile(cat, svc, testCfg)
		if err != nil {
			t.Fatal(err)
		}
		groups, errs := rulefmt.Parse(out, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			t.Fatalf("%s: rulefmt rejects the file: %v", svc.Name, errs)
		}
		if len(groups.Groups) != 3 {
			t.Errorf("%s: %d groups", svc.Name, len(groups.Groups))
		}
	}
}

func TestLongWindowsDivideIncreases(t *testing.T) {
	groups, err := RuleGroups(nil, testCatalog().Services[0], Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			w := strings.TrimPrefix(strings.TrimPrefix(r.Record, RecordPrefix), BadEventsPrefix)
			long := w == "1d" || w == "3d" || w == "30d" || w == "28d" || w == "7d"
			if strings.HasPrefix(r.Record, BadEventsPrefix) {
				// Counts are increases at every length; they belong with
				// the ratios of their length all the same.
				if long != (g.Interval != 0) {
					t.Errorf("%s: in group %s", r.Record, g.Name)
				}
				continue
			}
			if long != strings.Contains(r.Expr, "increase(") {
				t.Errorf("%s: long window %v but expr:\n%s", r.Record, long, r.Expr)
			}
		}
	}
}

func TestObjectivesPrintAsWritten(t *testing.T) {
	svc := catalog.Service{
		Name: "pay", Kind: catalog.HTTPService, Team: "web",
		// 99.9 is not representable: 1-0.999 in float64 is 0.0010000000000000009.
		SLOs: catalog.SLOs{Availability: &catalog.Objective{Percent: 99.9, Text: "99.9"}},
	}
	out, err := RulesFile(testCatalog(), svc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(14.4 * 0.001)", "(6 * 0.001)", "(3 * 0.001)", "(1 * 0.001)", "objective 99.9% over 30d"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("rules lack %q", want)
		}
	}
	if bytes.Contains(out, []byte("0000000")) || bytes.Contains(out, []byte("9999999")) {
		t.Errorf("float noise in rules:\n%s", out)
	}
}

func TestRunbook(t *testing.T) {
	cat := testCatalog()
	for _, tc := range []struct {
		svc  catalog.Service
		want string
	}{
		{catalog.Service{Name: "a", Team: "web"}, "https://runbooks.example.com/web/a"},
		{catalog.Service{Name: "b", Team: "web", Runbook: "https://own"}, "https://own"},
		{catalog.Service{Name: "c", Team: "platform"}, ""},
	} {
		if got := runbook(cat, tc.svc); got != tc.want {
			t.Errorf("runbook(%s) = %q, want %q", tc.svc.Name, got, tc.want)
		}
	}
}

func TestRoutesLoadInAlertmanager(t *testing.T) {
	out, err := Routes(testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := amconfig.Load(string(out))
	if err != nil {
		t.Fatalf("alertmanager rejects routes.yml: %v\n%s", err, out)
	}
	if len(cfg.Receivers) != 2 {
		t.Errorf("%d receivers, want one per distinct team receiver (2)", len(cfg.Receivers))
	}
	if cfg.Route.Receiver != "platform-oncall" {
		t.Errorf("root receiver %q, want the default team's", cfg.Route.Receiver)
	}
	// Each team's alert of each severity lands on the team's receiver.
	for _, tc := range []struct{ team, severity, want string }{
		{"web", "page", "web-oncall"},
		{"web", "ticket", "web-oncall"},
		{"data", "page", "platform-oncall"},
		{"nobody", "page", "platform-oncall"},
	} {
		route := cfg.Route
		for matched := true; matched; {
			matched = false
			for _, r := range route.Routes {
				if matchAll(r, map[string]string{"team": tc.team, "severity": tc.severity}) {
					route, matched = r, true
					break
				}
			}
		}
		recv := route.Receiver
		if recv == "" {
			recv = parentReceiver(cfg.Route, route)
		}
		if recv != tc.want {
			t.Errorf("team %s severity %s routed to %q, want %q", tc.team, tc.severity, recv, tc.want)
		}
		if tc.team != "nobody" && route.RepeatInterval == nil {
			t.Errorf("team %s severity %s: no severity route", tc.team, tc.severity)
		}
	}
}

func matchAll(r *amconfig.Route, ls map[string]string) bool {
	for _, m := range r.Matchers {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// parentReceiver is the receiver a route without one inherits.
func parentReceiver(root, target *amconfig.Route) string {
	var walk func(r *amconfig.Route, inherited string) (string, bool)
	walk = func(r *amconfig.Route, inherited string) (string, bool) {
		if r.Receiver != "" {
			inherited = r.Receiver
		}
		if r == target {
			return inherited, true
		}
		for _, c := range r.Routes {
			if got, ok := walk(c, inherited); ok {
				return got, true
			}
		}
		return "", false
	}
	got, _ := walk(root, "")
	return got
}

func TestRoutesRejectUndefinedDefaultTeam(t *testing.T) {
	cat := testCatalog()
	cat.Defaults.Team = "ghost"
	if _, err := Routes(cat); err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("Routes with undefined default team: %v", err)
	}
}

func TestUnitTestsFileShape(t *testing.T) {
	cat := testCatalog()
	out, err := UnitTestsFile(cat, cat.Services[0], testCfg, RulesPathFromTests("my_website"))
	if err != nil {
		t.Fatal(err)
	}
	var f unitTestFile
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.RuleFiles) != 1 || f.RuleFiles[0] != "../rules/my_website.rules.yml" {
		t.Errorf("rule_files %v", f.RuleFiles)
	}
	fires, quiet := 0, 0
	for _, g := range f.Tests {
		for _, a := range g.AlertRuleTest {
			if len(a.ExpAlerts) == 0 {
				quiet++
			} else {
				fires++
			}
		}
	}
	// 2 SLOs: 4 conditions each fire, 2 severities each quiet; the
	// no-traffic case and each outage's "before" are quiet too.
	if fires < 2*len(sli.BurnAlerts) || quiet < 2*2+1 {
		t.Errorf("%d firing and %d quiet checks", fires, quiet)
	}
}

// promtool runs Debian's promtool; tests skip without it, except on CI.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found and CI=true: install Debian's prometheus package")
		}
		t.Skip("promtool not found (install Debian's prometheus package); skipping")
	}
	return p
}

func writeRulesAndTests(t *testing.T, cat *catalog.Catalog, svc catalog.Service, rules []byte) string {
	t.Helper()
	dir := t.TempDir()
	tests, err := UnitTestsFile(cat, svc, testCfg, RulesPathFromTests(svc.Name))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		filepath.Join("rules", svc.Name+".rules.yml"): rules,
		filepath.Join("tests", svc.Name+".test.yml"):  tests,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPromtoolChecksAndTestsPass(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	cat := testCatalog()
	svc := cat.Services[1]
	rules, err := RulesFile(cat, svc, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeRulesAndTests(t, cat, svc, rules)
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(dir, "rules", svc.Name+".rules.yml")},
		{"test", "rules", filepath.Join(dir, "tests", svc.Name+".test.yml")},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The generated tests must catch broken rules: thresholds doubled, or a
// page held back too long.
func TestPromtoolTestsCatchBrokenRules(t *testing.T) {
	bin := promtool(t)
	cat := testCatalog()
	svc := cat.Services[1]
	rules, err := RulesFile(cat, svc, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"thresholds doubled": func(b []byte) []byte {
			for _, f := range []string{"14.4", "6", "3", "1"} {
				b = bytes.ReplaceAll(b, []byte("("+f+" * "), []byte("(2 * "+f+" * "))
			}
			return b
		},
		"page held 10m": func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("for: 2m"), []byte("for: 10m"))
		},
		"no traffic guard": func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte(" > 0)"), []byte(")"))
		},
		"no low-traffic guard": func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte(" >= 10\n"), []byte(" >= 0\n"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			broken := mutate(rules)
			if bytes.Equal(broken, rules) {
				t.Fatal("mutation changed nothing")
			}
			dir := writeRulesAndTests(t, cat, svc, broken)
			err := exec.Command(bin, "test", "rules", filepath.Join(dir, "tests", svc.Name+".test.yml")).Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("promtool test rules passed broken rules (err %v)", err)
			}
		})
	}
}

// inhibits says whether, under cfg's inhibit rules, a firing source alert
// mutes target, with Alertmanager's own matchers: both sides match, and
// every equal label has the same value on both (absent counts as "").
func inhibits(cfg *amconfig.Config, source, target model.LabelSet) bool {
	for _, r := range cfg.InhibitRules {
		if !labels.Matchers(r.SourceMatchers).Matches(source) || !labels.Matchers(r.TargetMatchers).Matches(target) {
			continue
		}
		equal := true
		for _, l := range r.Equal {
			equal = equal && source[model.LabelName(l)] == target[model.LabelName(l)]
		}
		if equal {
			return true
		}
	}
	return false
}

func TestRoutesInhibit(t *testing.T) {
	out, err := Routes(testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := amconfig.Load(string(out))
	if err != nil {
		t.Fatalf("alertmanager rejects routes.yml: %v\n%s", err, out)
	}
	burn := func(service, slo, sev string) model.LabelSet {
		return model.LabelSet{"alertname": AlertName, "service": model.LabelValue(service), "slo": model.LabelValue(slo),
			"severity": model.LabelValue(sev), "team": "web", "generator": Generator}
	}
	pipeline := func(name, sev string) model.LabelSet {
		return model.LabelSet{"alertname": model.LabelValue(name), "severity": model.LabelValue(sev), "team": "platform", "generator": Generator}
	}
	silent := model.LabelSet{"alertname": ServiceSilentAlert, "service": "my_website", "severity": "ticket", "team": "web", "generator": Generator}
	down := pipeline(TelemetryDownAlert, "page")
	for _, tc := range []struct {
		name           string
		source, target model.LabelSet
		want           bool
	}{
		{"page mutes the ticket of its service and SLO", burn("my_website", "availability", "page"), burn("my_website", "availability", "ticket"), true},
		{"page leaves the ticket of another SLO", burn("my_website", "availability", "page"), burn("my_website", "latency", "ticket"), false},
		{"page leaves the ticket of another service", burn("my_website", "availability", "page"), burn("redis_cache", "availability", "ticket"), false},
		{"ticket never mutes a page", burn("my_website", "availability", "ticket"), burn("my_website", "availability", "page"), false},
		{"label-less pipeline page leaves label-less tickets", pipeline(RecordsDroppedAlert, "page"), pipeline(SpoolFillingAlert, "ticket"), false},
		{"telemetry down mutes burn pages", down, burn("my_website", "availability", "page"), true},
		{"telemetry down mutes burn tickets", down, burn("redis_cache", "availability", "ticket"), true},
		{"telemetry down mutes silent services", down, silent, true},
		{"telemetry down leaves dropped records", down, pipeline(RecordsDroppedAlert, "page"), false},
		{"telemetry down leaves the spool", down, pipeline(SpoolFillingAlert, "ticket"), false},
		{"a silent service mutes nothing", silent, burn("my_website", "availability", "ticket"), false},
	} {
		if got := inhibits(cfg, tc.source, tc.target); got != tc.want {
			t.Errorf("%s: inhibited %v, want %v", tc.name, got, tc.want)
		}
	}
}

// amtool, Alertmanager's own checker, accepts routes.yml. Skipped without
// Debian's prometheus-alertmanager, except on CI.
func TestRoutesAmtool(t *testing.T) {
	bin, err := exec.LookPath("amtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("amtool not found and CI=true: install Debian's prometheus-alertmanager package")
		}
		t.Skip("amtool not found (install Debian's prometheus-alertmanager package); skipping")
	}
	out, err := Routes(testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "routes.yml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(bin, "check-config", file).CombinedOutput()
	if err != nil || !bytes.Contains(res, []byte("2 inhibit rules")) {
		t.Errorf("amtool check-config: %v\n%s", err, res)
	}
}
