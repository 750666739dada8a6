package sli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The SLO names of the slo label and the report.
const (
	Availability = "availability"
	Latency      = "latency"
)

// Report is the /api/slo document (SPEC §6).
type Report struct {
	GeneratedAt time.Time   `json:"generated_at"`
	SLOs        []SLOStatus `json:"slos"` // by service, then SLO
}

// SLOStatus is where one service stands against one SLO. Every ratio is
// defined without traffic: no requests means SLI 1, a full budget and burn
// rate 0, never NaN.
type SLOStatus struct {
	Service string `json:"service"`
	SLO     string `json:"slo"` // Availability or Latency
	// Objective is the percent as written in the catalog (99.9).
	Objective float64 `json:"objective"`
	// Threshold is the latency threshold as written ("500ms"); latency only.
	Threshold string `json:"threshold,omitempty"`
	Window    string `json:"window"` // the budget window, "30d"
	// Total and Bad count the SLO's events over the budget window.
	Total uint64 `json:"total"`
	Bad   uint64 `json:"bad"`
	// SLI is the good ratio over the budget window: 1 − Bad/Total.
	SLI float64 `json:"sli"`
	// ErrorBudgetRemaining is 1 − Bad ÷ (bad events the objective allows
	// over Total); negative once the budget is overspent.
	ErrorBudgetRemaining float64 `json:"error_budget_remaining"`
	// BurnRates is, per window of Windows, the error ratio over the window
	// divided by 1 − objective: 1 spends the budget exactly in 30 days.
	BurnRates WindowValues[float64] `json:"burn_rates"`
	// WindowCounts are the events behind BurnRates; they make reports of
	// several alsd instances mergeable (MergeReports).
	WindowCounts WindowValues[Estimate] `json:"window_counts"`
}

// WindowValues maps window names to values; it encodes in Windows order.
type WindowValues[V any] map[string]V

// MarshalJSON writes the windows of Windows first, shortest first, then
// any others by name.
func (m WindowValues[V]) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(m))
	for _, w := range Windows {
		if _, ok := m[w.Name]; ok {
			keys = append(keys, w.Name)
		}
	}
	var rest []string
	for k := range m {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range append(keys, rest...) {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// The statuses of SLOStatus.Status.
const (
	StatusOK        = "ok"
	StatusWarning   = "warning"
	StatusExhausted = "exhausted"
)

// Status summarises s for humans: "exhausted" when no budget is left,
// "warning" when less than a quarter is left or a MeshErrorBudgetBurn
// condition (BurnAlerts) holds right now, else "ok".
func (s SLOStatus) Status() string {
	if s.ErrorBudgetRemaining <= 0 {
		return StatusExhausted
	}
	if s.ErrorBudgetRemaining < 0.25 {
		return StatusWarning
	}
	for _, a := range BurnAlerts {
		if s.BurnRates[a.Long.Name] > a.Factor && s.BurnRates[a.Short.Name] > a.Factor {
			return StatusWarning
		}
	}
	return StatusOK
}

// newStatus fills the derived ratios from the counts.
func newStatus(service, slo string, objective float64, threshold string, budget Counts, windows WindowValues[Estimate]) SLOStatus {
	s := SLOStatus{
		Service: service, SLO: slo, Objective: objective, Threshold: threshold,
		Window: formatWindow(BudgetWindow), Total: budget.Total, Bad: budget.Bad,
		SLI: 1, ErrorBudgetRemaining: 1,
		BurnRates: WindowValues[float64]{}, WindowCounts: windows,
	}
	allowed := 1 - objective/100
	if budget.Total > 0 {
		s.SLI = 1 - float64(budget.Bad)/float64(budget.Total)
		s.ErrorBudgetRemaining = round9(1 - float64(budget.Bad)/(allowed*float64(budget.Total)))
	}
	for name, c := range windows {
		s.BurnRates[name] = 0
		if c.Total > 0 {
			s.BurnRates[name] = round9(c.Bad / c.Total / allowed)
		}
	}
	return s
}

// round9 drops the float noise of 1−0.999 ≠ 0.001, so that 0.1% errors
// against 99.9% reads as burn rate 1, not 0.9999999999999991.
func round9(x float64) float64 { return math.Round(x*1e9) / 1e9 }

func formatWindow(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// Snapshot returns the current /api/slo document: every catalog service
// and every service seen, each enabled SLO.
func (t *Tracker) Snapshot() Report {
	now := t.cfg.Now()
	r := Report{GeneratedAt: now.UTC(), SLOs: []SLOStatus{}}
	for _, s := range t.sortedServices() {
		r.SLOs = append(r.SLOs, s.statuses(now.Unix(), t)...)
	}
	return r
}

func (s *service) statuses(now int64, t *Tracker) []SLOStatus {
	var budgetAv, budgetLt Counts
	winAv := make(WindowValues[Estimate], len(Windows))
	winLt := make(WindowValues[Estimate], len(Windows))
	s.mu.Lock()
	budgetAv, budgetLt = s.budget(now, t.budget)
	for i, w := range Windows {
		sp := t.windows[i]
		av, lt := s.window(now, sp)
		winAv[w.Name], winLt[w.Name] = av.rounded(), lt.rounded()
	}
	s.mu.Unlock()
	var out []SLOStatus
	if a := s.slos.Availability; a != nil {
		out = append(out, newStatus(s.name, Availability, a.Percent, "", budgetAv, winAv))
	}
	if l := s.slos.Latency; l != nil {
		th := l.ThresholdText
		if th == "" {
			th = l.Threshold.String()
		}
		out = append(out, newStatus(s.name, Latency, l.Percent, th, budgetLt, winLt))
	}
	return out
}

// Estimate is the events of one SLO over a burn window. The oldest slot of
// a window is counted by the share of it inside the window, so these are
// estimates with fractions, rounded to 1e-6.
type Estimate struct {
	Total float64 `json:"total"`
	Bad   float64 `json:"bad"`
}

func (e Estimate) rounded() Estimate {
	return Estimate{math.Round(e.Total*1e6) / 1e6, math.Round(e.Bad*1e6) / 1e6}
}

// MergeReports combines reports of alsd instances that saw disjoint parts
// of the traffic into the report one instance seeing all of it would give.
// Statuses of the same service and SLO add up; their ratios are recomputed
// from the counts.
func MergeReports(rs ...Report) Report {
	var out Report
	idx := map[[2]string]int{}
	for _, r := range rs {
		if r.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = r.GeneratedAt
		}
		for _, s := range r.SLOs {
			k := [2]string{s.Service, s.SLO}
			i, ok := idx[k]
			if !ok {
				idx[k] = len(out.SLOs)
				s.WindowCounts = maps(s.WindowCounts)
				out.SLOs = append(out.SLOs, s)
				continue
			}
			m := &out.SLOs[i]
			budget := Counts{m.Total + s.Total, m.Bad + s.Bad}
			for name, c := range s.WindowCounts {
				mc := m.WindowCounts[name]
				m.WindowCounts[name] = Estimate{mc.Total + c.Total, mc.Bad + c.Bad}.rounded()
			}
			*m = newStatus(m.Service, m.SLO, m.Objective, m.Threshold, budget, m.WindowCounts)
		}
	}
	if out.SLOs == nil {
		out.SLOs = []SLOStatus{}
	}
	slices.SortFunc(out.SLOs, func(a, b SLOStatus) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.SLO, b.SLO)
	})
	return out
}

