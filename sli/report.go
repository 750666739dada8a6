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

	"github.com/meshtel/meshtel/catalog"
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
	// Window is the SLO's window as the catalog names it: "30d", "28d",
	// "7d" or "month" (SLOWindow.Name).
	Window string `json:"window"`
	// PeriodStart is the first instant of the calendar month a "month"
	// window is counting; absent for rolling windows.
	PeriodStart time.Time `json:"period_start,omitzero"`
	// Total and Bad count the SLO's events over the window: the last 30,
	// 28 or 7 days, or the month so far.
	Total uint64 `json:"total"`
	Bad   uint64 `json:"bad"`
	// SLI is the good ratio over the window: 1 − Bad/Total.
	SLI float64 `json:"sli"`
	// ErrorBudgetRemaining is 1 − Bad ÷ (bad events the objective allows
	// over the window); negative once the budget is overspent. For a month
	// under way the events allowed are those of the whole month, projected
	// from the month so far (see Consumed).
	ErrorBudgetRemaining float64 `json:"error_budget_remaining"`
	// BurnRates is, per window of Windows, the error ratio over the window
	// divided by 1 − objective: 1 spends the budget exactly in the SLO's
	// window.
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
// condition of its window (BurnAlertsFor) holds right now, else "ok".
func (s SLOStatus) Status() string {
	if s.ErrorBudgetRemaining <= 0 {
		return StatusExhausted
	}
	if s.ErrorBudgetRemaining < 0.25 {
		return StatusWarning
	}
	for _, a := range BurnAlertsFor(catalog.Window(s.Window)) {
		if s.BurnRates[a.Long.Name] > a.Factor && s.BurnRates[a.Short.Name] > a.Factor {
			return StatusWarning
		}
	}
	return StatusOK
}

// derive fills the ratios from the counts, as of at: the SLI and budget
// from Total and Bad over the SLO's window, the burn rates from
// WindowCounts. A "month" status without a PeriodStart gets at's month.
func (s *SLOStatus) derive(at time.Time) {
	w := WindowOf(catalog.Window(s.Window))
	s.Window = w.Name
	if w.Calendar() && s.PeriodStart.IsZero() {
		s.PeriodStart = MonthStart(at)
	}
	s.SLI, s.ErrorBudgetRemaining = 1, 1
	allowed := 1 - s.Objective/100
	if s.Total > 0 {
		s.SLI = 1 - float64(s.Bad)/float64(s.Total)
		elapsed, length := w.Length(), w.Length()
		if w.Calendar() {
			elapsed, length = at.Sub(s.PeriodStart), NextMonth(s.PeriodStart).Sub(s.PeriodStart)
		}
		s.ErrorBudgetRemaining = round9(1 - Consumed(s.Total, s.Bad, allowed, elapsed, length))
	}
	s.BurnRates = WindowValues[float64]{}
	for name, c := range s.WindowCounts {
		s.BurnRates[name] = 0
		if c.Total > 0 {
			s.BurnRates[name] = round9(c.Bad / c.Total / allowed)
		}
	}
}

// minElapsed bounds how far Consumed projects a period's first events.
const minElapsed = time.Hour

// Consumed returns the share of an error budget that bad of total events
// spend when the objective allows the ratio allowed of them to be bad, in
// a period of length of which elapsed has passed. The budget is allowed ×
// the events of the whole period: for a period still under way (a calendar
// month), those so far projected to its end — total × length ÷ elapsed,
// with elapsed at least an hour — so one failure among the first requests
// of a month spends a share of the month's budget, not all of it. Once the
// period is over (elapsed ≥ length) it is plain bad ÷ (allowed × total).
func Consumed(total, bad uint64, allowed float64, elapsed, length time.Duration) float64 {
	if total == 0 || allowed <= 0 {
		return 0
	}
	events := float64(total)
	if elapsed < length {
		events *= float64(length) / float64(max(elapsed, minElapsed))
	}
	return float64(bad) / (allowed * events)
}

