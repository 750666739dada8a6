package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

var posLine = regexp.MustCompile(`^[^:]+:\d+:\d+: .+$`)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		wantLines []string // exact stdout lines
		stderr    string   // substring
	}{
		{name: "clean is silent", args: []string{"check", "testdata/good.yaml"}, code: 0},
		{
			name: "every mistake with its position",
			args: []string{"check", "testdata/bad.yaml"},
			code: 1,
			wantLines: []string{
				`testdata/bad.yaml:7:5: unknown key "prot" in service "web"; did you mean "port"?`,
				`testdata/bad.yaml:8:11: team "ghost" of service "web" is not defined under teams`,
				`testdata/bad.yaml:10:11: port 70000 of service "api" is outside 1-65535`,
				`testdata/bad.yaml:11:17: upstream "nowhere" of service "api" names no service in the catalog`,
			},
		},
		{
			name: "alerting and pipeline mistakes",
			args: []string{"check", "testdata/alerting.bad.yaml"},
			code: 1,
			wantLines: []string{
				`testdata/alerting.bad.yaml:3:30: min_bad_events -5 of defaults is negative; use 0 to turn the low-traffic guard off`,
				`testdata/alerting.bad.yaml:6:18: team "sre" of pipeline is not defined under teams`,
				`testdata/alerting.bad.yaml:10:32: min_bad_events of service "web" must be a whole number of bad requests (0 turns the low-traffic guard off), got a number (1.5)`,
			},
		},
		{
			name: "several files, one bad",
			args: []string{"check", "testdata/good.yaml", "testdata/bad.yaml"},
			code: 1,
		},
		{name: "the example catalog is clean", args: []string{"check", "../../examples/mesh.yaml"}, code: 0},
		{name: "unreadable file", args: []string{"check", "testdata/missing.yaml"}, code: 2, stderr: "missing.yaml"},
		{name: "unreadable outranks mistakes", args: []string{"check", "testdata/bad.yaml", "testdata/missing.yaml"}, code: 2},
		{name: "no files", args: []string{"check"}, code: 2, stderr: "usage"},
		{name: "no command", args: nil, code: 2, stderr: "usage"},
		{name: "unknown command", args: []string{"lint"}, code: 2, stderr: `"lint"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, stdout, stderr)
			}
			if tc.code == 0 && stdout+stderr != "" {
				t.Errorf("clean run printed %q %q", stdout, stderr)
			}
			if tc.wantLines != nil {
				got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
				if strings.Join(got, "\n") != strings.Join(tc.wantLines, "\n") {
					t.Errorf("stdout:\n%s\nwant:\n%s", stdout, strings.Join(tc.wantLines, "\n"))
				}
			}
			if tc.code == 1 {
				for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
					if !posLine.MatchString(l) {
						t.Errorf("line %q is not FILE:LINE:COL: message", l)
					}
				}
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tc.stderr)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"missing flags", []string{"generate"}, 2},
		{"missing out", []string{"generate", "--catalog", "testdata/good.yaml"}, 2},
		{"unknown flag", []string{"generate", "--catalog", "testdata/good.yaml", "--out", out, "--nope"}, 2},
		{"stray argument", []string{"generate", "--catalog", "testdata/good.yaml", "--out", out, "extra"}, 2},
		{"unreadable catalog", []string{"generate", "--catalog", "testdata/missing.yaml", "--out", out}, 2},
		{"bad catalog", []string{"generate", "--catalog", "testdata/bad.yaml", "--out", out}, 1},
		{"empty alsd job", []string{"generate", "--catalog", "testdata/good.yaml", "--out", out, "--alsd-job", ""}, 2},
		{"lag threshold 0", []string{"generate", "--catalog", "testdata/good.yaml", "--out", out, "--aggregator-lag-threshold", "0"}, 2},
		{"lag threshold not a number", []string{"generate", "--catalog", "testdata/good.yaml", "--out", out, "--aggregator-lag-threshold", "1e5"}, 2},
		{"good catalog", []string{"generate", "--catalog", "testdata/good.yaml", "--out", out}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, stdout, stderr)
			}
		})
	}
	for _, p := range []string{
		"prometheus/rules/web.rules.yml", "prometheus/tests/cache.test.yml",
		"prometheus/rules/meshtel-pipeline.rules.yml", "prometheus/tests/meshtel-pipeline.test.yml",
		"alertmanager/routes.yml", "grafana/dashboards/web.json", "envoy/cache.als.yaml", "envoy/cache.otel.yaml",
		"istio/extension-providers.yaml", "istio/telemetry.yaml", "kubernetes/prometheusrule.yaml",
	} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("generate did not write %s: %v", p, err)
		}
	}
}

func TestGenerateIstioFlags(t *testing.T) {
	out := t.TempDir()
	base := []string{"generate", "--catalog", "testdata/good.yaml", "--out", out}
	for _, bad := range [][]string{{"--istio-als-port", "0"}, {"--istio-otlp-port", "70000"}, {"--istio-service", "alsd:18000"}} {
		if code, _, stderr := runCLI(append(base, bad...)...); code != 2 || !strings.Contains(stderr, "istio") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the istio setting", bad, code, stderr)
		}
	}
	code, _, stderr := runCLI(append(base, "--istio-service", "als.obs.svc.cluster.local", "--istio-als-port", "9000",
		"--istio-otlp-port", "4318", "--istio-root-namespace", "mesh-root")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	providers, err := os.ReadFile(filepath.Join(out, "istio", "extension-providers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	telemetry, err := os.ReadFile(filepath.Join(out, "istio", "telemetry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"service: als.obs.svc.cluster.local", "port: 9000", "port: 4318"} {
		if !strings.Contains(string(providers), want) {
			t.Errorf("extension-providers.yaml lacks %q", want)
		}
	}
	if !strings.Contains(string(telemetry), "namespace: mesh-root") {
		t.Errorf("telemetry.yaml is not in the given root namespace:\n%s", telemetry)
	}
}

func TestGenerateIntoUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A regular file where the output directory should be.
	if code, _, stderr := runCLI("generate", "--catalog", "testdata/good.yaml", "--out", file); code != 2 || stderr == "" {
		t.Errorf("exit %d, stderr %q; want 2 with a message", code, stderr)
	}
}

func TestGeneratePipelineFlags(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := runCLI("generate", "--catalog", "testdata/good.yaml", "--out", out,
		"--alsd-job", "meshtel-ingest", "--aggregator-lag-threshold", "2500")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rules, err := os.ReadFile(filepath.Join(out, "prometheus", "rules", "meshtel-pipeline.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`up{job="meshtel-ingest"}`, "max(alsd_consumer_lag) > 2500"} {
		if !bytes.Contains(rules, []byte(want)) {
			t.Errorf("pipeline rules lack %s", want)
		}
	}
}
