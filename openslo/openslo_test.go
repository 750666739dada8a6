package openslo

import (
	"bytes"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/examples"
)

func exampleCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Parse("examples/mesh.yaml", examples.Mesh)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// targetRE finds the target of each objective as printed.
var targetRE = regexp.MustCompile(`(?m)^\s+target: (\S+)$`)

// TestExampleCatalogMeetsSpec: every service of the example catalog gets
// one Service, and one SLI and one SLO per SLO, that meet the OpenSLO v1
// specification; each SLO has the catalog's window and its objective as
// an exact ratio (99.95 → 0.9995).
func TestExampleCatalogMeetsSpec(t *testing.T) {
	cat := exampleCatalog(t)
	windows := map[string]bool{}
	for _, svc := range cat.Services {
		out, err := File(cat, svc)
		if err != nil {
			t.Fatal(err)
		}
		docs, errs := checkSpec(out)
		for _, err := range errs {
			t.Errorf("%s: %v", svc.Name, err)
		}
		slos, _ := alerts.SLOs(svc)
		var kinds []string
		for _, d := range docs {
			kinds = append(kinds, d.kind)
		}
		want := []string{"Service"}
		for range slos {
			want = append(want, "SLI", "SLO")
		}
		if strings.Join(kinds, " ") != strings.Join(want, " ") {
			t.Errorf("%s: documents %v, want %v", svc.Name, kinds, want)
		}
		targets := targetRE.FindAllStringSubmatch(string(out), -1)
		if len(targets) != len(slos) {
			t.Fatalf("%s: %d targets for %d SLOs", svc.Name, len(targets), len(slos))
		}
		for i, s := range slos {
			checkTarget(t, svc.Name+" "+s.Name, targets[i][1], s.Objective)
			slo := docs[2+2*i].slo
			windows[checkWindow(t, svc.Name+" "+s.Name, slo, s.Window)] = true
			if slo.Service != Name(svc.Name) || slo.IndicatorRef != docs[1+2*i].name {
				t.Errorf("%s %s: service %q indicatorRef %q", svc.Name, s.Name, slo.Service, slo.IndicatorRef)
			}
		}
		if !bytes.Contains(out, []byte("displayName: "+svc.Name+"\n")) || docs[0].name != strings.ReplaceAll(svc.Name, "_", "-") {
			t.Errorf("%s: Service named %q", svc.Name, docs[0].name)
		}
	}
	for _, w := range catalog.Windows {
		if !windows[string(w)] {
			t.Errorf("the example catalog has no %s SLO: the test does not cover it", w)
		}
	}
}

// checkTarget: the target printed is the objective ÷ 100 exactly, with no
// more digits than the objective needs.
func checkTarget(t *testing.T, what, target, objective string) {
	t.Helper()
	got, ok := new(big.Rat).SetString(target)
	want, _ := new(big.Rat).SetString(objective)
	if !ok || got.Mul(got, big.NewRat(100, 1)).Cmp(want) != 0 {
		t.Errorf("%s: target %s is not %s%%", what, target, objective)
	}
	if len(strings.TrimLeft(strings.ReplaceAll(target, ".", ""), "0")) > len(strings.ReplaceAll(objective, ".", "")) {
		t.Errorf("%s: target %s has float noise", what, target)
	}
}

// checkWindow: rolling windows keep their length, the month is a
// calendar month in UTC. It returns the catalog window seen.
func checkWindow(t *testing.T, what string, slo *specSLO, w catalog.Window) string {
	t.Helper()
	tw := slo.TimeWindow[0]
	if w == catalog.WindowMonth {
		if tw.Duration != "1M" || tw.Calendar == nil || tw.Calendar.TimeZone != "UTC" || !strings.HasSuffix(tw.Calendar.StartTime, "-01 00:00:00") {
			t.Errorf("%s: month window %+v", what, tw)
		}
		return "month"
	}
	if tw.Duration != string(w) || tw.IsRolling == nil || !*tw.IsRolling {
		t.Errorf("%s: window %+v, want rolling %s", what, tw, w)
	}
	if slo.BudgetingMethod != BudgetingMethod {
		t.Errorf("%s: budgeting method %q", what, slo.BudgetingMethod)
	}
	return string(w)
}

