package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/sli"
)

// lastMonth is the calendar month before the current one: reports of a
// state directory read it with the real clock, so it must lie within the
// 400 days kept.
func lastMonth() time.Time { return sli.MonthStart(time.Now()).AddDate(0, -1, 0) }

// feedDays counts, on each day first … last of month at noon, 1000
// requests of service, day%5 of them bad, with the tracker's clock there.
func feedDays(t *testing.T, tr *sli.Tracker, clock *time.Time, service string, month time.Time, first, last int) {
	t.Helper()
	for d := first; d <= last; d++ {
		*clock = month.AddDate(0, 0, d-1).Add(12 * time.Hour)
		o := sli.Observation{Time: *clock, Service: service, Route: "r", Method: "GET", Path: "/", GRPCStatus: -1, Direction: "inbound"}
		for i := range 1000 {
			o.Status = 200
			if i < d%5 {
				o.Status = 503
			}
			tr.Observe(&o)
		}
	}
}

func newTracker(t *testing.T, dir string, clock *time.Time) *sli.Tracker {
	t.Helper()
	tr, err := sli.New(sli.Config{StateDir: dir, Now: func() time.Time { return *clock }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func report(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"report", "slo"}, args...), &out, &errOut, func(string) string { return "" })
	if code != exitOK {
		return errOut.String(), code
	}
	return out.String(), code
}

// TestReportMonthFromStateDirAcrossARestart: the first half of last month
// is counted by one alsd, which stops; a second one on the same state
// directory counts the rest. `alsd report slo --month --state-dir` shows
// every day.
func TestReportMonthFromStateDirAcrossARestart(t *testing.T) {
	m := lastMonth()
	n := sli.DaysIn(m)
	dir := t.TempDir()
	var clock time.Time
	first := newTracker(t, dir, &clock)
	feedDays(t, first, &clock, "web", m, 1, n/2)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newTracker(t, dir, &clock)
	feedDays(t, second, &clock, "web", m, n/2+1, n)
	clock = time.Now()
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	out, code := report(t, "--state-dir", dir, "--month", m.Format("2006-01"), "--format", "csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var bad uint64
	for d := 1; d <= n; d++ {
		bad += uint64(d % 5)
	}
	days, months := 0, 0
	for _, r := range rows {
		if r[0] == "web" && r[1] == "availability" && len(r[3]) == len("2006-01-02") {
			days++
			if r[4] != "1000" {
				t.Errorf("day %s: %s requests, want 1000", r[3], r[4])
			}
		}
		if r[0] == "web" && r[1] == "availability" && r[3] == m.Format("2006-01") {
			months++
			if r[4] != strconv.Itoa(n*1000) || r[5] != strconv.FormatUint(bad, 10) {
				t.Errorf("month row %v, want %d requests, %d bad", r, n*1000, bad)
			}
		}
	}
	if days != n || months != 1 {
		t.Errorf("%d day rows and %d month rows, want %d and 1:\n%s", days, months, n, out)
	}
}

// TestReportMonthMergesAdmins: with several --admin URLs the monthly
// report is the merge of each instance's, as one instance seeing all the
// traffic would give.
func TestReportMonthMergesAdmins(t *testing.T) {
	m := lastMonth()
	var ca, cb time.Time
	a, b := newTracker(t, "", &ca), newTracker(t, "", &cb)
	feedDays(t, a, &ca, "web", m, 1, 10)
	feedDays(t, b, &cb, "api", m, 5, 20)
	feedDays(t, b, &cb, "web", m, 11, 12)
	ca, cb = time.Now(), time.Now()
	sa, sb := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer sa.Close()
	defer sb.Close()
	out, code := report(t, "--admin", sa.URL+","+sb.URL, "--month", m.Format("2006-01"), "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	var got sli.MonthReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want, err := sli.MergeMonthReports(a.Month(m), b.Month(m))
	if err != nil {
		t.Fatal(err)
	}
	want.GeneratedAt, got.GeneratedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged report:\n got %+v\nwant %+v", got, want)
	}
	for _, s := range got.SLOs {
		if s.Service == "web" && s.SLO == sli.Availability && s.Total != 12000 {
			t.Errorf("web total %d, want 12000", s.Total)
		}
	}
	md, code := report(t, "--admin", sa.URL, "--month", m.Format("2006-01"))
	if code != exitOK || !strings.HasPrefix(md, "# SLO report "+m.Format("2006-01")) {
		t.Errorf("md (the default format): exit %d\n%s", code, md)
	}
}

func TestReportMonthUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--month", "2026-13", "--state-dir", t.TempDir()},
		{"--month", "11/2026", "--state-dir", t.TempDir()},
		{"--month", "2026-11", "--state-dir", t.TempDir(), "--format", "xml"},
	} {
		if out, code := report(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, out)
		}
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"report", "cookies", "--month", "2026-11"}, io.Discard, &errOut, func(string) string { return "" }); code != exitUsage || !strings.Contains(errOut.String(), "--month") {
		t.Errorf("cookies --month: exit %d: %s", code, errOut.String())
	}
}
