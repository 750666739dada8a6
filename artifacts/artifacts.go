// Package artifacts assembles everything `dashgen generate` writes for a
// mesh catalog (SPEC §5): Prometheus rules and their promtool tests (per
// service, and the pipeline's own in meshtel-pipeline.rules.yml),
// Alertmanager routes, Grafana dashboards and provisioning, each
// service's Envoy access log config and its OpenSLO documents (SPEC §9),
// the Istio extension providers and Telemetry, and the rules again as a
// Prometheus Operator PrometheusRule,
// as a sorted list of files with deterministic contents, and writes them
// under an output directory.
//
// It decides file names and layout only; the contents come from packages
// alerts, dashboards, envoyconfig, openslo, istioconfig and promoperator.
// It never imports the ingest runtime (receivers, Kafka sink, gRPC;
// internal/archtest enforces it).
package artifacts

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/dashboards"
	"github.com/meshtel/meshtel/envoyconfig"
	"github.com/meshtel/meshtel/istioconfig"
	"github.com/meshtel/meshtel/openslo"
	"github.com/meshtel/meshtel/promoperator"
)

// Directories and suffixes of the layout in SPEC §5, relative to the
// output directory.
const (
	RulesDir        = "prometheus/rules"
	TestsDir        = "prometheus/tests"
	AlertmanagerDir = "alertmanager"
	DashboardsDir   = "grafana/dashboards"
	DatasourcesDir  = "grafana/provisioning/datasources"
	ProvidersDir    = "grafana/provisioning/dashboards"
	EnvoyDir        = "envoy"
	IstioDir        = "istio"
	KubernetesDir   = "kubernetes"
	OpenSLODir      = "openslo"

	// PrometheusRulePath holds every rule file as one PrometheusRule.
	PrometheusRulePath = KubernetesDir + "/prometheusrule.yaml"

	rulesSuffix = ".rules.yml"
	testSuffix  = ".test.yml"
	envoySuffix = ".als.yaml"
	yamlSuffix  = ".yaml"
	otelSuffix  = ".otel.yaml"
	jsonSuffix  = ".json"
)

// DefaultGrafanaURL is the base of dashboard links in alert annotations
// unless Config.GrafanaURL says otherwise (Grafana's default address).
const DefaultGrafanaURL = "http://localhost:3000"

// Config configures generation. The zero value uses every default.
type Config struct {
	// GrafanaURL is the base of the dashboard links put in alerts;
	// "" means DefaultGrafanaURL.
	GrafanaURL string
	// Provisioning says where Grafana finds Prometheus and the dashboards.
	Provisioning dashboards.ProvisioningConfig
	// Envoy configures the generated access log configs.
	Envoy envoyconfig.Config
	// ALSDJob is the Prometheus job that scrapes alsd, watched by
	// MeshTelemetryDown; "" means alerts.DefaultALSDJob.
	ALSDJob string
	// AggregatorLagThreshold is MeshAggregatorLag's threshold in records;
	// 0 means alerts.DefaultAggregatorLagThreshold.
	AggregatorLagThreshold int64
	// Istio says where Istio's Envoys reach alsd.
	Istio istioconfig.Config
	// PrometheusRule names and labels the PrometheusRule object.
	PrometheusRule promoperator.Config
}

// File is one generated file.
type File struct {
	Path string // slash-separated, relative to the output directory
	Data []byte
}

// Build renders every file for cat, sorted by path.
func Build(cat *catalog.Catalog, cfg Config) ([]File, error) {
	if cat == nil {
		return nil, fmt.Errorf("no catalog")
	}
	grafana := cfg.GrafanaURL
	if grafana == "" {
		grafana = DefaultGrafanaURL
	}
	acfg := alerts.Config{
		DashboardURL: func(service string) string {
			return dashboards.URL(grafana, dashboards.UID(service))
		},
		PipelineDashboardURL:   dashboards.URL(grafana, dashboards.PipelineUID),
		ALSDJob:                cfg.ALSDJob,
		AggregatorLagThreshold: cfg.AggregatorLagThreshold,
	}
	// Services are independent: render them on every core, each into its
	// own slot, so the result does not depend on scheduling.
	perService := make([][]File, len(cat.Services))
	errs := make([]error, len(cat.Services))
	parallel(len(cat.Services), func(i int) {
		perService[i], errs[i] = serviceFiles(cat, cat.Services[i], acfg, cfg.Envoy)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var files []File
	for _, fs := range perService {
		files = append(files, fs...)
	}
	add := func(path string, data []byte, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		files = append(files, File{Path: path, Data: data})
		return nil
	}
	pipelineRules, err := alerts.PipelineRulesFile(cat, acfg)
	if err := add(RulesDir+"/"+catalog.PipelineName+rulesSuffix, pipelineRules, err); err != nil {
		return nil, err
	}
	pipelineTests, err := alerts.PipelineTestsFile(cat, acfg, alerts.PipelineRulesPathFromTests())
	if err := add(TestsDir+"/"+catalog.PipelineName+testSuffix, pipelineTests, err); err != nil {
		return nil, err
	}
	routes, err := alerts.Routes(cat)
	if err := add(AlertmanagerDir+"/routes.yml", routes, err); err != nil {
		return nil, err
	}
	overview, err := dashboards.Overview(cat)
	if err := add(DashboardsDir+"/mesh-overview.json", overview, err); err != nil {
		return nil, err
	}
	cookies, err := dashboards.Cookies(cat)
	if err := add(DashboardsDir+"/cookies.json", cookies, err); err != nil {
		return nil, err
	}
	pipeline, err := dashboards.Pipeline()
	if err := add(DashboardsDir+"/alsd-pipeline.json", pipeline, err); err != nil {
		return nil, err
	}
	ds, err := dashboards.DatasourceProvisioning(cfg.Provisioning)
	if err := add(DatasourcesDir+"/meshtel.yaml", ds, err); err != nil {
		return nil, err
	}
	prov, err := dashboards.DashboardProvisioning(cfg.Provisioning)
	if err := add(ProvidersDir+"/meshtel.yaml", prov, err); err != nil {
		return nil, err
	}
	cluster, err := clusterFiles(files, cfg)
	if err != nil {
		return nil, err
	}
	files = append(files, cluster...)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// clusterFiles renders what a cluster applies: Istio's extension
// providers and Telemetry, and every rule file among files (whichever
// package made it, in path order) as one PrometheusRule.
func clusterFiles(files []File, cfg Config) ([]File, error) {
	providers, err := istioconfig.ExtensionProvidersFile(cfg.Istio)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IstioDir+"/extension-providers.yaml", err)
	}
	telemetry, err := istioconfig.TelemetryFile(cfg.Istio)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IstioDir+"/telemetry.yaml", err)
	}
	var rules []promoperator.Source
	for _, f := range files {
		if dir, name := path.Split(f.Path); dir == RulesDir+"/" && strings.HasSuffix(name, rulesSuffix) {
			rules = append(rules, promoperator.Source{Path: f.Path, Data: f.Data})
		}
	}
	slices.SortFunc(rules, func(a, b promoperator.Source) int { return strings.Compare(a.Path, b.Path) })
	pr, err := promoperator.Wrap(cfg.PrometheusRule, rules)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PrometheusRulePath, err)
	}
	return []File{
		{IstioDir + "/extension-providers.yaml", providers},
		{IstioDir + "/telemetry.yaml", telemetry},
		{PrometheusRulePath, pr},
	}, nil
}

