// Package alerts generates the Prometheus side of the mesh's SLOs from the
// catalog: Sloth-style recording rules of error ratios per burn window, the
// multi-window multi-burn-rate MeshErrorBudgetBurn alerts of the Google SRE
// workbook (ch. 5) with a low-traffic guard (see Guard), promtool unit
// tests proving those alerts fire and stay quiet, and the Alertmanager
// route tree that sends them to each team.
//
// Each SLO's burn factors follow its catalog window (30d, 28d, 7d or the
// calendar month, see sli.BurnAlertsFor), and its rolling budget window is
// recorded too ("slo:sli_error:ratio_rate28d"); a calendar month has no
// recording rule, PromQL ranges being fixed.
//
// It only renders text: it does not load rules into Prometheus, does not
// evaluate them and does not talk to Alertmanager. Burn windows and factors
// come from package sli, so alsd and the rules never disagree.
package alerts

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// Metric and rule names the generated rules read and write.
const (
	// RequestsMetric counts non-excluded requests per SLO (SPEC §5).
	RequestsMetric = "mesh_sli_requests_total"
	// ErrorsMetric counts bad requests per SLO (SPEC §5).
	ErrorsMetric = "mesh_sli_errors_total"
	// AlertName is the name of every generated burn-rate alert.
	AlertName = "MeshErrorBudgetBurn"
	// RecordPrefix prefixes the recorded error ratios; the window name
	// follows it ("slo:sli_error:ratio_rate5m").
	RecordPrefix = "slo:sli_error:ratio_rate"
	// Generator is the value of the generator label every generated
	// series carries, so ours never collide with another tool's slo: rules.
	Generator = "meshtel"
)

// longWindow is where recording rules switch from rate() to increase():
// over a day or more, the ratio of totals is the honest SLI, and it is the
// form Sloth gets wrong by averaging short-window ratios.
const longWindow = 24 * time.Hour

// longGroupInterval is how often the long-window group is evaluated: a
// 30d increase() every minute would cost far more than it tells.
const longGroupInterval = 2 * time.Minute

// pageFor and ticketFor delay firing long enough to ride out one bad
// scrape; SPEC §5 caps pages at 2m.
const (
	pageFor   = 2 * time.Minute
	ticketFor = 15 * time.Minute
)

// Config configures generation. The zero value is usable.
type Config struct {
	// DashboardURL returns the link put in each alert's dashboard
	// annotation. Nil (the default) leaves that annotation out.
	DashboardURL func(service string) string
	// PipelineDashboardURL is the dashboard annotation of the pipeline
	// alerts; "" (the default) leaves it out.
	PipelineDashboardURL string
	// ALSDJob is the Prometheus job scraping alsd, which MeshTelemetryDown
	// watches; "" means DefaultALSDJob.
	ALSDJob string
	// AggregatorLagThreshold is the consumer lag in records above which
	// MeshAggregatorLag fires; 0 or less means DefaultAggregatorLagThreshold.
	AggregatorLagThreshold int64
}

// SLO is one enabled objective of a service, as the rules see it.
type SLO struct {
	Name      string // "availability" or "latency"
	Objective string // percent exactly as written in the catalog: "99.9"
	Ratio     string // the objective as an exact ratio: "0.999"
	Budget    string // exact error budget ratio: "0.001"
	// Window is the SLO's window; its burn factors and budget window
	// follow from it (sli.BurnAlertsFor, sli.WindowOf).
	Window catalog.Window
}

// Alerts returns the burn-rate conditions of s, from package sli.
func (s SLO) Alerts() []sli.BurnAlert { return sli.BurnAlertsFor(s.Window) }

// WindowText describes s's window for people: "30d", "the calendar month".
func (s SLO) WindowText() string {
	if w := sli.WindowOf(s.Window); !w.Calendar() {
		return w.Name
	}
	return "the calendar month"
}

