// Package dashboards builds the mesh's Grafana dashboards from the catalog
// with grafana-foundation-sdk: one per service (SLIs against objectives,
// error budget, burn rates with the alert thresholds drawn, the low-traffic
// guard's bad requests against its minimums and when it holds an alert
// back, traffic, errors and latency by route, and errors and latency per
// caller as the callers saw them), a fleet overview (every budget, worst
// first, and a node graph of the dependency edges), a cookie privacy view
// and alsd's own pipeline, plus the provisioning files that load them into
// Grafana with the meshtel Prometheus datasource.
//
// It renders JSON and YAML only; it never talks to Grafana. Every panel
// reads the datasource through the dashboard's "datasource" variable, so
// one set of files works against any Prometheus.
package dashboards

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// Identifiers the generated files share with each other and with Grafana.
const (
	// DatasourceUID is the uid of the provisioned Prometheus datasource and
	// the default of every dashboard's datasource variable.
	DatasourceUID = "meshtel-prometheus"
	// DatasourceName is the provisioned datasource's display name.
	DatasourceName = "meshtel Prometheus"
	// OverviewUID, CookiesUID and PipelineUID are the fixed dashboards'
	// UIDs; no service UID can equal them (see UID).
	OverviewUID = "meshtel-overview"
	CookiesUID  = "meshtel-cookies"
	PipelineUID = "meshtel-alsd"
	// MaxUIDLength is Grafana's limit on dashboard UIDs.
	MaxUIDLength = 40
	// Tag marks every generated dashboard.
	Tag = "meshtel"
)

const (
	servicePrefix = "meshtel-svc-"
	uidHashLen    = 8
	dsVar         = "datasource"
)

// UID returns the stable dashboard UID of a service: "meshtel-svc-" and the
// name, or, for names too long to fit in MaxUIDLength, a prefix of the name
// and 8 hex digits of its SHA-256, so that long names sharing a prefix
// still get distinct UIDs.
func UID(service string) string {
	uid := servicePrefix + service
	if len(uid) <= MaxUIDLength {
		return uid
	}
	sum := sha256.Sum256([]byte(service))
	keep := MaxUIDLength - len(servicePrefix) - 1 - uidHashLen
	return servicePrefix + service[:keep] + "-" + hex.EncodeToString(sum[:])[:uidHashLen]
}

// URL returns the link to a dashboard under a Grafana base URL.
func URL(grafanaURL, uid string) string {
	return strings.TrimSuffix(grafanaURL, "/") + "/d/" + uid
}

func ds() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + dsVar + "}")}
}

// base starts a dashboard with the settings every generated one shares.
func base(uid, title string, tags ...string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Tags(append([]string{Tag}, tags...)).
		Editable().
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneUtc).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder(dsVar).
			Label("Datasource").
			Type("prometheus").
			Current(dashboard.VariableOption{
				Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(DatasourceName)},
				Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(DatasourceUID)},
			})).
		Link(dashboard.NewDashboardLinkBuilder("meshtel").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds()).Expr(expr).LegendFormat(legend)
}

func instant(expr, legend string) *prometheus.DataqueryBuilder {
	return query(expr, legend).Instant().Format(prometheus.PromQueryFormatTable)
}

func targets(qs ...*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		out[i] = q
	}
	return out
}