// serviceFiles renders the files of one service.
func serviceFiles(cat *catalog.Catalog, svc catalog.Service, acfg alerts.Config, ecfg envoyconfig.Config) ([]File, error) {
	rules, err := alerts.RulesFile(cat, svc, acfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RulesDir+"/"+svc.Name+rulesSuffix, err)
	}
	tests, err := alerts.UnitTestsFile(cat, svc, acfg, alerts.RulesPathFromTests(svc.Name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TestsDir+"/"+svc.Name+testSuffix, err)
	}
	dash, err := dashboards.Service(svc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardsDir+"/"+svc.Name+jsonSuffix, err)
	}
	envoy, err := envoyconfig.File(svc, ecfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvoyDir+"/"+svc.Name+envoySuffix, err)
	}
	otel, err := envoyconfig.OTelFile(svc, ecfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvoyDir+"/"+svc.Name+otelSuffix, err)
	}
	slo, err := openslo.File(cat, svc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", OpenSLODir+"/"+svc.Name+yamlSuffix, err)
	}
	return []File{
		{RulesDir + "/" + svc.Name + rulesSuffix, rules},
		{TestsDir + "/" + svc.Name + testSuffix, tests},
		{DashboardsDir + "/" + svc.Name + jsonSuffix, dash},
		{EnvoyDir + "/" + svc.Name + envoySuffix, envoy},
		{EnvoyDir + "/" + svc.Name + otelSuffix, otel},
		{OpenSLODir + "/" + svc.Name + yamlSuffix, slo},
	}, nil
}

// parallel calls f(0) … f(n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// generated says whether a path under dir is one Build could have written:
// Write removes such files when they are no longer generated (a service
// left the catalog), and leaves everything else alone.
func generated(rel string) bool {
	dir, name := filepath.Split(filepath.ToSlash(rel))
	dir = strings.TrimSuffix(dir, "/")
	switch dir {
	case RulesDir:
		return strings.HasSuffix(name, rulesSuffix)
	case TestsDir:
		return strings.HasSuffix(name, testSuffix)
	case DashboardsDir:
		return strings.HasSuffix(name, jsonSuffix)
	case EnvoyDir:
		return strings.HasSuffix(name, envoySuffix) || strings.HasSuffix(name, otelSuffix)
	case OpenSLODir:
		return strings.HasSuffix(name, yamlSuffix)
	}
	return false
}

// writeFile replaces one file through a rename, so readers (Grafana,
// Prometheus reloading) never see half a file; a file already current is
// left untouched. Its directory exists already.
func writeFile(dir string, f File) error {
	p := filepath.Join(dir, filepath.FromSlash(f.Path))
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.Data) {
		return nil
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, f.Data, 0o644); err != nil {
		return fmt.Errorf("write %q: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %q: %w", p, err)
	}
	return nil
}

// Write writes files under dir, skipping files whose contents are already
// current, and removes generated files of services no longer in the set,
// so the directory always equals a fresh run's output.
func Write(dir string, files []File) error {
	keep := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		keep[f.Path] = true
		dirs[filepath.Dir(filepath.Join(dir, filepath.FromSlash(f.Path)))] = true
	}
	for d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("write %q: %w", d, err)
		}
	}
	errs := make([]error, len(files))
	parallel(len(files), func(i int) { errs[i] = writeFile(dir, files[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, sub := range []string{RulesDir, TestsDir, DashboardsDir, EnvoyDir, OpenSLODir} {
		entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(sub)))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("clean %q: %w", sub, err)
		}
		for _, e := range entries {
			rel := sub + "/" + e.Name()
			if e.Type().IsRegular() && generated(rel) && !keep[rel] {
				if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
					return fmt.Errorf("remove stale %q: %w", rel, err)
				}
			}
		}
	}
	return nil
}