// TestObjectivesExactly: objectives whose ratio a float64 cannot hold
// print as written.
func TestObjectivesExactly(t *testing.T) {
	for objective, want := range map[string]string{
		"99.95": "0.9995", "99.9": "0.999", "99.99": "0.9999", "99.999": "0.99999",
		"99.5": "0.995", "99": "0.99", "95": "0.95", "99.95000": "0.9995", "12.345678": "0.12345678",
	} {
		svc := catalog.Service{Name: "s", Kind: catalog.TCPService, Port: 1,
			SLOs: catalog.SLOs{Availability: &catalog.Objective{Text: objective, Window: catalog.Window30d}}}
		out, err := File(nil, svc)
		if err != nil {
			t.Fatal(err)
		}
		if got := targetRE.FindStringSubmatch(string(out)); got == nil || got[1] != want {
			t.Errorf("objective %s: target %v, want %s", objective, got, want)
		}
	}
}

// TestSpecCheckerCatchesMistakes: the specification check fails for
// documents that break it, so its silence on ours means something.
func TestSpecCheckerCatchesMistakes(t *testing.T) {
	cat := exampleCatalog(t)
	good, err := File(cat, *cat.Lookup("payments"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ old, new string }{
		{"apiVersion: openslo/v1", "apiVersion: openslo/v2"},
		{"name: payments\n", "name: Payments\n"},
		{"target: 0.9995", "target: 1"},
		{"target: 0.9995", "targetPercent: 99.95\n      target: 0.9995"},
		{"budgetingMethod: Occurrences", "budgetingMethod: Occurrence"},
		{"duration: 30d", "duration: 30days"},
		{"isRolling: true", "isRolling: false"},
		{"timeZone: UTC", "timeZone: Mars/Olympus"},
		{`startTime: "2000-01-01 00:00:00"`, `startTime: "2000-01-01T00:00:00Z"`},
		{"indicatorRef: payments-latency", "indicatorRef: payments-latenc"},
		{"counter: true", "counter: true\n    good: {metricSource: {type: Prometheus, spec: {query: up}}}"},
		{"query: sum(mesh_sli_errors_total", "query: sum(mesh_sli_errors_total{"},
		{"budgetingMethod: Occurrences", "budgetingMethod: Occurrences\n  window: 30d"},
	} {
		bad := strings.Replace(string(good), tc.old, tc.new, 1)
		if bad == string(good) {
			t.Fatalf("%q not in the output", tc.old)
		}
		if _, errs := checkSpec([]byte(bad)); len(errs) == 0 {
			t.Errorf("%q → %q: no error", tc.old, tc.new)
		}
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 60)
	cat := &catalog.Catalog{Services: []catalog.Service{{Name: "my_website"}, {Name: "my-website"}, {Name: "shop"}}}
	for _, tc := range []struct{ in, want string }{
		{"my_website", "my-website"},
		{"a_b-c", "a-b-c"},
		{long, long},
		{"svc_", "svc-" + hash8("svc_")},
	} {
		if got := Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Name(long + "-availability"); len(got) > maxName || !rfc1123.MatchString(got) || Name(long+"-latency") == got {
		t.Errorf("long name %q", got)
	}
	a, b := serviceName(cat, "my_website"), serviceName(cat, "my-website")
	if a == b || !rfc1123.MatchString(a) || !rfc1123.MatchString(b) || serviceName(cat, "shop") != "shop" {
		t.Errorf("names that meet: %q and %q", a, b)
	}
}

func hash8(s string) string {
	full := hashed("x", s)
	return full[len(full)-8:]
}

// TestFileDecodesAsYAML: the stream is valid YAML documents, each a
// mapping, and rendering is deterministic.
func TestFileDecodesAsYAML(t *testing.T) {
	cat := exampleCatalog(t)
	for _, svc := range cat.Services {
		a, _ := File(cat, svc)
		b, _ := File(cat, svc)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renderings differ", svc.Name)
		}
		dec := yaml.NewDecoder(bytes.NewReader(a))
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if err.Error() != "EOF" {
					t.Errorf("%s: %v", svc.Name, err)
				}
				break
			}
		}
	}
}
