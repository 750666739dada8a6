package sli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// MonthReport is the monthly SLO report (SPEC §9): how every SLO did over
// one calendar month in UTC, in total and day by day. It is built from the
// per-day totals a Tracker keeps for DayHistory, whatever each SLO's own
// window: a monthly review asks about the month.
type MonthReport struct {
	Month       string    `json:"month"`        // "2026-11"
	PeriodStart time.Time `json:"period_start"` // the month's first instant
	PeriodEnd   time.Time `json:"period_end"`   // the next month's first instant
	GeneratedAt time.Time `json:"generated_at"`
	// Complete is true once the month is over; until then Days ends today
	// and BudgetConsumed is projected (Consumed).
	Complete bool       `json:"complete"`
	SLOs     []MonthSLO `json:"slos"` // by service, then SLO
}

// MonthSLO is one SLO's month.
type MonthSLO struct {
	Service   string  `json:"service"`
	SLO       string  `json:"slo"`       // Availability or Latency
	Objective float64 `json:"objective"` // percent as written in the catalog
	Threshold string  `json:"threshold,omitempty"`
	// Window is the SLO's own window (alerts and budgets); the report
	// covers the calendar month regardless.
	Window string `json:"window"`
	// Total and Bad are the month's events, SLI their good ratio (1
	// without traffic).
	Total uint64  `json:"total"`
	Bad   uint64  `json:"bad"`
	SLI   float64 `json:"sli"`
	// BudgetConsumed is the share of the month's error budget spent: above
	// 1 the objective was missed. Met says it was not (≤ 1).
	BudgetConsumed float64 `json:"budget_consumed"`
	Met            bool    `json:"met"`
	// WorstDay is the day with traffic with the lowest SLI, the earliest of
	// equals; absent without traffic.
	WorstDay *DaySLI `json:"worst_day,omitempty"`
	// Days are the month's days from the 1st, up to today while the month
	// is under way.
	Days []DaySLI `json:"days"`
}

// DaySLI is one SLO's day.
type DaySLI struct {
	Date  string  `json:"date"` // "2026-11-01"
	Total uint64  `json:"total"`
	Bad   uint64  `json:"bad"`
	SLI   float64 `json:"sli"` // 1 without traffic
}

// Month returns the report of the calendar month month lies in, as far as
// the tracker's per-day totals go (DayHistory back).
func (t *Tracker) Month(month time.Time) MonthReport {
	now := t.cfg.Now().UTC()
	r := MonthReport{PeriodStart: MonthStart(month), PeriodEnd: NextMonth(month), GeneratedAt: now, SLOs: []MonthSLO{}}
	first := r.PeriodStart.Unix() / daySecs
	last := min(r.PeriodEnd.Unix()/daySecs-1, now.Unix()/daySecs)
	for _, s := range t.sortedServices() {
		s.mu.Lock()
		av, lt := s.days(first, last, now.Unix())
		s.mu.Unlock()
		if a := s.slos.Availability; a != nil {
			r.SLOs = append(r.SLOs, monthSLO(s.name, Availability, a.Percent, "", WindowOf(a.Window), r.PeriodStart, av))
		}
		if l := s.slos.Latency; l != nil {
			th := l.ThresholdText
			if th == "" {
				th = l.Threshold.String()
			}
			r.SLOs = append(r.SLOs, monthSLO(s.name, Latency, l.Percent, th, WindowOf(l.Window), r.PeriodStart, lt))
		}
	}
	r.derive()
	return r
}

func monthSLO(service, slo string, objective float64, threshold string, w SLOWindow, start time.Time, days []Counts) MonthSLO {
	m := MonthSLO{Service: service, SLO: slo, Objective: objective, Threshold: threshold, Window: w.Name, Days: make([]DaySLI, len(days))}
	for i, c := range days {
		m.Days[i] = DaySLI{Date: start.AddDate(0, 0, i).Format(time.DateOnly), Total: c.Total, Bad: c.Bad}
	}
	return m
}

// derive fills everything that follows from the days: the month's name
// and completeness, each SLO's totals, SLI, budget and worst day.
func (r *MonthReport) derive() {
	r.Month = r.PeriodStart.Format("2006-01")
	r.Complete = !r.GeneratedAt.Before(r.PeriodEnd)
	until := r.PeriodEnd
	if r.GeneratedAt.Before(until) {
		until = r.GeneratedAt
	}
	elapsed := until.Sub(r.PeriodStart)
	for i := range r.SLOs {
		m := &r.SLOs[i]
		m.Total, m.Bad, m.WorstDay = 0, 0, nil
		for j := range m.Days {
			d := &m.Days[j]
			m.Total, m.Bad = m.Total+d.Total, m.Bad+d.Bad
			d.SLI = goodRatio(d.Total, d.Bad)
			if d.Total > 0 && (m.WorstDay == nil || d.SLI < m.WorstDay.SLI) {
				worst := *d
				m.WorstDay = &worst
			}
		}
		m.SLI = goodRatio(m.Total, m.Bad)
		m.BudgetConsumed = round9(Consumed(m.Total, m.Bad, 1-m.Objective/100, elapsed, r.PeriodEnd.Sub(r.PeriodStart)))
		m.Met = m.BudgetConsumed <= 1
	}
}

// goodRatio is 1 − bad/total, and 1 without events.
func goodRatio(total, bad uint64) float64 {
	if total == 0 {
		return 1
	}
	return 1 - float64(bad)/float64(total)
}