// round9 drops the float noise of 1−0.999 ≠ 0.001, so that 0.1% errors
// against 99.9% reads as burn rate 1, not 0.9999999999999991.
func round9(x float64) float64 { return math.Round(x*1e9) / 1e9 }

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
	at := time.Unix(now, 0).UTC()
	winAv := make(WindowValues[Estimate], len(Windows))
	winLt := make(WindowValues[Estimate], len(Windows))
	var budgetAv, budgetLt Counts
	s.mu.Lock()
	if a := s.slos.Availability; a != nil {
		budgetAv, _ = s.budgetOf(now, WindowOf(a.Window), t)
	}
	if l := s.slos.Latency; l != nil {
		_, budgetLt = s.budgetOf(now, WindowOf(l.Window), t)
	}
	for i, w := range Windows {
		sp := t.windows[i]
		av, lt := s.window(now, sp)
		winAv[w.Name], winLt[w.Name] = av.rounded(), lt.rounded()
	}
	s.mu.Unlock()
	var out []SLOStatus
	if a := s.slos.Availability; a != nil {
		st := SLOStatus{Service: s.name, SLO: Availability, Objective: a.Percent, Window: string(a.Window),
			Total: budgetAv.Total, Bad: budgetAv.Bad, WindowCounts: winAv}
		st.derive(at)
		out = append(out, st)
	}
	if l := s.slos.Latency; l != nil {
		th := l.ThresholdText
		if th == "" {
			th = l.Threshold.String()
		}
		st := SLOStatus{Service: s.name, SLO: Latency, Objective: l.Percent, Threshold: th, Window: string(l.Window),
			Total: budgetLt.Total, Bad: budgetLt.Bad, WindowCounts: winLt}
		st.derive(at)
		out = append(out, st)
	}
	return out
}

// budgetOf returns the events of SLO window w ending with Unix second
// now: whole hours of a rolling window, or the calendar month so far. The
// caller holds s.mu.
func (s *service) budgetOf(now int64, w SLOWindow, t *Tracker) (av, lt Counts) {
	if w.Calendar() {
		return s.since(MonthStart(time.Unix(now, 0)).Unix(), now)
	}
	return s.budget(now, t.budgets[w.Days])
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
			m.Total, m.Bad = m.Total+s.Total, m.Bad+s.Bad
			for name, c := range s.WindowCounts {
				mc := m.WindowCounts[name]
				m.WindowCounts[name] = Estimate{mc.Total + c.Total, mc.Bad + c.Bad}.rounded()
			}
		}
	}
	for i := range out.SLOs {
		out.SLOs[i].derive(out.GeneratedAt)
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
// table with ?format=md; with ?month=YYYY-MM, that month's MonthReport
// (?format=json, md or csv).
func (t *Tracker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
			return
		}
		ServeReport(w, r, func() (Report, error) { return t.Snapshot(), nil },
			func(m time.Time) (MonthReport, error) { return t.Month(m), nil })
	})
}

// checkFormat fails unless format is one of want.
func checkFormat(format string, want ...string) error {
	if slices.Contains(want, format) {
		return nil
	}
	return fmt.Errorf("unknown report format %q (want %s)", format, strings.Join(want, ", "))
}

// ReportContentTypes are the Content-Types of the report formats.
var ReportContentTypes = map[string]string{
	"json": "application/json",
	"md":   "text/markdown; charset=utf-8",
	"csv":  "text/csv; charset=utf-8",
}

// ServeReport answers an /api/slo request from snapshot, or from month
// when it asks for ?month=YYYY-MM: JSON unless ?format= says md or csv. A
// bad month or format is a 400 with a JSON error, a failing source a 500.
// Trackers and aggregators share it, so they answer alike.
func ServeReport(w http.ResponseWriter, r *http.Request, snapshot func() (Report, error), month func(time.Time) (MonthReport, error)) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	var b bytes.Buffer
	code, err := http.StatusBadRequest, error(nil)
	if m := q.Get("month"); m != "" {
		var at time.Time
		if at, err = ParseMonth(m); err == nil {
			err = checkFormat(format, "md", "csv", "json")
		}
		if err == nil {
			var rep MonthReport
			if rep, err = month(at); err != nil {
				code = http.StatusInternalServerError
			} else {
				err = WriteMonthReport(&b, rep, format)
			}
		}
	} else if err = checkFormat(format, "md", "json"); err == nil {
		var rep Report
		if rep, err = snapshot(); err != nil {
			code = http.StatusInternalServerError
		} else {
			err = WriteReport(&b, rep, format)
		}
	}
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", ReportContentTypes[format])
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
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
	fmt.Fprintf(&b, "SLOs at %s\n\n", r.GeneratedAt.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| service\t SLO\t objective\t window\t SLI\t budget left\t burn 1h\t burn 6h\t burn 3d\t status\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, s := range r.SLOs {
		slo := s.SLO
		if s.Threshold != "" {
			slo += " ≤ " + s.Threshold
		}
		window := s.Window
		if !s.PeriodStart.IsZero() {
			window += " " + s.PeriodStart.UTC().Format("2006-01")
		}
		fmt.Fprintf(tw, "| %s\t %s\t %s%%\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t\n",
			s.Service, slo, strconv.FormatFloat(s.Objective, 'f', -1, 64), window,
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
