package alerts

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// Names of the pipeline and absence alerts (SPEC §5). While the pipeline
// is down every SLI goes quiet and no burn alert can fire: these say so.
const (
	TelemetryDownAlert  = "MeshTelemetryDown"
	RecordsDroppedAlert = "MeshRecordsDropped"
	SpoolFillingAlert   = "MeshSpoolFilling"
	AggregatorLagAlert  = "MeshAggregatorLag"
	ServiceSilentAlert  = "MeshServiceSilent"
)

// Defaults of the pipeline alerts' Config fields.
const (
	// DefaultALSDJob is the Prometheus job that scrapes alsd.
	DefaultALSDJob = "alsd"
	// DefaultAggregatorLagThreshold is the consumer lag, in records, above
	// which MeshAggregatorLag fires once it lasts pipelineSlowFor.
	DefaultAggregatorLagThreshold = 100000
)

// alsd's own metrics the pipeline alerts read (SPEC §5).
const (
	droppedMetric = "alsd_records_dropped_total"
	spoolMetric   = "alsd_spool_bytes"
	lagMetric     = "alsd_consumer_lag"
)

// Durations of SPEC §5's pipeline alerts.
const (
	telemetryDownFor = 5 * time.Minute  // no alsd target up this long
	droppedWindow    = 5 * time.Minute  // records dropped within this window
	pipelineSlowFor  = 15 * time.Minute // spool in use, or lag high, this long
	silentAfter      = 30 * time.Minute // no requests this long…
	silentHistory    = 24 * time.Hour   // …after some within this window
)

// silenceGroupInterval: a day-long increase() per service every minute
// costs more than a 30-minute silence needs.
const silenceGroupInterval = 2 * time.Minute

func (cfg Config) alsdJob() string {
	if cfg.ALSDJob == "" {
		return DefaultALSDJob
	}
	return cfg.ALSDJob
}

func (cfg Config) lagThreshold() int64 {
	if cfg.AggregatorLagThreshold <= 0 {
		return DefaultAggregatorLagThreshold
	}
	return cfg.AggregatorLagThreshold
}

// PipelineRuleGroups returns the alerts on the telemetry pipeline itself:
// alsd down, records lost, the spool in use, aggregators behind (labelled
// with the catalog's pipeline team), and one MeshServiceSilent per catalog
// service (labelled with the service's team). Every expression has been
// parsed by the PromQL parser.
func PipelineRuleGroups(cat *catalog.Catalog, cfg Config) (*rulefmt.RuleGroups, error) {
	if cat == nil {
		return nil, fmt.Errorf("no catalog")
	}
	team := cat.Pipeline.Team
	pipeline := rulefmt.RuleGroup{Name: catalog.PipelineName, Rules: []rulefmt.Rule{
		pipelineRule(TelemetryDownAlert, telemetryDownExpr(cfg.alsdJob()), telemetryDownFor, sli.Page, team, cfg,
			fmt.Sprintf("No alsd scrape target (job %q) has been up for %s: no access logs are counted, so no SLO alert can fire anywhere.", cfg.alsdJob(), model.Duration(telemetryDownFor))),
		pipelineRule(RecordsDroppedAlert, recordsDroppedExpr(), 0, sli.Page, team, cfg,
			fmt.Sprintf("alsd dropped access-log records in the last %s (see the reason and instance labels): they are lost for Kafka and for the SLIs.", model.Duration(droppedWindow))),
		pipelineRule(SpoolFillingAlert, fmt.Sprintf("max by (job, instance) (%s) > 0\n", spoolMetric), pipelineSlowFor, sli.Ticket, team, cfg,
			fmt.Sprintf("alsd has kept undelivered records in its spool for %s: Kafka is unreachable or too slow; past --spool-max-bytes records are dropped.", model.Duration(pipelineSlowFor))),
		pipelineRule(AggregatorLagAlert, fmt.Sprintf("max(%s) > %d\n", lagMetric, cfg.lagThreshold()), pipelineSlowFor, sli.Ticket, team, cfg,
			fmt.Sprintf("An aggregator has been more than %d records behind its Kafka partition for %s: SLIs and burn alerts lag behind the mesh.", cfg.lagThreshold(), model.Duration(pipelineSlowFor))),
	}}
	groups := rulefmt.RuleGroups{Groups: []rulefmt.RuleGroup{pipeline}}
	if len(cat.Services) > 0 {
		silence := rulefmt.RuleGroup{Name: catalog.PipelineName + "-silence", Interval: model.Duration(silenceGroupInterval)}
		for _, svc := range cat.Services {
			silence.Rules = append(silence.Rules, silentRule(cat, svc, cfg))
		}
		groups.Groups = append(groups.Groups, silence)
	}
	p := parser.NewParser(parser.Options{})
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if _, err := p.ParseExpr(r.Expr); err != nil {
				return nil, fmt.Errorf("pipeline rule %q: generated invalid PromQL: %w", r.Alert, err)
			}
		}
	}
	return &groups, nil
}