func maps(m WindowValues[Estimate]) WindowValues[Estimate] {
	c := make(WindowValues[Estimate], len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Handler serves GET /api/slo: the Snapshot as JSON, or as the Markdown
// table with ?format=md.
func (t *Tracker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
			return
		}
		format := r.URL.Query().Get("format")
		if format == "" {
			format = "json"
		}
		var b bytes.Buffer
		if err := WriteReport(&b, t.Snapshot(), format); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		if format == "md" {
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Write(b.Bytes())
	})
}

// WriteReport renders r as "json" (the /api/slo document) or "md" (a table
// to paste into a postmortem).
func WriteReport(w io.Writer, r Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write slo report: %w", err)
		}
		return nil
	case "md":
		return writeMarkdown(w, r)
	}
	return fmt.Errorf("unknown report format %q (want md or json)", format)
}

func writeMarkdown(w io.Writer, r Report) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SLOs at %s (window %s)\n\n", r.GeneratedAt.UTC().Format(time.RFC3339), formatWindow(BudgetWindow))
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| service\t SLO\t objective\t SLI\t budget left\t burn 1h\t burn 6h\t burn 3d\t status\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, s := range r.SLOs {
		slo := s.SLO
		if s.Threshold != "" {
			slo += " ≤ " + s.Threshold
		}
		fmt.Fprintf(tw, "| %s\t %s\t %s%%\t %s\t %s\t %s\t %s\t %s\t %s\t\n",
			s.Service, slo, strconv.FormatFloat(s.Objective, 'f', -1, 64),
			sliText(s), percent(s.ErrorBudgetRemaining),
			burnText(s, "1h"), burnText(s, "6h"), burnText(s, "3d"), s.Status())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write slo report: %w", err)
	}
	// tabwriter's Debug mode separates cells with '|', which is exactly a
	// Markdown table row once the trailing separator closes it.
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write slo report: %w", err)
	}
	return nil
}

func sliText(s SLOStatus) string {
	if s.Total == 0 {
		return "no traffic"
	}
	return strconv.FormatFloat(s.SLI*100, 'f', 3, 64) + "%"
}

func percent(x float64) string { return strconv.FormatFloat(x*100, 'f', 1, 64) + "%" }

func burnText(s SLOStatus, w string) string {
	return strconv.FormatFloat(s.BurnRates[w], 'f', 2, 64)
}