// SLOs returns the enabled SLOs of svc in a fixed order (availability,
// latency), with their error budgets as exact decimals.
func SLOs(svc catalog.Service) ([]SLO, error) {
	var out []SLO
	add := func(name string, o catalog.Objective) error {
		text := o.Text
		if text == "" {
			text = strconv.FormatFloat(o.Percent, 'f', -1, 64)
		}
		b, err := budgetText(text)
		if err != nil {
			return fmt.Errorf("service %q slo %q: %w", svc.Name, name, err)
		}
		r, err := ratioText(text)
		if err != nil {
			return fmt.Errorf("service %q slo %q: %w", svc.Name, name, err)
		}
		out = append(out, SLO{Name: name, Objective: text, Ratio: r, Budget: b, Window: o.Window.OrDefault()})
		return nil
	}
	if a := svc.SLOs.Availability; a != nil {
		if err := add("availability", *a); err != nil {
			return nil, err
		}
	}
	if l := svc.SLOs.Latency; l != nil && svc.Kind != catalog.TCPService {
		if err := add("latency", l.Objective); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordWindow is a window a recording rule is written for.
type recordWindow struct {
	name string
	dur  time.Duration
}

// recordWindows are the burn windows and, longest first, the rolling
// budget windows of slos ("30d", "28d", "7d"). A calendar month has no
// recording rule: PromQL ranges are fixed, so its budget comes from
// alsd's mesh_slo_error_budget_remaining_ratio.
func recordWindows(slos []SLO) []recordWindow {
	ws := make([]recordWindow, 0, len(sli.Windows)+len(slos))
	for _, w := range sli.Windows {
		ws = append(ws, recordWindow{w.Name, w.Duration})
	}
	for _, cw := range catalog.Windows {
		w := sli.WindowOf(cw)
		used := slices.ContainsFunc(slos, func(s SLO) bool { return sli.WindowOf(s.Window) == w })
		if used && !w.Calendar() {
			ws = append(ws, recordWindow{w.Name, w.Length()})
		}
	}
	return ws
}

// RecordName returns the recording rule name for a window ("5m").
func RecordName(window string) string { return RecordPrefix + window }

// RuleGroups returns the recording and alerting rule groups of one service.
// Every expression has been parsed by the PromQL parser.
func RuleGroups(cat *catalog.Catalog, svc catalog.Service, cfg Config) (*rulefmt.RuleGroups, error) {
	slos, err := SLOs(svc)
	if err != nil {
		return nil, err
	}
	var groups rulefmt.RuleGroups
	if len(slos) == 0 {
		return &groups, nil
	}
	sel := sloSelector(svc.Name, slos)
	short := rulefmt.RuleGroup{Name: "meshtel-" + svc.Name + "-sli-short"}
	long := rulefmt.RuleGroup{Name: "meshtel-" + svc.Name + "-sli-long", Interval: model.Duration(longGroupInterval)}
	for _, w := range recordWindows(slos) {
		r := rulefmt.Rule{
			Record: RecordName(w.name),
			Expr:   ratioExpr(sel, w),
			Labels: map[string]string{"generator": Generator},
		}
		if w.dur >= longWindow {
			long.Rules = append(long.Rules, r)
		} else {
			short.Rules = append(short.Rules, r)
		}
	}
	for _, w := range guardWindows() {
		r := rulefmt.Rule{
			Record: BadEventsName(w.name),
			Expr:   badEventsExpr(sel, w),
			Labels: map[string]string{"generator": Generator},
		}
		if w.dur >= longWindow {
			long.Rules = append(long.Rules, r)
		} else {
			short.Rules = append(short.Rules, r)
		}
	}
	alerting := rulefmt.RuleGroup{Name: "meshtel-" + svc.Name + "-alerts"}
	for _, s := range slos {
		for _, sev := range severities() {
			r, err := alertRule(cat, svc, s, sev, cfg)
			if err != nil {
				return nil, err
			}
			alerting.Rules = append(alerting.Rules, r)
		}
	}
	groups.Groups = []rulefmt.RuleGroup{short, long, alerting}
	p := parser.NewParser(parser.Options{})
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if _, err := p.ParseExpr(r.Expr); err != nil {
				return nil, fmt.Errorf("service %q rule %q: generated invalid PromQL: %w", svc.Name, r.Record+r.Alert, err)
			}
		}
	}
	return &groups, nil
}

// RulesFile renders the rule groups of one service as a Prometheus rule
// file. Its expressions have been parsed (see RuleGroups); tests load the
// whole file with rulefmt, which costs too much to repeat on every run.
func RulesFile(cat *catalog.Catalog, svc catalog.Service, cfg Config) ([]byte, error) {
	groups, err := RuleGroups(cat, svc, cfg)
	if err != nil {
		return nil, err
	}
	out, err := marshalYAML(groups)
	if err != nil {
		return nil, fmt.Errorf("service %q: rendering rules: %w", svc.Name, err)
	}
	return out, nil
}

// severities returns the severities of sli.BurnAlerts in first-seen order.
func severities() []sli.Severity {
	var out []sli.Severity
	for _, b := range sli.BurnAlerts {
		seen := false
		for _, s := range out {
			seen = seen || s == b.Severity
		}
		if !seen {
			out = append(out, b.Severity)
		}
	}
	return out
}

// sloSelector is the label selector shared by every recording rule of a
// service: only its own series, only its enabled SLOs.
func sloSelector(service string, slos []SLO) string {
	names := make([]string, len(slos))
	for i, s := range slos {
		names[i] = s.Name
	}
	if len(names) == 1 {
		return fmt.Sprintf(`service=%q,slo=%q`, service, names[0])
	}
	return fmt.Sprintf(`service=%q,slo=~%q`, service, strings.Join(names, "|"))
}

