package alerts

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/meshtel/meshtel/catalog"
)

func pipelineCatalog() *catalog.Catalog {
	cat := testCatalog()
	cat.Pipeline.Team = "data"
	return cat
}

func TestPipelineRules(t *testing.T) {
	cat := pipelineCatalog()
	cfg := testCfg
	cfg.PipelineDashboardURL = "https://grafana.example.com/d/meshtel-alsd"
	cfg.ALSDJob = "meshtel-ingest"
	cfg.AggregatorLagThreshold = 5000
	out, err := PipelineRulesFile(cat, cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(out, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("rulefmt rejects the file: %v\n%s", errs, out)
	}
	seen := map[string]int{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			seen[r.Alert]++
			if r.Labels["generator"] != Generator || r.Labels["severity"] == "" {
				t.Errorf("%s: labels %v", r.Alert, r.Labels)
			}
			if r.Alert == ServiceSilentAlert {
				svc := cat.Lookup(r.Labels["service"])
				if svc == nil || r.Labels["team"] != svc.Team || !strings.Contains(r.Expr, `service="`+svc.Name+`"`) {
					t.Errorf("%s: labels %v for expr %s", r.Alert, r.Labels, r.Expr)
				}
				continue
			}
			if r.Labels["team"] != "data" || r.Annotations["dashboard"] != cfg.PipelineDashboardURL {
				t.Errorf("%s: team %q, dashboard %q; want the pipeline team's and dashboard", r.Alert, r.Labels["team"], r.Annotations["dashboard"])
			}
		}
	}
	for name, want := range map[string]int{TelemetryDownAlert: 1, RecordsDroppedAlert: 1, SpoolFillingAlert: 1, AggregatorLagAlert: 1, ServiceSilentAlert: len(cat.Services)} {
		if seen[name] != want {
			t.Errorf("%d %s rules, want %d", seen[name], name, want)
		}
	}
	for _, want := range []string{`up{job="meshtel-ingest"}`, "max(alsd_consumer_lag) > 5000"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("rules lack %s", want)
		}
	}
}

func TestPipelineRulesDefaults(t *testing.T) {
	out, err := PipelineRulesFile(&catalog.Catalog{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`up{job="alsd"}`, "> 100000", "for: 5m", "for: 15m"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("rules lack %s", want)
		}
	}
	if bytes.Contains(out, []byte(ServiceSilentAlert)) || bytes.Contains(out, []byte("dashboard")) {
		t.Errorf("a catalog without services or dashboards got:\n%s", out)
	}
}

func writePipeline(t *testing.T, rules, tests []byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		filepath.Join("rules", catalog.PipelineName+".rules.yml"): rules,
		filepath.Join("tests", catalog.PipelineName+".test.yml"):  tests,
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

// The generated pipeline tests pass promtool, and fail when a rule is
// broken in a way on-call would feel.
func TestPipelinePromtool(t *testing.T) {
	bin := promtool(t)
	cat := pipelineCatalog()
	rules, err := PipelineRulesFile(cat, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := PipelineTestsFile(cat, testCfg, PipelineRulesPathFromTests())
	if err != nil {
		t.Fatal(err)
	}
	dir := writePipeline(t, rules, tests)
	rulesPath := filepath.Join(dir, "rules", catalog.PipelineName+".rules.yml")
	testsPath := filepath.Join(dir, "tests", catalog.PipelineName+".test.yml")
	if out, err := exec.Command(bin, "check", "rules", rulesPath).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "test", "rules", testsPath).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	for name, edit := range map[string][2]string{
		"telemetry down misses an absent job": {`(max(up{job="alsd"}) or vector(0)) == 0`, `max(up{job="alsd"}) == 0`},
		"telemetry down without its 5m":       {"for: 5m", "for: 1m"},
		"records dropped misses a first drop": {"alsd_records_dropped_total offset 5m) > 0", "alsd_records_dropped_total offset 5m) > 1e18"},
		"records dropped on any counter":      {"(increase(alsd_records_dropped_total[5m])) > 0", "(increase(alsd_records_dropped_total[5m])) >= 0"},
		"spool filling without its 15m":       {"max by (job, instance) (alsd_spool_bytes) > 0\n        for: 15m", "max by (job, instance) (alsd_spool_bytes) > 0\n        for: 1m"},
		"aggregator lag at the threshold":     {"max(alsd_consumer_lag) > 100000", "max(alsd_consumer_lag) >= 100000"},
		"silent without traffic history":      {"[1d])) > 0\n", "[1d])) >= 0\n"},
		"silent despite steady traffic":       {"[30m])) > 0\n", "[30m])) > 1e9\n"},
		"silent after 10m instead of 30m":     {"[30m]", "[10m]"},
		"silent ticket for the wrong team":    {"team: web", "team: platform"},
		"telemetry down pages the wrong team": {"severity: page\n          team: data", "severity: page\n          team: web"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			broken := bytes.ReplaceAll(rules, []byte(edit[0]), []byte(edit[1]))
			if bytes.Equal(broken, rules) {
				t.Fatalf("mutation %q changed nothing", edit[0])
			}
			dir := writePipeline(t, broken, tests)
			err := exec.Command(bin, "test", "rules", filepath.Join(dir, "tests", catalog.PipelineName+".test.yml")).Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("promtool test rules passed broken rules (err %v)", err)
			}
		})
	}
}