// PipelineRulesFile renders PipelineRuleGroups as a Prometheus rule file.
func PipelineRulesFile(cat *catalog.Catalog, cfg Config) ([]byte, error) {
	groups, err := PipelineRuleGroups(cat, cfg)
	if err != nil {
		return nil, err
	}
	out, err := marshalYAML(groups)
	if err != nil {
		return nil, fmt.Errorf("pipeline rules: %w", err)
	}
	return out, nil
}

// telemetryDownExpr: every alsd target down, or none at all. max() and
// vector(0) both have no labels, so an absent job yields the same single
// series as a job whose targets are all down.
func telemetryDownExpr(job string) string {
	return fmt.Sprintf("(max(up{job=%q}) or vector(0)) == 0\n", job)
}

// recordsDroppedExpr: a counter that increased within the window, or one
// that appeared within it already above 0 — alsd creates a reason's series
// at its first drop, and increase() needs two samples to see anything.
func recordsDroppedExpr() string {
	w := model.Duration(droppedWindow).String()
	return fmt.Sprintf("sum by (job, instance, reason) (increase(%[1]s[%[2]s])) > 0\nor\nsum by (job, instance, reason) (%[1]s unless %[1]s offset %[2]s) > 0\n", droppedMetric, w)
}

// silentExpr: requests within the history window but none within the
// last silentAfter. A service that never had traffic has no increase over
// the history either, so it stays quiet.
func silentExpr(service string) string {
	sel := fmt.Sprintf(`%s{service=%q,slo="availability"}`, RequestsMetric, service)
	return fmt.Sprintf("sum by (service) (increase(%s[%s])) > 0\nunless\nsum by (service) (increase(%s[%s])) > 0\n",
		sel, model.Duration(silentHistory), sel, model.Duration(silentAfter))
}

func pipelineRule(name, expr string, forDur time.Duration, sev sli.Severity, team string, cfg Config, summary string) rulefmt.Rule {
	r := rulefmt.Rule{
		Alert:       name,
		Expr:        expr,
		For:         model.Duration(forDur),
		Labels:      map[string]string{"severity": string(sev), "team": team, "generator": Generator},
		Annotations: map[string]string{"summary": summary},
	}
	if cfg.PipelineDashboardURL != "" {
		r.Annotations["dashboard"] = cfg.PipelineDashboardURL
	}
	return r
}

func silentRule(cat *catalog.Catalog, svc catalog.Service, cfg Config) rulefmt.Rule {
	return rulefmt.Rule{
		Alert:       ServiceSilentAlert,
		Expr:        silentExpr(svc.Name),
		Labels:      silentLabels(svc),
		Annotations: silentAnnotations(cat, svc, cfg),
	}
}

func silentLabels(svc catalog.Service) map[string]string {
	return map[string]string{"service": svc.Name, "severity": string(sli.Ticket), "team": svc.Team, "generator": Generator}
}

func silentAnnotations(cat *catalog.Catalog, svc catalog.Service, cfg Config) map[string]string {
	a := map[string]string{
		"summary": fmt.Sprintf("%s had requests in the last %s but none for %s: its Envoys stopped logging to alsd, or it lost all traffic.",
			svc.Name, model.Duration(silentHistory), model.Duration(silentAfter)),
	}
	if cfg.DashboardURL != nil {
		a["dashboard"] = cfg.DashboardURL(svc.Name)
	}
	if rb := runbook(cat, svc); rb != "" {
		a["runbook_url"] = rb
	}
	return a
}