// ErrMonthMismatch is returned by MergeMonthReports for reports of
// different months.
var ErrMonthMismatch = errors.New("month reports of different months")

// MergeMonthReports combines the month reports of alsd instances or
// aggregators that saw disjoint parts of the traffic: the days of the same
// service and SLO add up, and every ratio is computed again.
func MergeMonthReports(rs ...MonthReport) (MonthReport, error) {
	var out MonthReport
	idx := map[[2]string]int{}
	for k, r := range rs {
		if k > 0 && !r.PeriodStart.Equal(out.PeriodStart) {
			return out, fmt.Errorf("%w: %s and %s", ErrMonthMismatch, out.Month, r.Month)
		}
		out.Month, out.PeriodStart, out.PeriodEnd = r.Month, r.PeriodStart, r.PeriodEnd
		if r.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = r.GeneratedAt
		}
		for _, s := range r.SLOs {
			key := [2]string{s.Service, s.SLO}
			i, ok := idx[key]
			if !ok {
				idx[key] = len(out.SLOs)
				s.Days = slices.Clone(s.Days)
				out.SLOs = append(out.SLOs, s)
				continue
			}
			m := &out.SLOs[i]
			for j, d := range s.Days {
				if j == len(m.Days) {
					m.Days = append(m.Days, DaySLI{Date: d.Date})
				}
				m.Days[j].Total += d.Total
				m.Days[j].Bad += d.Bad
			}
		}
	}
	if out.SLOs == nil {
		out.SLOs = []MonthSLO{}
	}
	slices.SortFunc(out.SLOs, func(a, b MonthSLO) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.SLO, b.SLO)
	})
	out.derive()
	return out, nil
}

// WriteMonthReport renders r as "json", "md" (a summary table and each
// SLO's days, for a monthly review or a postmortem) or "csv" (one row per
// SLO with the month's figures, then one per day).
func WriteMonthReport(w io.Writer, r MonthReport, format string) error {
	var err error
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	case "md":
		err = writeMonthMarkdown(w, r)
	case "csv":
		err = writeMonthCSV(w, r)
	default:
		return fmt.Errorf("unknown report format %q (want md, csv or json)", format)
	}
	if err != nil {
		return fmt.Errorf("write month report: %w", err)
	}
	return nil
}

func writeMonthMarkdown(w io.Writer, r MonthReport) error {
	var b bytes.Buffer
	last := r.PeriodEnd.AddDate(0, 0, -1)
	fmt.Fprintf(&b, "# SLO report %s\n\n%s to %s (UTC), generated at %s", r.Month,
		r.PeriodStart.Format(time.DateOnly), last.Format(time.DateOnly), r.GeneratedAt.UTC().Format(time.RFC3339))
	if !r.Complete {
		fmt.Fprintf(&b, "; the month is under way, its budget is projected from the days so far")
	}
	b.WriteString(".\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| service\t SLO\t objective\t SLI\t budget consumed\t met\t worst day\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t")
	for _, s := range r.SLOs {
		worst := "—"
		if s.WorstDay != nil {
			worst = s.WorstDay.Date + " (" + sliPercent(s.WorstDay.Total, s.WorstDay.SLI) + ")"
		}
		fmt.Fprintf(tw, "| %s\t %s\t %s%%\t %s\t %s\t %s\t %s\t\n", s.Service, sloName(s.SLO, s.Threshold),
			strconv.FormatFloat(s.Objective, 'f', -1, 64), sliPercent(s.Total, s.SLI), percent(s.BudgetConsumed), yesNo(s.Met), worst)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.SLOs {
		fmt.Fprintf(&b, "\n## %s %s\n\n", s.Service, sloName(s.SLO, s.Threshold))
		tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| day\t requests\t bad\t SLI\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t")
		for _, d := range s.Days {
			fmt.Fprintf(tw, "| %s\t %d\t %d\t %s\t\n", d.Date, d.Total, d.Bad, sliPercent(d.Total, d.SLI))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeMonthCSV(w io.Writer, r MonthReport) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"service", "slo", "objective", "period", "requests", "bad", "sli", "budget_consumed", "worst_day"})
	for _, s := range r.SLOs {
		worst := ""
		if s.WorstDay != nil {
			worst = s.WorstDay.Date
		}
		obj := strconv.FormatFloat(s.Objective, 'f', -1, 64)
		slo := sloName(s.SLO, s.Threshold)
		cw.Write([]string{s.Service, slo, obj, r.Month, u64(s.Total), u64(s.Bad), ratioText(s.SLI), ratioText(s.BudgetConsumed), worst})
		for _, d := range s.Days {
			cw.Write([]string{s.Service, slo, obj, d.Date, u64(d.Total), u64(d.Bad), ratioText(d.SLI), "", ""})
		}
	}
	cw.Flush()
	return cw.Error()
}

func sloName(slo, threshold string) string {
	if threshold != "" {
		return slo + " ≤ " + threshold
	}
	return slo
}

func sliPercent(total uint64, sli float64) string {
	if total == 0 {
		return "no traffic"
	}
	return strconv.FormatFloat(sli*100, 'f', 3, 64) + "%"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

// ratioText prints a ratio without float noise (round9).
func ratioText(x float64) string { return strconv.FormatFloat(round9(x), 'f', -1, 64) }