// ratioExpr is the error ratio over one window. Dividing only where
// requests > 0 and falling back to 0 × requests means a window without
// traffic records 0 (SLI 1) instead of NaN, and a service that never had
// an error (no errors series at all) records 0 instead of nothing.
func ratioExpr(sel string, w recordWindow) string {
	fn := "rate"
	if w.dur >= longWindow {
		fn = "increase"
	}
	sum := func(metric string) string {
		return fmt.Sprintf("sum by (service, slo) (%s(%s{%s}[%s]))", fn, metric, sel, w.name)
	}
	return fmt.Sprintf("(\n  %s\n/\n  (%s > 0)\n)\nor\n(\n  0 * %s\n)\n",
		sum(ErrorsMetric), sum(RequestsMetric), sum(RequestsMetric))
}

// threshold prints factor × budget the way the rules show it: both as
// written, multiplied by Prometheus.
func threshold(factor float64, budget string) string {
	return fmt.Sprintf("(%s * %s)", strconv.FormatFloat(factor, 'f', -1, 64), budget)
}

// pairs returns the window pairs of one severity of s, in s.Alerts order.
func pairs(s SLO, sev sli.Severity) []sli.BurnAlert {
	var out []sli.BurnAlert
	for _, b := range s.Alerts() {
		if b.Severity == sev {
			out = append(out, b)
		}
	}
	return out
}

// alertExpr joins the window pairs of one severity with "or". With guards
// (guards[i] belongs to pairs(s, sev)[i]) each pair also needs its minimum of
// bad requests in its long window.
func alertExpr(service string, s SLO, sev sli.Severity, guards []Guard) string {
	sel := fmt.Sprintf(`{service=%q,slo=%q,generator=%q}`, service, s.Name, Generator)
	var out []string
	for i, b := range pairs(s, sev) {
		th := threshold(b.Factor, s.Budget)
		pair := fmt.Sprintf("(\n    %s%s > %s\n  and\n    %s%s > %s\n",
			RecordName(b.Long.Name), sel, th, RecordName(b.Short.Name), sel, th)
		if guards != nil {
			pair += fmt.Sprintf("  and\n    %s%s >= %s\n", BadEventsName(b.Long.Name), sel, guards[i].Expr)
		}
		out = append(out, pair+")")
	}
	return strings.Join(out, "\nor\n") + "\n"
}

func alertRule(cat *catalog.Catalog, svc catalog.Service, s SLO, sev sli.Severity, cfg Config) (rulefmt.Rule, error) {
	forDur := ticketFor
	if sev == sli.Page {
		forDur = pageFor
	}
	guards, err := Guards(svc, s, sev)
	if err != nil {
		return rulefmt.Rule{}, err
	}
	return rulefmt.Rule{
		Alert:       AlertName,
		Expr:        alertExpr(svc.Name, s, sev, guards),
		For:         model.Duration(forDur),
		Labels:      alertLabels(svc, s, sev),
		Annotations: annotations(cat, svc, s, sev, guards, cfg),
	}, nil
}

func alertLabels(svc catalog.Service, s SLO, sev sli.Severity) map[string]string {
	return map[string]string{
		"service":   svc.Name,
		"slo":       s.Name,
		"severity":  string(sev),
		"team":      svc.Team,
		"generator": Generator,
	}
}

// Annotations returns the annotations of the alert for one service, SLO
// and severity. Tests compare them exactly, so they carry no template.
func annotations(cat *catalog.Catalog, svc catalog.Service, s SLO, sev sli.Severity, guards []Guard, cfg Config) map[string]string {
	var conds []string
	for i, b := range pairs(s, sev) {
		cond := fmt.Sprintf("%s× over %s and %s", humanFactor(b.Factor), b.Long.Name, b.Short.Name)
		if guards != nil {
			cond += fmt.Sprintf(" with at least %s bad requests in %s", formatFactor(guards[i].Min), b.Long.Name)
		}
		conds = append(conds, cond)
	}
	objective := s.Objective + "%"
	if l := svc.SLOs.Latency; s.Name == "latency" && l != nil {
		objective += " under " + l.ThresholdText
	}
	a := map[string]string{
		"summary": fmt.Sprintf("%s is burning its %s error budget (objective %s over %s) too fast: %s.",
			svc.Name, s.Name, objective, s.WindowText(), strings.Join(conds, ", or ")),
	}
	if cfg.DashboardURL != nil {
		a["dashboard"] = cfg.DashboardURL(svc.Name)
	}
	if rb := runbook(cat, svc); rb != "" {
		a["runbook_url"] = rb
	}
	return a
}

// runbook is the service's own runbook, else the team's runbook_base
// followed by the service name, else "".
func runbook(cat *catalog.Catalog, svc catalog.Service) string {
	if svc.Runbook != "" {
		return svc.Runbook
	}
	if cat == nil {
		return ""
	}
	for _, t := range cat.Teams {
		if t.Name == svc.Team && t.RunbookBase != "" {
			return strings.TrimSuffix(t.RunbookBase, "/") + "/" + svc.Name
		}
	}
	return ""
}

// marshalYAML renders v with two-space indentation. yaml.v3 sorts map keys,
// which is what makes the output byte-identical across runs.
func marshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
