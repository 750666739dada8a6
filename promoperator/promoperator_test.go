package promoperator

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/examples"
)

// exampleSources are the rule files dashgen writes for the demo catalog.
func exampleSources(t *testing.T) []Source {
	t.Helper()
	cat, err := catalog.Parse("examples/mesh.yaml", examples.Mesh)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []Source
	for _, svc := range cat.Services {
		data, err := alerts.RulesFile(cat, svc, alerts.Config{})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, Source{Path: "prometheus/rules/" + svc.Name + ".rules.yml", Data: data})
	}
	return srcs
}

func parseRules(t *testing.T, path string, data []byte) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(data, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", path, errs)
	}
	return groups
}

// The object decodes strictly into the operator's own type, and its groups
// are exactly the files' groups, valid for Prometheus as the operator's
// admission webhook checks them.
func TestWrapExample(t *testing.T) {
	srcs := exampleSources(t)
	out, err := Wrap(Config{Labels: map[string]string{"release": "kube-prometheus-stack"}}, srcs)
	if err != nil {
		t.Fatal(err)
	}
	var pr monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(out, &pr); err != nil {
		t.Fatalf("the operator's PrometheusRule type rejects the output: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Name != DefaultName {
		t.Errorf("%s %s %q", pr.APIVersion, pr.Kind, pr.Name)
	}
	if pr.Labels["release"] != "kube-prometheus-stack" || pr.Labels["app.kubernetes.io/part-of"] != "meshtel" {
		t.Errorf("labels %v", pr.Labels)
	}
	var wantGroups, wantRules int
	wantExpr := map[string]string{}
	for _, s := range srcs {
		g := parseRules(t, s.Path, s.Data)
		wantGroups += len(g.Groups)
		for _, grp := range g.Groups {
			wantRules += len(grp.Rules)
			for i, r := range grp.Rules {
				wantExpr[fmt.Sprintf("%s/%d", grp.Name, i)] = r.Expr
			}
		}
	}
	if len(pr.Spec.Groups) != wantGroups {
		t.Fatalf("%d groups, want %d", len(pr.Spec.Groups), wantGroups)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	got := parseRules(t, "spec", spec)
	rules := 0
	for _, grp := range got.Groups {
		for i, r := range grp.Rules {
			rules++
			if want := wantExpr[fmt.Sprintf("%s/%d", grp.Name, i)]; r.Expr != want {
				t.Errorf("%s rule %d: expr differs from the rule file:\n%s\nwant\n%s", grp.Name, i, r.Expr, want)
			}
		}
	}
	if rules != wantRules {
		t.Errorf("%d rules, want %d", rules, wantRules)
	}
}

func TestWrapErrors(t *testing.T) {
	good := Source{Path: "a.rules.yml", Data: []byte("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n")}
	for _, c := range []struct {
		name string
		srcs []Source
		want string
	}{
		{"duplicate group", []Source{good, {Path: "b.rules.yml", Data: good.Data}}, `b.rules.yml:2:11: rule group "g" is already defined in a.rules.yml`},
		{"not yaml", []Source{{Path: "c.yml", Data: []byte("groups: [")}}, "c.yml: "},
		{"no groups", []Source{{Path: "d.yml", Data: []byte("rules: []\n")}}, "d.yml:1:1: no groups list"},
		{"a list", []Source{{Path: "e.yml", Data: []byte("- a\n")}}, "e.yml: not a rule file"},
		{"unnamed group", []Source{{Path: "f.yml", Data: []byte("groups:\n  - rules: []\n")}}, "f.yml:2:5: rule group without a name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Wrap(Config{}, c.srcs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