// steps builds absolute thresholds: the first color from -∞, then each
// (value, color) pair.
func steps(first string, rest ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Color: first}}
	for i := 0; i+1 < len(rest); i += 2 {
		v := rest[i].(float64)
		s = append(s, dashboard.Threshold{Value: &v, Color: rest[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})
}

func render(b *dashboard.DashboardBuilder) ([]byte, error) {
	d, err := b.Build()
	if err != nil {
		return nil, err
	}
	// Grafana wants unique panel ids; numbering in layout order keeps
	// them stable from run to run.
	id := uint32(0)
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ratio parses an exact decimal printed by package alerts; its nearest
// float64 prints back as the same digits in JSON.
func ratio(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func recorded(window, service, slo string) string {
	return alerts.RecordName(window) + selector(service, slo)
}

// Service renders the dashboard of one service.
func Service(svc catalog.Service) ([]byte, error) {
	slos, err := alerts.SLOs(svc)
	if err != nil {
		return nil, err
	}
	b := base(UID(svc.Name), "Service "+svc.Name, "service", string(svc.Kind)).
		Description(fmt.Sprintf("SLOs, error budgets and traffic of %s (%s, team %s). Generated by dashgen from the mesh catalog; edits are overwritten.", svc.Name, svc.Kind, svc.Team))
	for _, s := range slos {
		if b, err = sloPanels(b, svc, s); err != nil {
			return nil, err
		}
	}
	return render(callerPanels(trafficPanels(b, svc), svc))
}

// sloPanels add one SLO's row: its SLI, budget left, burn rates and the
// low-traffic guard.
func sloPanels(b *dashboard.DashboardBuilder, svc catalog.Service, s alerts.SLO) (*dashboard.DashboardBuilder, error) {
	title := fmt.Sprintf("%s SLO: %s%% over %s", strings.ToUpper(s.Name[:1])+s.Name[1:], s.Objective, s.WindowText())
	if s.Name == "latency" && svc.SLOs.Latency != nil {
		title += " under " + svc.SLOs.Latency.ThresholdText
	}
	b = b.WithRow(dashboard.NewRowBuilder(title))
	window := sli.WindowOf(s.Window)
	b = b.WithPanel(sliPanel(svc, s, window))
	b = b.WithPanel(stat.NewPanelBuilder().
		Title("Error budget remaining (" + window.Name + ")").
		Description(budgetText(window)).
		Span(6).Height(6).
		Unit("percentunit").Decimals(1).
		Thresholds(steps("red", 0.0, "orange", 0.25, "green")).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(lastValue()).
		Targets(targets(query(fmt.Sprintf(`mesh_slo_error_budget_remaining_ratio{service=%q,slo=%q}`, svc.Name, s.Name), "budget"))))
	var burn []*prometheus.DataqueryBuilder
	for _, w := range sli.Windows {
		burn = append(burn, query(fmt.Sprintf("%s / %s", recorded(w.Name, svc.Name, s.Name), s.Budget), w.Name))
	}
	th := []any{}
	for _, f := range burnFactors(s) {
		th = append(th, f, "red")
	}
	b = b.WithPanel(timeseries.NewPanelBuilder().
		Title("Burn rate by window").
		Description(fmt.Sprintf("Error ratio divided by the error budget (1 = spending exactly the budget in %s). Dashed lines: the MeshErrorBudgetBurn factors.", burnSpan(window))).
		Span(12).Height(6).
		Unit("x").Min(0).
		Thresholds(steps("transparent", th...)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Targets(targets(burn...)))
	return guardPanels(b, svc, s)
}

// sliPanel shows an SLO's SLI over its window: the recorded ratio of a
// rolling window, or, for the calendar month, the ratio of increases over
// the panel's own time range, "this month so far" (the dashboards keep
// time in UTC, as alsd's months are).
func sliPanel(svc catalog.Service, s alerts.SLO, w sli.SLOWindow) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().
		Title("SLI (" + w.Name + ")").
		Description(fmt.Sprintf("Share of good %s requests over the budget window; objective %s%%. No traffic counts as 1.", s.Name, s.Objective)).
		Span(6).Height(6).
		Unit("percentunit").Decimals(3).
		Thresholds(steps("red", ratio(s.Ratio), "green")).
		ColorMode(common.BigValueColorModeBackground).
		ReduceOptions(lastValue())
	if !w.Calendar() {
		return p.Targets(targets(query("1 - "+recorded(w.Name, svc.Name, s.Name), "SLI")))
	}
	sel := fmt.Sprintf(`service=%q,slo=%q`, svc.Name, s.Name)
	expr := fmt.Sprintf(`1 - ((sum(increase(%s{%s}[$__range])) / (sum(increase(%s{%s}[$__range])) > 0)) or vector(0))`,
		alerts.ErrorsMetric, sel, alerts.RequestsMetric, sel)
	return p.TimeFrom("now/M").Targets(targets(query(expr, "SLI").Instant()))
}

// budgetText describes the budget panel of an SLO with window w.
func budgetText(w sli.SLOWindow) string {
	if w.Calendar() {
		return "Computed by alsd over the calendar month (UTC), projected from the month so far; below 0 the objective is missed."
	}
	return "Computed by alsd; below 0 the objective is missed."
}

// burnSpan says over what a burn rate of 1 spends the whole budget.
func burnSpan(w sli.SLOWindow) string {
	if w.Calendar() {
		return "the month"
	}
	return w.Name
}

// trafficPanels add the traffic row: requests, error ratio and, for HTTP
// services, latency quantiles by route.
func trafficPanels(b *dashboard.DashboardBuilder, svc catalog.Service) *dashboard.DashboardBuilder {
	b = b.WithRow(dashboard.NewRowBuilder("Traffic by route"))
	sel := fmt.Sprintf(`service=%q,slo="availability"`, svc.Name)
	b = b.WithPanel(timeseries.NewPanelBuilder().
		Title("Requests/s").
		Description("Non-excluded requests (health checks, outbound and intermediate records are not counted).").
		Span(8).Height(8).Unit("reqps").Min(0).
		Targets(targets(query(fmt.Sprintf(`sum by (route) (rate(mesh_sli_requests_total{%s}[$__rate_interval]))`, sel), "{{route}}"))))
	b = b.WithPanel(timeseries.NewPanelBuilder().
		Title("Error ratio").
		Description("Bad requests (availability SLI) over all counted requests; routes without traffic show no line rather than NaN.").
		Span(8).Height(8).Unit("percentunit").Min(0).
		Targets(targets(query(fmt.Sprintf(
			`sum by (route) (rate(mesh_sli_errors_total{%s}[$__rate_interval])) / (sum by (route) (rate(mesh_sli_requests_total{%s}[$__rate_interval])) > 0)`,
			sel, sel), "{{route}}"))))
	if svc.Kind != catalog.TCPService {
		var qs []*prometheus.DataqueryBuilder
		// Routes without traffic are dropped before histogram_quantile,
		// which would otherwise draw NaN for them.
		for _, q := range []string{"0.5", "0.9", "0.99"} {
			qs = append(qs, query(fmt.Sprintf(
				`histogram_quantile(%s, sum by (le, route) (rate(mesh_request_duration_seconds_bucket{service=%q}[$__rate_interval])) and on (route) (sum by (route) (rate(mesh_request_duration_seconds_count{service=%q}[$__rate_interval])) > 0))`,
				q, svc.Name, svc.Name), "p"+strings.TrimPrefix(q, "0.")+" {{route}}"))
		}
		p := timeseries.NewPanelBuilder().
			Title("Latency quantiles").
			Span(8).Height(8).Unit("s").Min(0).
			Targets(targets(qs...))
		if l := svc.SLOs.Latency; l != nil {
			p = p.Description("Dashed line: the latency SLO threshold (" + l.ThresholdText + ").").
				Thresholds(steps("transparent", l.Threshold.Seconds(), "red")).
				ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
		}
		b = b.WithPanel(p)
	}
	return b
}

// guardPanels show the low-traffic guard of one SLO, when it is on: the
// bad requests in each window pair's long window against the pair's
// minimum, and when the guard holds a pair back (its burn conditions hold
// with too few bad requests to fire).
func guardPanels(b *dashboard.DashboardBuilder, svc catalog.Service, s alerts.SLO) (*dashboard.DashboardBuilder, error) {
	var guards []alerts.Guard
	for _, sev := range []sli.Severity{sli.Page, sli.Ticket} {
		gs, err := alerts.Guards(svc, s, sev)
		if err != nil {
			return nil, err
		}
		guards = append(guards, gs...)
	}
	if len(guards) == 0 {
		return b, nil
	}
	var counts, held []*prometheus.DataqueryBuilder
	var mins []float64
	for _, g := range guards {
		p := g.Pair
		name := fmt.Sprintf("%s %s× %s ∧ %s", p.Severity, strconv.FormatFloat(p.Factor, 'g', 4, 64), p.Long.Name, p.Short.Name)
		counts = append(counts, query(alerts.BadEventsName(p.Long.Name)+selector(svc.Name, s.Name),
			fmt.Sprintf("%s (%s needs ≥ %s)", p.Long.Name, p.Severity, strconv.FormatFloat(g.Min, 'f', -1, 64))))
		held = append(held, query(alerts.HeldBackExpr(svc.Name, s, g), name))
		if !slices.Contains(mins, g.Min) {
			mins = append(mins, g.Min)
		}
	}
	slices.Sort(mins)
	th := []any{}
	for _, m := range mins {
		th = append(th, m, "orange")
	}
	b = b.WithPanel(timeseries.NewPanelBuilder().
		Title("Low-traffic guard: bad requests per alert window").
		Description(fmt.Sprintf("Bad %s requests in the long window of each MeshErrorBudgetBurn window pair. A pair fires only with at least its minimum (dashed): min_bad_events %d, or what one request per second has at the pair's threshold when that is less.", s.Name, svc.Alerting.MinBadEvents)).
		Span(16).Height(6).
		Min(0).
		Thresholds(steps("transparent", th...)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Targets(targets(counts...)))
	heldBack := "held back"
	return b.WithPanel(statetimeline.NewPanelBuilder().
		Title("Held back by the low-traffic guard").
		Description("When a window pair's burn-rate conditions hold but its long window has fewer bad requests than the minimum: the alert would fire without the guard.").
		Span(8).Height(6).
		Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
			Type:    dashboard.MappingTypeValueToText,
			Options: map[string]dashboard.ValueMappingResult{"1": {Text: &heldBack, Color: cog.ToPtr("orange")}},
		}}}).
		Targets(targets(held...))), nil
}

