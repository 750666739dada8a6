package sli

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
)

// monthTraffic feeds service days first … last of a month (1-based) at
// 09:00 and 21:00 UTC: 1000 requests a day, d%4 bad ones on day d, and a
// bad 10% on the 13th; and, for services with latency, slow ones.
func monthTraffic(tr *Tracker, clk *fakeClock, service string, month time.Time, first, last int) {
	for d := first; d <= last; d++ {
		bad := d % 4
		if d == 13 {
			bad = 100
		}
		day := month.AddDate(0, 0, d-1)
		observeAt(tr, clk, service, day.Add(9*time.Hour), 500, 0)
		observeAt(tr, clk, service, day.Add(21*time.Hour), 500-bad, bad)
	}
}

// TestMonthLengths: a month report has one day per day of the month, 28,
// 29, 30 or 31 of them, and nothing of the neighbouring months.
func TestMonthLengths(t *testing.T) {
	for _, m := range []time.Time{
		time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	} {
		clk := &fakeClock{now: m.AddDate(0, 0, -3)}
		tr := newTestTracker(t, clk, Config{Catalog: windowCatalog()})
		observeAt(tr, clk, "wmonth", m.Add(-time.Second), 0, 7) // the last second of the month before
		n := DaysIn(m)
		monthTraffic(tr, clk, "wmonth", m, 1, n)
		observeAt(tr, clk, "wmonth", NextMonth(m), 0, 9) // the first second of the next
		clk.now = NextMonth(m).Add(time.Hour)
		r := tr.Month(m.AddDate(0, 0, 5))
		s := findMonth(t, r, "wmonth", Availability)
		if len(s.Days) != n || s.Days[0].Date != m.Format(time.DateOnly) || s.Days[n-1].Date != m.AddDate(0, 0, n-1).Format(time.DateOnly) {
			t.Errorf("%s: %d days %s … %s, want %d", r.Month, len(s.Days), s.Days[0].Date, s.Days[len(s.Days)-1].Date, n)
		}
		var bad uint64
		for d := 1; d <= n; d++ {
			bad += uint64(d % 4)
		}
		bad += 100 - 13%4
		if s.Total != uint64(n)*1000 || s.Bad != bad {
			t.Errorf("%s: total/bad %d/%d, want %d/%d", r.Month, s.Total, s.Bad, n*1000, bad)
		}
		if !r.Complete || s.WorstDay == nil || s.WorstDay.Date != m.AddDate(0, 0, 12).Format(time.DateOnly) {
			t.Errorf("%s: complete %v worst %+v", r.Month, r.Complete, s.WorstDay)
		}
		if want := round9(float64(bad) / (0.001 * float64(n) * 1000)); !near(s.BudgetConsumed, want) || s.Met != (want <= 1) {
			t.Errorf("%s: consumed %v met %v, want %v", r.Month, s.BudgetConsumed, s.Met, want)
		}
	}
}

func findMonth(t *testing.T, r MonthReport, service, slo string) MonthSLO {
	t.Helper()
	for _, s := range r.SLOs {
		if s.Service == service && s.SLO == slo {
			return s
		}
	}
	t.Fatalf("no %s/%s in the %s report", service, slo, r.Month)
	return MonthSLO{}
}

// TestMonthReportSpansARestart: the first half of November is counted by
// one process, which checkpoints and stops; the second restores it and
// counts the rest. The report equals one process seeing all of it, and
// it is still there a year later (400 days are kept).
func TestMonthReportSpansARestart(t *testing.T) {
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	clk := &fakeClock{now: month}
	first := newTestTracker(t, clk, Config{StateDir: dir})
	monthTraffic(first, clk, "web", month, 1, 15)
	clk.now = month.AddDate(0, 0, 15).Add(-30 * time.Minute) // 23:30 on the 15th: today is still in the fine slots
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newTestTracker(t, clk, Config{StateDir: dir})
	monthTraffic(second, clk, "web", month, 16, 30)

	clkAll := &fakeClock{now: month}
	whole := newTestTracker(t, clkAll, Config{})
	monthTraffic(whole, clkAll, "web", month, 1, 30)
	for _, at := range []time.Time{month.AddDate(0, 1, 0).Add(time.Minute), month.AddDate(1, 0, 0)} {
		clk.now, clkAll.now = at, at
		got, want := second.Month(month), whole.Month(month)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("at %v: report across the restart differs:\n got %+v\nwant %+v", at, got, want)
		}
		if s := findMonth(t, got, "web", Availability); s.Total != 30000 {
			t.Errorf("at %v: total %d, want 30000", at, s.Total)
		}
	}
	for _, tc := range []struct {
		days int
		want uint64
	}{{400, 30000}, {401, 29000}, {430, 0}} {
		days, want := tc.days, tc.want
		clk.now = month.AddDate(0, 0, days)
		if s := findMonth(t, second.Month(month), "web", Availability); s.Total != want {
			t.Errorf("%d days after the 1st the month has %d requests, want %d: 400 days before today are kept", days, s.Total, want)
		}
	}
}

