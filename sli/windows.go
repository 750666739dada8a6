package sli

import (
	"fmt"
	"time"

	"github.com/meshtel/meshtel/catalog"
)

// Window is a named burn-rate window.
type Window struct {
	Name     string // as in labels and recording rule names: "5m", "1d"
	Duration time.Duration
}

// Windows are the burn-rate windows alsd computes and the generated rules
// record, shortest first. alerts and dashboards take them from here so that
// alsd and the rules never disagree.
var Windows = []Window{
	{"5m", 5 * time.Minute},
	{"30m", 30 * time.Minute},
	{"1h", time.Hour},
	{"2h", 2 * time.Hour},
	{"6h", 6 * time.Hour},
	{"1d", 24 * time.Hour},
	{"3d", 72 * time.Hour},
}

// BudgetWindow is the default window of an SLO's error budget and the
// longest rolling one.
const BudgetWindow = 30 * 24 * time.Hour

// DayHistory is how long per-day totals are kept (SPEC §9: 400 days), for
// calendar-month budgets and the monthly report.
const DayHistory = 400 * 24 * time.Hour

// nominalMonth is the length burn factors assume for a calendar month.
const nominalMonth = BudgetWindow

// SLOWindow is the window an SLO's objective and error budget cover, as
// the catalog names it: rolling days, or the calendar month in UTC.
type SLOWindow struct {
	Name string // the catalog's word: "30d", "28d", "7d" or "month"
	Days int    // length of a rolling window; 0 for the calendar month
}

// WindowOf returns the meaning of a catalog window ("" is the default).
// A name the catalog would reject counts as the default too.
func WindowOf(w catalog.Window) SLOWindow {
	switch w.OrDefault() {
	case catalog.Window28d:
		return SLOWindow{"28d", 28}
	case catalog.Window7d:
		return SLOWindow{"7d", 7}
	case catalog.WindowMonth:
		return SLOWindow{Name: "month"}
	}
	return SLOWindow{"30d", 30}
}

// Calendar reports whether w is the calendar month.
func (w SLOWindow) Calendar() bool { return w.Days == 0 }

// Length is w's length for burn factors: its days, or 30 days for the
// calendar month, whatever the month's own length.
func (w SLOWindow) Length() time.Duration {
	if w.Calendar() {
		return nominalMonth
	}
	return time.Duration(w.Days) * 24 * time.Hour
}

// Bounds returns the period of w that contains t: [t − Days, t] for a
// rolling window, the calendar month of t (UTC) for the month, its end
// exclusive.
func (w SLOWindow) Bounds(t time.Time) (start, end time.Time) {
	if w.Calendar() {
		return MonthStart(t), NextMonth(t)
	}
	return t.Add(-w.Length()), t
}

// MonthStart returns the first instant of t's calendar month in UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// NextMonth returns the first instant of the calendar month after t's, UTC.
func NextMonth(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

// DaysIn returns the number of days of t's calendar month (28 to 31).
func DaysIn(t time.Time) int {
	return int(NextMonth(t).Sub(MonthStart(t)) / (24 * time.Hour))
}

// ParseMonth reads a calendar month written YYYY-MM and returns its first
// instant in UTC.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q is not written YYYY-MM, such as 2026-11", s)
	}
	return t, nil
}

// Severity is who an error-budget burn alert goes to.
type Severity string

// Severities of MeshErrorBudgetBurn.
const (
	Page   Severity = "page"
	Ticket Severity = "ticket"
)

// BurnAlert is one multi-window condition of the Google SRE workbook
// (ch. 5): the burn rate exceeds Factor over both the Long and the Short
// window.
type BurnAlert struct {
	Severity Severity
	Factor   float64
	Long     Window
	Short    Window
}

// burnShares are the workbook's conditions as the share of the error
// budget (percent) each spends within its long window: 2% in 1h, 5% in
// 6h, 10% in 1d and 10% in 3d. They hold for every SLO window; the factors
// follow from the window's length.
var burnShares = []struct {
	severity    Severity
	percent     int64
	long, short Window
}{
	{Page, 2, Windows[2], Windows[0]},    // 1h ∧ 5m
	{Page, 5, Windows[4], Windows[1]},    // 6h ∧ 30m
	{Ticket, 10, Windows[5], Windows[3]}, // 1d ∧ 2h
	{Ticket, 10, Windows[6], Windows[4]}, // 3d ∧ 6h
}

// BurnAlertsFor returns the multi-window, multi-burn-rate conditions of
// MeshErrorBudgetBurn for an SLO with window w: each spends its share of
// the budget (burnShares) within its long window, so its factor is
// share × w's length ÷ long window (14.4 for 2% of 30 days in 1h, 13.44
// for 28 days, 3.36 for 7 days). The calendar month uses the 30-day
// factors (see SLOWindow.Length). Conditions of one severity are joined
// with "or".
func BurnAlertsFor(w catalog.Window) []BurnAlert {
	hours := int64(WindowOf(w).Length() / time.Hour)
	out := make([]BurnAlert, len(burnShares))
	for i, s := range burnShares {
		// One division of exact integers: 14.4, never 14.399999999999999.
		f := float64(s.percent*hours) / float64(100*int64(s.long.Duration/time.Hour))
		out[i] = BurnAlert{Severity: s.severity, Factor: f, Long: s.long, Short: s.short}
	}
	return out
}

// BurnAlerts are the conditions of an SLO with the default 30-day window:
// page on 14.4× over 1h and 5m or 6× over 6h and 30m, ticket on 3× over 1d
// and 2h or 1× over 3d and 6h.
var BurnAlerts = BurnAlertsFor(catalog.DefaultWindow)