func selector(service, slo string) string {
	return fmt.Sprintf(`{service=%q,slo=%q,generator=%q}`, service, slo, alerts.Generator)
}

// burnFactors are the distinct alert factors of s, ascending.
func burnFactors(s alerts.SLO) []float64 {
	var out []float64
	conds := s.Alerts()
	for i := len(conds) - 1; i >= 0; i-- {
		f := conds[i].Factor
		if len(out) == 0 || out[len(out)-1] < f {
			out = append(out, f)
		}
	}
	return out
}

// Overview renders the fleet overview: every SLO's remaining budget on one
// page, worst first, and every service's burn and traffic.
func Overview(cat *catalog.Catalog) ([]byte, error) {
	b := base(OverviewUID, "Mesh overview", "overview").
		Description("Every service's error budget, worst first. Generated by dashgen from the mesh catalog.")
	for _, svc := range cat.Services {
		b = b.Link(dashboard.NewDashboardLinkBuilder(svc.Name).
			Type(dashboard.DashboardLinkTypeLink).
			Url("/d/" + UID(svc.Name)).
			IncludeVars(true).KeepTime(true))
	}
	b = b.WithPanel(bargauge.NewPanelBuilder().
		Title("Error budget remaining (" + overviewWindow(cat) + "), worst first").
		Span(24).Height(uint32(min(4+len(cat.Services)*2, 30))).
		Unit("percentunit").Min(-1).Max(1).
		Thresholds(steps("red", 0.0, "orange", 0.25, "green")).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Orientation(common.VizOrientationHorizontal).
		ReduceOptions(lastValue()).
		Targets(targets(query(`sort(mesh_slo_error_budget_remaining_ratio)`, "{{service}} {{slo}}").Instant())))
	b = b.WithPanel(table.NewPanelBuilder().
		Title("Burn rate (1h), highest first").
		Description("Computed by alsd: the 1h error ratio over the error budget.").
		Span(12).Height(10).
		Unit("x").
		Targets(targets(instant(`sort_desc(mesh_slo_burn_rate{window="1h"})`, ""))))
	b = b.WithPanel(table.NewPanelBuilder().
		Title("Firing MeshErrorBudgetBurn alerts").
		Span(12).Height(10).
		Targets(targets(instant(fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing"}`, alerts.AlertName), ""))))
	b = b.WithPanel(timeseries.NewPanelBuilder().
		Title("Requests/s by service").
		Span(24).Height(8).Unit("reqps").Min(0).
		Targets(targets(query(`sum by (service) (rate(mesh_sli_requests_total{slo="availability"}[$__rate_interval]))`, "{{service}}"))))
	return render(dependencyGraph(b))
}

// dependencyGraph adds the node graph of the mesh's edges as callers see
// them (SPEC §8): one edge per (source, destination) with its request rate
// and error ratio over the last 5 minutes. Grafana's node graph wants an
// edges frame with id, source and target fields: label_join and
// label_replace make them labels, merge joins the two queries, and
// calculated fields give them the names mainstat and secondarystat.
func dependencyGraph(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	edgeFrame := func(expr string) string {
		return fmt.Sprintf(`label_replace(label_join(%s, "id", "→", "source", "destination"), "target", "$1", "destination", "(.*)")`, expr)
	}
	requests := `sum by (source, destination) (rate(mesh_edge_requests_total[5m]))`
	errors := `sum by (source, destination) (rate(mesh_edge_errors_total[5m])) / (` + requests + ` > 0)`
	stat := func(field, name string) dashboard.DataTransformerConfig {
		return dashboard.DataTransformerConfig{Id: "calculateField", Options: map[string]any{
			"mode": "reduceRow", "reduce": map[string]any{"include": []string{field}, "reducer": "sum"}, "alias": name,
		}}
	}
	return b.WithPanel(nodegraph.NewPanelBuilder().
		Title("Dependencies as callers see them").
		Description("Each edge is what the caller's sidecar logged of its calls (mesh_edge_*, SPEC §8): requests/s and error ratio over 5 minutes. Services outside the catalog are \"other\". alsd's /graph page marks undeclared and unused edges.").
		Span(24).Height(14).
		Targets(targets(
			instant(edgeFrame(requests), "").RefId("edges"),
			instant(edgeFrame(errors), "").RefId("errors"))).
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			stat("Value #edges", "mainstat"),
			stat("Value #errors", "secondarystat"),
			{Id: "organize", Options: map[string]any{"excludeByName": map[string]bool{
				"Time": true, "destination": true, "Value #edges": true, "Value #errors": true,
			}}},
		}).
		Edges(nodegraph.NewEdgeOptionsBuilder().MainStatUnit("reqps").SecondaryStatUnit("percentunit")))
}

// callerPanels add the service's callers: per calling service, its
// request rate, error ratio and (HTTP) p99 latency over the dashboard's
// time range, as each caller's sidecar logged them — the service as its
// callers see it, next to its own SLIs above.
func callerPanels(b *dashboard.DashboardBuilder, svc catalog.Service) *dashboard.DashboardBuilder {
	sel := fmt.Sprintf(`destination=%q`, svc.Name)
	requests := fmt.Sprintf(`sum by (source) (rate(mesh_edge_requests_total{%s}[$__range]))`, sel)
	qs := []*prometheus.DataqueryBuilder{
		instant(requests, "").RefId("requests"),
		instant(fmt.Sprintf(`sum by (source) (rate(mesh_edge_errors_total{%s}[$__range])) / (%s > 0)`, sel, requests), "").RefId("errors"),
	}
	rename := map[string]string{"source": "Caller", "Value #requests": "Requests/s", "Value #errors": "Error ratio"}
	if svc.Kind != catalog.TCPService {
		qs = append(qs, instant(fmt.Sprintf(
			`histogram_quantile(0.99, sum by (le, source) (rate(mesh_edge_duration_seconds_bucket{%s}[$__range])) and on (source) (sum by (source) (rate(mesh_edge_duration_seconds_count{%s}[$__range])) > 0))`,
			sel, sel), "").RefId("p99"))
		rename["Value #p99"] = "p99 latency"
	}
	unit := func(u string) []dashboard.DynamicConfigValue {
		return []dashboard.DynamicConfigValue{{Id: "unit", Value: u}}
	}
	b = b.WithRow(dashboard.NewRowBuilder("As its callers see it"))
	p := table.NewPanelBuilder().
		Title("Callers: errors and latency as each caller saw them").
		Description(fmt.Sprintf("Outbound calls into %s logged by each caller's sidecar (mesh_edge_*, SPEC §8), over the dashboard's time range. They include the network and %s's own Envoy, so failures that never reached %s show here and not in its SLIs above.", svc.Name, svc.Name, svc.Name)).
		Span(24).Height(8).
		Targets(targets(qs...)).
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			{Id: "organize", Options: map[string]any{"excludeByName": map[string]bool{"Time": true}, "renameByName": rename}},
		}).
		OverrideByName("Requests/s", unit("reqps")).
		OverrideByName("Error ratio", unit("percentunit"))
	if svc.Kind != catalog.TCPService {
		p = p.OverrideByName("p99 latency", unit("s"))
	}
	return b.WithPanel(p)
}

