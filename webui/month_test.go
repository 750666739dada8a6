package webui

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/meshtel/meshtel/sli"
)

// byID returns the element with id, or nil.
func byID(doc *html.Node, id string) *html.Node {
	var out *html.Node
	walk(doc, func(n *html.Node) {
		if out == nil && n.Type == html.ElementNode && attr(n, "id") == id {
			out = n
		}
	})
	return out
}

// TestDetailMonth: the service page's month selector shows the monthly
// report's figures for the month picked, the current one by default.
func TestDetailMonth(t *testing.T) {
	f := newFixture(t, true)
	// October, as a checkpoint restores its days: 10,000 requests a day,
	// a tenth of a percent bad every third day (over the 0.05% allowed).
	var slots []sli.SlotState
	for d := 1; d <= 31; d++ {
		slots = append(slots, sli.SlotState{Resolution: 86400, Start: time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC).Unix(),
			Availability: sli.Counts{Total: 10000, Bad: uint64(d%3/2) * 10}})
	}
	f.tracker.Add(&sli.State{Services: []sli.ServiceState{{Name: "my_website", Slots: slots}}})
	h := f.ui.Handler()

	_, _, body := get(t, h, "/slo/my_website?month=2026-10")
	doc := parseHTML(t, body)
	txt := text(doc)
	want := f.tracker.Month(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	var oct sli.MonthSLO
	for _, s := range want.SLOs {
		if s.Service == "my_website" && s.SLO == sli.Availability {
			oct = s
		}
	}
	for _, w := range []string{
		"Monthly report: October 2026", "The month is over.",
		"Budget consumed" + formatPercent(oct.BudgetConsumed, 1) + " ✔ met",
		"Worst day" + oct.WorstDay.Date + " (99.900%)",
		sliText(oct.Total, oct.SLI),
	} {
		if !strings.Contains(txt, w) {
			t.Errorf("October page lacks %q", w)
		}
	}
	table := byID(doc, "month0-table")
	if table == nil {
		t.Fatal("no day table")
	}
	rows, below := find(table, "tr", ""), find(table, "tr", "over")
	if len(rows) != 1+31 || len(below) != 10 {
		t.Errorf("%d rows (%d under the objective), want 1+31 (10)", len(rows), len(below))
	}
	var cells []string
	for _, c := range append(find(rows[2], "th", ""), find(rows[2], "td", "")...) {
		cells = append(cells, text(c))
	}
	if got := strings.Join(cells, "|"); got != "2026-10-02|10 000|10|99.900% under objective" {
		t.Errorf("second day %+q", got)
	}
	selected := ""
	options := find(doc, "option", "")
	for _, o := range options {
		for _, a := range o.Attr {
			if a.Key == "selected" {
				selected += attr(o, "value")
			}
		}
	}
	if selected != "2026-10" || !strings.Contains(txt, "November 2025") {
		t.Errorf("selected %q; options %d", selected, len(options))
	}

	// By default the current month, under way, up to today.
	_, _, body = get(t, h, "/slo/my_website")
	doc = parseHTML(t, body)
	if txt := text(doc); !strings.Contains(txt, "Monthly report: November 2026") || !strings.Contains(txt, "under way") {
		t.Error("the default month is not the current one")
	}
	if rows := find(byID(doc, "month0-table"), "tr", ""); len(rows) != 1+25 {
		t.Errorf("November so far: %d day rows, want 25", len(rows)-1)
	}
	_, _, body = get(t, h, "/slo/my_website?month=bogus")
	if !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "Monthly report: November 2026") {
		t.Error("a bad month is not explained")
	}
	if n := strings.Count(body, "<option "); n != monthsOffered {
		t.Errorf("%d months offered, want %d", n, monthsOffered)
	}
	if !strings.Contains(body, `/api/slo?month=2026-11&amp;format=csv`) {
		t.Error("no CSV link")
	}
}
