package sli

import "time"

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

// BudgetWindow is the window of every SLO's error budget.
const BudgetWindow = 30 * 24 * time.Hour

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

// BurnAlerts are the multi-window, multi-burn-rate conditions of
// MeshErrorBudgetBurn. Conditions of one severity are joined with "or".
var BurnAlerts = []BurnAlert{
	{Page, 14.4, Windows[2], Windows[0]}, // 1h ∧ 5m: 2% of a 30d budget in 1h
	{Page, 6, Windows[4], Windows[1]},    // 6h ∧ 30m: 5% in 6h
	{Ticket, 3, Windows[5], Windows[3]},  // 1d ∧ 2h: 10% in 1d
	{Ticket, 1, Windows[6], Windows[4]},  // 3d ∧ 6h: 10% in 3d
}