// overviewWindow names the window of every SLO of cat when they share
// one, else says each has its own.
func overviewWindow(cat *catalog.Catalog) string {
	names := map[string]bool{}
	for _, svc := range cat.Services {
		for _, o := range []*catalog.Objective{svc.SLOs.Availability, latencyObjective(svc)} {
			if o != nil {
				names[sli.WindowOf(o.Window).Name] = true
			}
		}
	}
	if len(names) > 1 {
		return "each SLO's window"
	}
	for n := range names {
		return n
	}
	return sli.WindowOf(catalog.DefaultWindow).Name
}

func latencyObjective(svc catalog.Service) *catalog.Objective {
	if l := svc.SLOs.Latency; l != nil && svc.Kind != catalog.TCPService {
		return &l.Objective
	}
	return nil
}

// Cookies renders the privacy view: cookie findings by service.
func Cookies(cat *catalog.Catalog) ([]byte, error) {
	b := base(CookiesUID, "Mesh cookies", "privacy").
		Description("Distinct cookies per policy finding and service, from alsd's cookie inventory (values are never collected). Generated by dashgen.")
	b = b.WithPanel(stat.NewPanelBuilder().
		Title("Cookies with findings").
		Span(8).Height(6).
		Thresholds(steps("green", 1.0, "orange")).
		ColorMode(common.BigValueColorModeBackground).
		ReduceOptions(lastValue()).
		Targets(targets(query(`sum(mesh_cookies{finding!="none"}) or vector(0)`, "findings"))))
	b = b.WithPanel(stat.NewPanelBuilder().
		Title("Clean cookies").
		Span(8).Height(6).
		ReduceOptions(lastValue()).
		Targets(targets(query(`sum(mesh_cookies{finding="none"}) or vector(0)`, "clean"))))
	b = b.WithPanel(stat.NewPanelBuilder().
		Title("Services with cookies").
		Description(fmt.Sprintf("Out of %d services in the catalog.", len(cat.Services))).
		Span(8).Height(6).
		ReduceOptions(lastValue()).
		Targets(targets(query(`count(count by (service) (mesh_cookies)) or vector(0)`, "services"))))
	b = b.WithPanel(table.NewPanelBuilder().
		Title("Findings by service").
		Description("A cookie with several findings is counted under each.").
		Span(24).Height(10).
		Targets(targets(instant(`sort_desc(sum by (service, finding) (mesh_cookies{finding!="none"}))`, ""))))
	b = b.WithPanel(timeseries.NewPanelBuilder().
		Title("Cookies by finding").
		Span(24).Height(8).Min(0).
		Targets(targets(query(`sum by (finding) (mesh_cookies)`, "{{finding}}"))))
	return render(b)
}

