package sli

import (
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
)

func TestMonthArithmetic(t *testing.T) {
	tests := []struct {
		in         time.Time
		days       int
		start, end string
	}{
		{time.Date(2026, 2, 14, 12, 0, 0, 0, time.UTC), 28, "2026-02-01", "2026-03-01"},
		{time.Date(2028, 2, 29, 23, 59, 59, 0, time.UTC), 29, "2028-02-01", "2028-03-01"}, // leap year
		{time.Date(2100, 2, 1, 0, 0, 0, 0, time.UTC), 28, "2100-02-01", "2100-03-01"},     // century, not leap
		{time.Date(2000, 2, 10, 0, 0, 0, 0, time.UTC), 29, "2000-02-01", "2000-03-01"},    // 400-year leap
		{time.Date(2026, 11, 30, 23, 59, 59, 999, time.UTC), 30, "2026-11-01", "2026-12-01"},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), 31, "2026-12-01", "2027-01-01"}, // the year turns
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 31, "2026-01-01", "2026-02-01"},
		// Months are UTC: 1 December 01:00 in UTC+2 is still November.
		{time.Date(2026, 12, 1, 1, 0, 0, 0, time.FixedZone("EET", 2*3600)), 30, "2026-11-01", "2026-12-01"},
	}
	for _, tc := range tests {
		if got := DaysIn(tc.in); got != tc.days {
			t.Errorf("DaysIn(%v) = %d, want %d", tc.in, got, tc.days)
		}
		start, end := WindowOf(catalog.WindowMonth).Bounds(tc.in)
		if s, e := start.Format(time.DateOnly), end.Format(time.DateOnly); s != tc.start || e != tc.end {
			t.Errorf("month of %v = [%s, %s), want [%s, %s)", tc.in, s, e, tc.start, tc.end)
		}
		if start.Location() != time.UTC || !start.Equal(MonthStart(tc.in)) || !end.Equal(NextMonth(tc.in)) {
			t.Errorf("bounds of %v not the UTC month: %v %v", tc.in, start, end)
		}
	}
	for in, want := range map[string]string{"2026-11": "2026-11-01T00:00:00Z", "2028-02": "2028-02-01T00:00:00Z"} {
		got, err := ParseMonth(in)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("ParseMonth(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "2026-11-01", "november"} {
		if _, err := ParseMonth(bad); err == nil {
			t.Errorf("ParseMonth(%q): no error", bad)
		}
	}
	rolling := WindowOf(catalog.Window7d)
	at := time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC)
	if s, e := rolling.Bounds(at); !e.Equal(at) || at.Sub(s) != 7*24*time.Hour {
		t.Errorf("7d bounds %v %v", s, e)
	}
}

// TestBurnThresholdsPerWindow: every window keeps the SRE workbook's
// budget shares (2% in 1h, 5% in 6h, 10% in 1d, 10% in 3d); the factors
// follow from the window's length and print without float noise. The
// calendar month uses the 30-day factors.
func TestBurnThresholdsPerWindow(t *testing.T) {
	want := map[catalog.Window][]string{
		catalog.Window30d:   {"14.4", "6", "3", "1"},
		catalog.Window28d:   {"13.44", "5.6", "2.8", "0.9333333333333333"},
		catalog.Window7d:    {"3.36", "1.4", "0.7", "0.23333333333333334"},
		catalog.WindowMonth: {"14.4", "6", "3", "1"},
		"":                  {"14.4", "6", "3", "1"},
	}
	shares := []int64{2, 5, 10, 10}
	for w, factors := range want {
		got := BurnAlertsFor(w)
		if len(got) != len(factors) {
			t.Fatalf("%q: %d conditions", w, len(got))
		}
		hours := int64(WindowOf(w).Length() / time.Hour)
		for i, a := range got {
			if f := strconv.FormatFloat(a.Factor, 'f', -1, 64); f != factors[i] {
				t.Errorf("%q condition %d (%s over %s): factor %s, want %s", w, i, a.Severity, a.Long.Name, f, factors[i])
			}
			// factor × long window = share × window length, to the float.
			share := new(big.Rat).SetFloat64(a.Factor)
			share.Mul(share, big.NewRat(int64(a.Long.Duration/time.Hour)*100, hours))
			if f, _ := share.Float64(); f < float64(shares[i])-1e-9 || f > float64(shares[i])+1e-9 {
				t.Errorf("%q condition %d spends %v%% of the budget, want %d%%", w, i, f, shares[i])
			}
		}
		if got[0].Severity != Page || got[1].Severity != Page || got[2].Severity != Ticket || got[3].Severity != Ticket {
			t.Errorf("%q: severities %v", w, got)
		}
	}
	for i, a := range BurnAlerts {
		if a != BurnAlertsFor(catalog.Window30d)[i] {
			t.Errorf("BurnAlerts[%d] = %+v, not the 30d conditions", i, a)
		}
	}
}

