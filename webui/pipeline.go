package webui

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics of alsd itself the pipeline page shows (SPEC §5).
const (
	metricRecords       = "alsd_records_total"
	metricProduced      = "alsd_kafka_produced_total"
	metricKafkaErrors   = "alsd_kafka_errors_total"
	metricSpoolBytes    = "alsd_spool_bytes"
	metricSpoolCorrupt  = "alsd_spool_corrupt_total"
	metricDropped       = "alsd_records_dropped_total"
	metricStreamsActive = "alsd_streams_active"
	metricLimitHits     = "alsd_limit_hits_total"
	metricPeersRefused  = "alsd_als_peers_refused_total"
	metricConsumerLag   = "alsd_consumer_lag"
)

// value is a metric's sum over its series; Ok is false when this alsd does
// not export it (no Kafka configured, an ingest-only role, ...).
type value struct {
	V  float64
	Ok bool
}

// pipelineMetrics are the sums the history keeps.
type pipelineMetrics struct {
	Records, Produced, KafkaErrors, SpoolBytes, SpoolCorrupt, Dropped, Streams value
}

// labelled is one labelled series of a metric, for the breakdown tables.
type labelled struct {
	Metric string
	Labels string // "kind=http, outcome=good"
	Value  float64
}

// gatherPipeline reads the pipeline's metrics from g.
func gatherPipeline(g prometheus.Gatherer) (pipelineMetrics, error) {
	m, _, err := gatherAll(g)
	return m, err
}

// gatherAll reads the sums and the labelled series of the breakdowns.
func gatherAll(g prometheus.Gatherer) (pipelineMetrics, []labelled, error) {
	var m pipelineMetrics
	// A Gatherer returns what it could gather alongside its error; the
	// page shows that part and fails only when nothing came back.
	fams, err := g.Gather()
	if len(fams) == 0 && err != nil {
		return m, nil, fmt.Errorf("gathering metrics: %w", err)
	}
	sums := map[string]*value{
		metricRecords: &m.Records, metricProduced: &m.Produced, metricKafkaErrors: &m.KafkaErrors,
		metricSpoolBytes: &m.SpoolBytes, metricSpoolCorrupt: &m.SpoolCorrupt, metricDropped: &m.Dropped,
		metricStreamsActive: &m.Streams,
	}
	breakdown := map[string]bool{
		metricRecords: true, metricDropped: true, metricLimitHits: true, metricPeersRefused: true, metricConsumerLag: true,
	}
	var rows []labelled
	for _, f := range fams {
		name := f.GetName()
		sum, wantSum := sums[name]
		if !wantSum && !breakdown[name] {
			continue
		}
		for _, s := range f.GetMetric() {
			v, ok := sampleValue(f.GetType(), s)
			if !ok {
				continue
			}
			if wantSum {
				sum.V += v
				sum.Ok = true
			}
			if breakdown[name] && len(s.GetLabel()) > 0 {
				rows = append(rows, labelled{Metric: name, Labels: labelText(s.GetLabel()), Value: v})
			}
		}
	}
	slices.SortFunc(rows, func(a, b labelled) int {
		return cmp.Or(cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Labels, b.Labels))
	})
	return m, rows, nil
}

func sampleValue(t dto.MetricType, s *dto.Metric) (float64, bool) {
	switch t {
	case dto.MetricType_COUNTER:
		return s.GetCounter().GetValue(), s.Counter != nil
	case dto.MetricType_GAUGE:
		return s.GetGauge().GetValue(), s.Gauge != nil
	case dto.MetricType_UNTYPED:
		return s.GetUntyped().GetValue(), s.Untyped != nil
	}
	return 0, false
}

func labelText(ls []*dto.LabelPair) string {
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ", ")
}

type pipelineView struct {
	Enabled  bool
	Error    string
	Now      pipelineMetrics
	Rate     string // records/s over at least the last minute of samples
	Rows     []labelled
	Records  chart
	Spool    chart
	Interval time.Duration
}