// TestMergeMonthReports: reports of trackers that each saw part of the
// traffic merge into the report of one tracker that saw all of it.
func TestMergeMonthReports(t *testing.T) {
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: month}
	a, b, all := newTestTracker(t, clk, Config{}), newTestTracker(t, clk, Config{}), newTestTracker(t, clk, Config{})
	monthTraffic(a, clk, "web", month, 1, 20)
	monthTraffic(b, clk, "api", month, 1, 20)
	monthTraffic(b, clk, "web", month, 21, 25) // web moved to b (a rebalance)
	for _, svc := range []string{"web", "api"} {
		monthTraffic(all, clk, svc, month, 1, 20)
	}
	monthTraffic(all, clk, "web", month, 21, 25)
	got, err := MergeMonthReports(a.Month(month), b.Month(month))
	if err != nil {
		t.Fatal(err)
	}
	if want := all.Month(month); !reflect.DeepEqual(got, want) {
		t.Errorf("merged:\n got %+v\nwant %+v", got, want)
	}
	if got.Complete {
		t.Error("a month under way is complete")
	}
	if _, err := MergeMonthReports(a.Month(month), a.Month(month.AddDate(0, -1, 0))); !errors.Is(err, ErrMonthMismatch) {
		t.Errorf("months differ: %v", err)
	}
}

// TestMonthReportGolden renders a month with a bad day, a day without
// traffic and a latency SLO in every format.
func TestMonthReportGolden(t *testing.T) {
	month := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: month}
	cat := testCatalog()
	cat.Services[0].SLOs.Availability = &catalog.Objective{Percent: 99.95, Text: "99.95", Window: catalog.WindowMonth}
	tr := newTestTracker(t, clk, Config{Catalog: cat})
	monthTraffic(tr, clk, "web", month, 1, 9)
	monthTraffic(tr, clk, "web", month, 11, 28) // the 10th has no traffic
	monthTraffic(tr, clk, "redis", month, 27, 28)
	clk.now = NextMonth(month).Add(2 * time.Hour)
	r := tr.Month(month)
	for _, format := range []string{"md", "json", "csv"} {
		var b bytes.Buffer
		if err := WriteMonthReport(&b, r, format); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "month."+format)
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s report differs from %s (go test -update to accept):\n%s", format, golden, b.String())
		}
	}
	var back MonthReport
	var b bytes.Buffer
	WriteMonthReport(&b, r, "json")
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if again, err := MergeMonthReports(back); err != nil || !reflect.DeepEqual(again, r) {
		t.Errorf("json round trip changed the report: %v", err)
	}
	if err := WriteMonthReport(&b, r, "xml"); err == nil {
		t.Error("xml: no error")
	}
}

func TestMonthHandler(t *testing.T) {
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: month}
	tr := newTestTracker(t, clk, Config{})
	monthTraffic(tr, clk, "web", month, 1, 3)
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		query, ctype, contains string
		code                   int
	}{
		{"?month=2026-11", "application/json", `"month": "2026-11"`, 200},
		{"?month=2026-11&format=md", "text/markdown; charset=utf-8", "# SLO report 2026-11", 200},
		{"?month=2026-11&format=csv", "text/csv; charset=utf-8", "web,availability,99.95,2026-11-03,1000,3,0.997,,", 200},
		{"?month=2026-13", "application/json", `YYYY-MM`, 400},
		{"?month=2026-11&format=xml", "application/json", `unknown report format`, 400},
		{"?format=csv", "application/json", `unknown report format`, 400},
	} {
		resp, err := http.Get(srv.URL + "/api/slo" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.ctype || !strings.Contains(b.String(), tc.contains) {
			t.Errorf("%s: %d %s\n%s", tc.query, resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
		}
	}
}

// TestYearOfDaysInCheckpoint: 400 days of traffic survive a checkpoint
// and restore day for day, every month of them.
func TestYearOfDaysInCheckpoint(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	clk := &fakeClock{now: from}
	tr := newTestTracker(t, clk, Config{StateDir: dir})
	for d := 0; d < 400; d++ {
		observeAt(tr, clk, "web", from.AddDate(0, 0, d).Add(12*time.Hour), 1000-d%7, d%7)
	}
	clk.now = clk.now.Add(2 * time.Hour) // the last day leaves the 10-second slots
	if err := tr.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	days := 0
	for _, sl := range st.Services[slices.IndexFunc(st.Services, func(s ServiceState) bool { return s.Name == "web" })].Slots {
		if sl.Resolution == daySecs {
			days++
		}
	}
	if days != 400 {
		t.Errorf("checkpoint holds %d days, want 400", days)
	}
	again := newTestTracker(t, clk, Config{StateDir: dir})
	for m := from; m.Before(clk.now); m = m.AddDate(0, 1, 0) {
		want, got := tr.Month(m), again.Month(m)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs after the restore", want.Month)
		}
		if s := findMonth(t, got, "web", Availability); s.Total == 0 {
			t.Errorf("%s has no traffic after the restore", got.Month)
		}
	}
}