func TestConsumed(t *testing.T) {
	const month = 30 * 24 * time.Hour
	tests := []struct {
		name            string
		total, bad      uint64
		elapsed, length time.Duration
		want            float64
	}{
		{"no traffic", 0, 0, time.Hour, month, 0},
		{"whole period", 1000, 1, month, month, 1},
		{"past the end", 1000, 1, 2 * month, month, 1},
		{"half a month: twice the events expected", 1000, 1, month / 2, month, 0.5},
		// 5 minutes in, 10 requests, one failed: projected from one hour
		// (720 of them in a 30-day month) to 7200 requests, 7.2 allowed.
		{"first minutes", 10, 1, 5 * time.Minute, month, 1 / 7.2},
	}
	for _, tc := range tests {
		if got := Consumed(tc.total, tc.bad, 0.001, tc.elapsed, tc.length); !near(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// windowCatalog has one service per SLO window, latency disabled.
func windowCatalog() *catalog.Catalog {
	c := &catalog.Catalog{Defaults: catalog.Defaults{SLOs: catalog.SLOs{Availability: &catalog.Objective{Percent: 99.9, Text: "99.9"}}}}
	for _, w := range catalog.Windows {
		c.Services = append(c.Services, catalog.Service{Name: "w" + string(w), Kind: catalog.HTTPService,
			SLOs: catalog.SLOs{Availability: &catalog.Objective{Percent: 99.9, Text: "99.9", Window: w}}})
	}
	return c
}

// observeAt counts good and bad requests of service at ts, with the
// clock at ts.
func observeAt(tr *Tracker, clk *fakeClock, service string, ts time.Time, good, bad int) {
	clk.now = ts
	o := Observation{Time: ts, Service: service, Route: "r", Method: "GET", Path: "/", GRPCStatus: -1, Direction: "inbound"}
	for i := 0; i < good+bad; i++ {
		o.Status = 200
		if i < bad {
			o.Status = 503
		}
		tr.Observe(&o)
	}
}

// TestWindowsCountTheirOwnPeriod: 40 days of traffic, 100 requests and
// d bad ones at noon of day d. Each window counts its own days; the month
// counts from the 1st at 00:00 UTC, not an hour before.
func TestWindowsCountTheirOwnPeriod(t *testing.T) {
	clk := &fakeClock{}
	tr := newTestTracker(t, clk, Config{Catalog: windowCatalog()})
	first := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 40; d++ {
		for _, w := range catalog.Windows {
			observeAt(tr, clk, "w"+string(w), first.AddDate(0, 0, d).Add(12*time.Hour), 100-d%10, d%10)
		}
	}
	// The last hour of October, just before the month turns.
	for _, w := range catalog.Windows {
		observeAt(tr, clk, "w"+string(w), time.Date(2026, 11, 9, 23, 50, 0, 0, time.UTC), 5, 5)
	}
	clk.now = time.Date(2026, 11, 10, 0, 10, 0, 0, time.UTC) // 10 November, 00:10
	for _, w := range catalog.Windows {
		observeAt(tr, clk, "w"+string(w), clk.now, 1, 0)
	}
	r := tr.Snapshot()
	sum := func(from, to int) (total, bad uint64) { // days [from, to] since 1 October
		for d := from; d <= to; d++ {
			total, bad = total+100, bad+uint64(d%10)
		}
		return total + 10 + 1, bad + 5
	}
	for _, tc := range []struct {
		w        catalog.Window
		from, to int
	}{
		{catalog.Window30d, 10, 39}, // noon of 11 October is inside 30 days + the current hour
		{catalog.Window28d, 12, 39},
		{catalog.Window7d, 33, 39},
		{catalog.WindowMonth, 31, 39}, // 1–9 November; the 9th's 23:50 too
	} {
		s := find(t, r, "w"+string(tc.w), Availability)
		total, bad := sum(tc.from, tc.to)
		if s.Total != total || s.Bad != bad {
			t.Errorf("%s: total/bad %d/%d, want %d/%d", tc.w, s.Total, s.Bad, total, bad)
		}
		if s.Window != string(tc.w) {
			t.Errorf("%s: window %q", tc.w, s.Window)
		}
		if wantStart := (tc.w == catalog.WindowMonth); s.PeriodStart.IsZero() == wantStart {
			t.Errorf("%s: period_start %v", tc.w, s.PeriodStart)
		}
	}
	if ps := find(t, r, "wmonth", Availability).PeriodStart; !ps.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("period_start %v", ps)
	}
}

// TestMonthJustBegunIsNotExhausted: a month-window SLO five minutes into
// the month with one failure among ten requests has spent a share of the
// month's budget, not all of it, and the failures of the month before do
// not count; the same traffic exhausts a 30-day SLO that has no history.
func TestMonthJustBegunIsNotExhausted(t *testing.T) {
	clk := &fakeClock{}
	tr := newTestTracker(t, clk, Config{Catalog: windowCatalog()})
	for _, svc := range []string{"wmonth", "w30d"} {
		observeAt(tr, clk, svc, time.Date(2026, 11, 30, 23, 58, 0, 0, time.UTC), 0, 50) // the month before
		observeAt(tr, clk, svc, time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC), 9, 1)
	}
	r := tr.Snapshot()
	m := find(t, r, "wmonth", Availability)
	if m.Total != 10 || m.Bad != 1 {
		t.Fatalf("month total/bad %d/%d, want 10/1", m.Total, m.Bad)
	}
	// 10 requests in the first hour of a 31-day month: 7440 expected,
	// 7.44 bad allowed at 99.9%.
	if want := round9(1 - 1/7.44); !near(m.ErrorBudgetRemaining, want) {
		t.Errorf("month budget left %v, want %v", m.ErrorBudgetRemaining, want)
	}
	if m.Status() == StatusExhausted {
		t.Error("a month just begun is exhausted by one failure")
	}
	if d := find(t, r, "w30d", Availability); d.Status() != StatusExhausted {
		t.Errorf("30d status %q with 51 bad of 60, want exhausted", d.Status())
	}
	if !near(m.SLI, 0.9) {
		t.Errorf("month SLI %v, want 0.9", m.SLI)
	}
}

// TestMetricsHonourWindows: the budget gauge is the one /api/slo reports,
// per SLO window.
func TestMetricsHonourWindows(t *testing.T) {
	clk := &fakeClock{}
	reg := prometheus.NewRegistry()
	tr := newTestTracker(t, clk, Config{Catalog: windowCatalog(), Registerer: reg})
	for d := 0; d < 10; d++ {
		for _, w := range catalog.Windows {
			observeAt(tr, clk, "w"+string(w), time.Date(2026, 11, 1+d, 12, 0, 0, 0, time.UTC), 1000-d, d)
		}
	}
	r := tr.Snapshot()
	mfs := gather(t, reg)
	got := map[catalog.Window]float64{}
	for _, w := range catalog.Windows {
		got[w] = value(t, mfs, "mesh_slo_error_budget_remaining_ratio", map[string]string{"service": "w" + string(w), "slo": Availability})
		if want := find(t, r, "w"+string(w), Availability).ErrorBudgetRemaining; !near(got[w], want) {
			t.Errorf("%s gauge %v, want %v", w, got[w], want)
		}
	}
	if near(got[catalog.Window7d], got[catalog.WindowMonth]) {
		t.Error("7d and month budgets agree: windows not honoured")
	}
}

// FuzzParseMonth: whatever it is given, ParseMonth either fails or returns
// the first instant of a UTC month that prints back as its input.
func FuzzParseMonth(f *testing.F) {
	for _, s := range []string{"2026-11", "2028-02", "0000-01", "9999-12", "2026-13", "2026-1", "", "2026-11-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMonth(s)
		if err != nil {
			return
		}
		if m.Format("2006-01") != s || !m.Equal(MonthStart(m)) || m.Location() != time.UTC {
			t.Errorf("ParseMonth(%q) = %v", s, m)
		}
		if d := DaysIn(m); d < 28 || d > 31 {
			t.Errorf("%q has %d days", s, d)
		}
	})
}