func (u *UI) pipelinePage(w http.ResponseWriter, r *http.Request) {
	v := pipelineView{Enabled: u.cfg.Gatherer != nil, Rate: "—", Interval: u.cfg.SampleInterval}
	p := page{Title: "Pipeline", Nav: "pipeline", Refresh: u.refreshSeconds(), Data: &v}
	if !v.Enabled {
		u.render(w, http.StatusOK, pagePipeline, p)
		return
	}
	now := u.cfg.Now()
	m, rows, err := gatherAll(u.cfg.Gatherer)
	if err != nil {
		v.Error = err.Error()
	}
	v.Now, v.Rows = m, rows
	samples := u.history.pipeline(now)
	if m.Records.Ok {
		samples = append(samples, pipelineSample{T: now.Unix(), Metrics: m})
	}
	v.Rate = recentRate(samples, now.Unix()-60)
	from := now.Add(-u.history.length).Unix()
	if len(samples) > 0 {
		from = max(from, samples[0].T)
	}
	v.Records, v.Spool = pipelineCharts(samples, from, now.Unix())
	u.render(w, http.StatusOK, pagePipeline, p)
}

// recentRate is records/s from the newest sample at least a minute old
// (else the oldest) to the newest sample; "—" without two samples.
func recentRate(samples []pipelineSample, since int64) string {
	var ok []pipelineSample
	for _, s := range samples {
		if s.Metrics.Records.Ok {
			ok = append(ok, s)
		}
	}
	if len(ok) < 2 {
		return "—"
	}
	a, b := ok[0], ok[len(ok)-1]
	for _, s := range ok {
		if s.T <= since {
			a = s
		}
	}
	if b.T <= a.T || b.Metrics.Records.V < a.Metrics.Records.V {
		return "—"
	}
	return formatRate((b.Metrics.Records.V - a.Metrics.Records.V) / float64(b.T-a.T))
}

// pipelineCharts draws rates between consecutive samples, and the spool.
func pipelineCharts(samples []pipelineSample, from, to int64) (records, spool chart) {
	in := timeSeries{Name: "records/s in", Class: "line-requests"}
	out := timeSeries{Name: "produced/s", Class: "line-produced"}
	errs := timeSeries{Name: "Kafka errors/s", Class: "line-bad"}
	drops := timeSeries{Name: "dropped/s", Class: "line-drop"}
	sp := timeSeries{Name: "spool bytes", Class: "line-spool"}
	rate := func(a, b value, dt float64) float64 {
		if !a.Ok || !b.Ok || b.V < a.V { // a restart resets counters
			return math.NaN()
		}
		return (b.V - a.V) / dt
	}
	for i, s := range samples {
		if s.Metrics.SpoolBytes.Ok {
			sp.T, sp.V = append(sp.T, s.T), append(sp.V, s.Metrics.SpoolBytes.V)
		}
		if i == 0 || s.T <= samples[i-1].T {
			continue
		}
		a, dt := samples[i-1].Metrics, float64(s.T-samples[i-1].T)
		for _, x := range []struct {
			ts   *timeSeries
			a, b value
		}{{&in, a.Records, s.Metrics.Records}, {&out, a.Produced, s.Metrics.Produced}, {&errs, a.KafkaErrors, s.Metrics.KafkaErrors}, {&drops, a.Dropped, s.Metrics.Dropped}} {
			if x.a.Ok || x.b.Ok {
				x.ts.T, x.ts.V = append(x.ts.T, s.T), append(x.ts.V, rate(x.a, x.b, dt))
			}
		}
	}
	var lines []timeSeries
	for _, ts := range []timeSeries{in, out, errs, drops} {
		if len(ts.T) > 0 {
			lines = append(lines, ts)
		}
	}
	records = timeChart("records", "Records per second", "Records accepted, produced to Kafka, failed to produce and dropped, per second between samples.", from, to, lines, nil, 1, formatRate)
	spool = timeChart("spool", "Spool bytes", "Bytes of undelivered records waiting in the spool.", from, to, []timeSeries{sp}, nil, 1024, formatBytes)
	if len(samples) < 2 {
		records.Empty = "Collecting: alsd samples its counters every few seconds."
	}
	if !slices.ContainsFunc(samples, func(s pipelineSample) bool { return s.Metrics.SpoolBytes.Ok }) {
		spool.Empty = "No spool: Kafka is not configured on this alsd."
	}
	return records, spool
}

func formatBytes(v float64) string {
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if v < 1024 || u == "GiB" {
			if u == "B" {
				return strconv.FormatFloat(v, 'f', 0, 64) + " B"
			}
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
		v /= 1024
	}
	return ""
}
