package webui

import (
	"net/http"
	"strconv"
	"time"

	"github.com/meshtel/meshtel/sli"
)

// monthsOffered is how many calendar months the selector offers, the
// current one included: as far back as the tracker keeps days (400).
const monthsOffered = 14

// monthView is the service page's monthly report (SPEC §9): the calendar
// month picked with ?month=YYYY-MM, by default the current one, with the
// figures `alsd report slo --month` prints.
type monthView struct {
	Enabled  bool // the UI has a month source
	Month    string
	Title    string // "November 2026"
	Options  []monthOption
	Error    string // a ?month= that is not a month
	Complete bool
	SLOs     []monthSLO
}

type monthOption struct {
	Value, Label string
	Selected     bool
}

// monthSLO is one SLO's month, formatted.
type monthSLO struct {
	Name, Objective, SLI, Consumed, Worst string
	Met                                   bool
	Days                                  []monthDay
}

type monthDay struct {
	Date, SLI     string
	Requests, Bad uint64
	Below         bool // the day's SLI is under the objective
}

// month builds the monthly report of service for the request's ?month=.
func (u *UI) month(r *http.Request, service string, now time.Time) monthView {
	v := monthView{Enabled: u.cfg.Month != nil}
	if !v.Enabled {
		return v
	}
	at := sli.MonthStart(now)
	if q := r.URL.Query().Get("month"); q != "" {
		m, err := sli.ParseMonth(q)
		if err != nil {
			v.Error = err.Error()
		} else {
			at = m
		}
	}
	v.Month, v.Title = at.Format("2006-01"), at.Format("January 2006")
	cur := sli.MonthStart(now)
	for i := range monthsOffered {
		m := cur.AddDate(0, -i, 0)
		v.Options = append(v.Options, monthOption{Value: m.Format("2006-01"), Label: m.Format("January 2006"), Selected: m.Equal(at)})
	}
	rep := u.cfg.Month(at)
	v.Complete = rep.Complete
	for _, s := range rep.SLOs {
		if s.Service == service {
			v.SLOs = append(v.SLOs, monthRow(s))
		}
	}
	return v
}

func monthRow(s sli.MonthSLO) monthSLO {
	name := s.SLO
	if s.Threshold != "" {
		name += " ≤ " + s.Threshold
	}
	m := monthSLO{
		Name: name, Objective: strconv.FormatFloat(s.Objective, 'f', -1, 64) + "%",
		SLI: sliText(s.Total, s.SLI), Consumed: formatPercent(s.BudgetConsumed, 1), Met: s.Met, Worst: "—",
	}
	if w := s.WorstDay; w != nil {
		m.Worst = w.Date + " (" + sliText(w.Total, w.SLI) + ")"
	}
	for _, d := range s.Days {
		m.Days = append(m.Days, monthDay{Date: d.Date, Requests: d.Total, Bad: d.Bad, SLI: sliText(d.Total, d.SLI),
			Below: d.Total > 0 && d.SLI*100 < s.Objective-1e-9})
	}
	return m
}

func sliText(total uint64, sli float64) string {
	if total == 0 {
		return "no traffic"
	}
	return formatPercent(sli, 3)
}