// Pipeline renders alsd's own health: records, Kafka, spool, drops, limits.
func Pipeline() ([]byte, error) {
	b := base(PipelineUID, "alsd pipeline", "alsd").
		Description("alsd's ingest pipeline: ALS records in, Kafka out, the spool in between. Generated by dashgen.")
	type q struct{ expr, legend string }
	panels := []struct {
		title, unit string
		queries     []q
	}{
		{"Records/s by kind and outcome", "ops", []q{
			{`sum by (kind, outcome) (rate(alsd_records_total[$__rate_interval]))`, "{{kind}} {{outcome}}"}}},
		{"Kafka produced and errors /s", "ops", []q{
			{`sum(rate(alsd_kafka_produced_total[$__rate_interval]))`, "produced"},
			{`sum(rate(alsd_kafka_errors_total[$__rate_interval]))`, "errors"}}},
		{"Spool bytes (undelivered records)", "bytes", []q{
			{`sum by (instance) (alsd_spool_bytes)`, "{{instance}}"}}},
		{"Dropped records and corrupt spool tails /s", "ops", []q{
			{`sum by (reason) (rate(alsd_records_dropped_total[$__rate_interval]))`, "dropped {{reason}}"},
			{`sum(rate(alsd_spool_corrupt_total[$__rate_interval]))`, "corrupt spool tails"}}},
		{"Active ALS streams", "short", []q{
			{`sum by (instance) (alsd_streams_active)`, "{{instance}}"}}},
		{"Limit hits and refused peers /s", "ops", []q{
			{`sum by (limit) (rate(alsd_limit_hits_total[$__rate_interval]))`, "limit {{limit}}"},
			{`sum by (reason) (rate(alsd_als_peers_refused_total[$__rate_interval]))`, "refused {{reason}}"}}},
	}
	for _, p := range panels {
		var qs []*prometheus.DataqueryBuilder
		for _, x := range p.queries {
			qs = append(qs, query(x.expr, x.legend))
		}
		b = b.WithPanel(timeseries.NewPanelBuilder().
			Title(p.title).Span(12).Height(8).Unit(p.unit).Min(0).
			Targets(targets(qs...)))
	}
	return render(b)
}
