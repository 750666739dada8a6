package artifacts

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	amconfig "github.com/prometheus/alertmanager/config"
	"google.golang.org/protobuf/encoding/protojson"
	meshconfig "istio.io/api/mesh/v1alpha1"
	telemetryv1 "istio.io/api/telemetry/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/examples"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

const goldenDir = "testdata/golden"

func exampleCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Parse("examples/mesh.yaml", examples.Mesh)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func build(t testing.TB) []File {
	t.Helper()
	files, err := Build(exampleCatalog(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGolden(t *testing.T) {
	files := build(t)
	if *update {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		if err := Write(goldenDir, files); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		golden, err := os.ReadFile(filepath.Join(goldenDir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s: %v (run go test ./artifacts -update)", f.Path, err)
			continue
		}
		if !bytes.Equal(golden, f.Data) {
			t.Errorf("%s differs from its golden file (run go test ./artifacts -update and review the diff)", f.Path)
		}
	}
	err := filepath.WalkDir(goldenDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(goldenDir, p)
		if !want[filepath.ToSlash(rel)] {
			t.Errorf("golden file %s is no longer generated", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLayout(t *testing.T) {
	cat := exampleCatalog(t)
	paths := map[string]bool{}
	for _, f := range build(t) {
		paths[f.Path] = true
	}
	for _, svc := range cat.Services {
		for _, p := range []string{
			"prometheus/rules/" + svc.Name + ".rules.yml",
			"prometheus/tests/" + svc.Name + ".test.yml",
			"grafana/dashboards/" + svc.Name + ".json",
			"envoy/" + svc.Name + ".als.yaml",
			"openslo/" + svc.Name + ".yaml",
			"envoy/" + svc.Name + ".otel.yaml",
		} {
			if !paths[p] {
				t.Errorf("missing %s", p)
			}
		}
	}
	for _, p := range []string{
		"prometheus/rules/meshtel-pipeline.rules.yml",
		"prometheus/tests/meshtel-pipeline.test.yml",
		"alertmanager/routes.yml",
		"grafana/dashboards/mesh-overview.json",
		"grafana/dashboards/cookies.json",
		"grafana/provisioning/dashboards/meshtel.yaml",
		"grafana/provisioning/datasources/meshtel.yaml",
		"istio/extension-providers.yaml",
		"istio/telemetry.yaml",
		"kubernetes/prometheusrule.yaml",
	} {
		if !paths[p] {
			t.Errorf("missing %s", p)
		}
	}
}

// Every generated series, rule and dashboard must be the same on every run.
func TestByteIdenticalRegeneration(t *testing.T) {
	dir := t.TempDir()
	first := build(t)
	if err := Write(dir, first); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	if err := Write(dir, build(t)); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	if len(before) != len(first) || len(after) != len(before) {
		t.Fatalf("%d files written, %d then %d on disk", len(first), len(before), len(after))
	}
	for p, b := range before {
		if !bytes.Equal(b, after[p]) {
			t.Errorf("%s changed between runs", p)
		}
	}
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteRemovesStaleOutputOnly(t *testing.T) {
	dir := t.TempDir()
	files := build(t)
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "prometheus", "rules", "operator-notes.txt")
	if err := os.WriteFile(mine, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Drop one service: its files must go, nothing else.
	var kept []File
	for _, f := range files {
		if !strings.Contains(f.Path, "/redis_cache.") {
			kept = append(kept, f)
		}
	}
	if err := Write(dir, kept); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, dir)
	for p := range got {
		if strings.Contains(p, "redis_cache") {
			t.Errorf("stale %s not removed", p)
		}
	}
	if _, ok := got["prometheus/rules/operator-notes.txt"]; !ok {
		t.Errorf("Write removed a file it did not generate")
	}
	if len(got) != len(kept)+1 {
		t.Errorf("%d files on disk, want %d", len(got), len(kept)+1)
	}
}

// routes.yml is what `amtool check-config` accepts: Alertmanager's own loader.
func TestRoutesLoadInAlertmanager(t *testing.T) {
	for _, f := range build(t) {
		if f.Path != AlertmanagerDir+"/routes.yml" {
			continue
		}
		cfg, err := amconfig.Load(string(f.Data))
		if err != nil {
			t.Fatalf("alertmanager rejects %s: %v", f.Path, err)
		}
		if got, want := len(cfg.Route.Routes), len(exampleCatalog(t).Teams); got != want {
			t.Errorf("%d team routes, want %d", got, want)
		}
		if len(cfg.InhibitRules) != 2 {
			t.Errorf("%d inhibit rules, want SPEC §5's 2", len(cfg.InhibitRules))
		}
		return
	}
	t.Fatal("no routes.yml generated")
}

// The Kubernetes and Istio outputs load with their owners' Go types,
// unknown fields rejected, and the PrometheusRule holds every rule of
// every rule file.
func TestClusterOutputsDecode(t *testing.T) {
	byPath := map[string][]byte{}
	rules := 0
	for _, f := range build(t) {
		byPath[f.Path] = f.Data
		if strings.HasPrefix(f.Path, RulesDir+"/") {
			rules += bytes.Count(f.Data, []byte("\n      - record: ")) + bytes.Count(f.Data, []byte("\n      - alert: "))
		}
	}
	var pr monitoringv1.PrometheusRule
	if err := k8syaml.UnmarshalStrict(byPath[PrometheusRulePath], &pr); err != nil {
		t.Fatalf("%s: %v", PrometheusRulePath, err)
	}
	got := 0
	for _, g := range pr.Spec.Groups {
		got += len(g.Rules)
	}
	if got == 0 || got != rules {
		t.Errorf("PrometheusRule holds %d rules, the rule files %d", got, rules)
	}
	j, err := k8syaml.YAMLToJSON(byPath[IstioDir+"/extension-providers.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(j, &meshconfig.MeshConfig{}); err != nil {
		t.Errorf("extension-providers.yaml: %v", err)
	}
	var tel struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   map[string]any  `json:"metadata"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := k8syaml.UnmarshalStrict(byPath[IstioDir+"/telemetry.yaml"], &tel); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(tel.Spec, &telemetryv1.Telemetry{}); err != nil || tel.Kind != "Telemetry" {
		t.Errorf("telemetry.yaml: kind %q, %v", tel.Kind, err)
	}
}

func TestNoGeneratedSeriesWithoutGenerator(t *testing.T) {
	for _, f := range build(t) {
		if !strings.HasSuffix(f.Path, ".rules.yml") {
			continue
		}
		records := bytes.Count(f.Data, []byte("- record:")) + bytes.Count(f.Data, []byte("- alert:"))
		if got := bytes.Count(f.Data, []byte("generator: meshtel")); got != records {
			t.Errorf("%s: %d rules but %d generator labels", f.Path, records, got)
		}
	}
}

// The generated rules pass Debian's promtool: `check rules` on every file
// and the generated `test rules` cases. Running every test file takes
// ~20 s of CPU, so by default only two services run them (one HTTP with
// both SLOs, one TCP) and the pipeline's; CI=true or MESHTEL_LONG_TESTS=1
// runs them all.
// Skipped without promtool unless CI=true.
func TestPromtool(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found and CI=true: install Debian's prometheus package")
		}
		t.Skip("promtool not found (install Debian's prometheus package); skipping")
	}
	dir := t.TempDir()
	if err := Write(dir, build(t)); err != nil {
		t.Fatal(err)
	}
	rules, _ := filepath.Glob(filepath.Join(dir, "prometheus", "rules", "*.rules.yml"))
	tests, _ := filepath.Glob(filepath.Join(dir, "prometheus", "tests", "*.test.yml"))
	if len(rules) == 0 || len(rules) != len(tests) {
		t.Fatalf("%d rule files, %d test files", len(rules), len(tests))
	}
	if out, err := exec.Command(bin, append([]string{"check", "rules"}, rules...)...).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if os.Getenv("CI") != "true" && os.Getenv("MESHTEL_LONG_TESTS") == "" {
		tests = []string{
			filepath.Join(dir, "prometheus", "tests", "checkout.test.yml"),
			filepath.Join(dir, "prometheus", "tests", "redis_cache.test.yml"),
			filepath.Join(dir, "prometheus", "tests", "meshtel-pipeline.test.yml"),
		}
	}
	// Two promtool processes share the test files: one per core.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		var part []string
		for j := i; j < len(tests); j += len(errs) {
			part = append(part, tests[j])
		}
		wg.Go(func() {
			if out, err := exec.Command(bin, append([]string{"test", "rules"}, part...)...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("promtool test rules: %v\n%s", err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
