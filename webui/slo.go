package webui

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// The statuses the UI shows. "burning" is sli's "warning": a
// MeshErrorBudgetBurn condition holds, or less than a quarter of the budget
// is left.
const (
	statusOK        = "ok"
	statusBurning   = "burning"
	statusExhausted = "exhausted"
)

func status(s sli.SLOStatus) (name string, rank int) {
	switch s.Status() {
	case sli.StatusExhausted:
		return statusExhausted, 0
	case sli.StatusWarning:
		return statusBurning, 1
	}
	return statusOK, 2
}

// sloRow is one (service, SLO) of the overview.
type sloRow struct {
	Service, Team string
	SLO           string // "availability" or "latency"
	Threshold     string // latency only
	Objective     string // "99.95%"
	Window        string // the SLO's window: "30d", "7d", "November 2026"
	SLI           string // "99.912%" or "no traffic"
	Total, Bad    uint64
	Budget        float64
	BudgetText    string
	BudgetWidth   float64 // of the 100-wide bar
	Burn          map[string]string
	BurnValue     map[string]float64
	Status        string
	rank          int
}

func (u *UI) row(s sli.SLOStatus) sloRow {
	st, rank := status(s)
	r := sloRow{
		Service: s.Service, Team: u.team(s.Service), SLO: s.SLO, Threshold: s.Threshold,
		Objective: strconv.FormatFloat(s.Objective, 'f', -1, 64) + "%",
		Window:    windowText(s),
		SLI:       "no traffic",
		Total:     s.Total, Bad: s.Bad,
		Budget:      s.ErrorBudgetRemaining,
		BudgetText:  strconv.FormatFloat(s.ErrorBudgetRemaining*100, 'f', 1, 64) + "%",
		BudgetWidth: math.Round(min(max(s.ErrorBudgetRemaining, 0), 1) * 100),
		Burn:        map[string]string{}, BurnValue: map[string]float64{},
		Status: st, rank: rank,
	}
	if s.Total > 0 {
		r.SLI = strconv.FormatFloat(s.SLI*100, 'f', 3, 64) + "%"
	}
	for _, w := range sli.Windows {
		r.Burn[w.Name] = formatBurn(s.BurnRates[w.Name])
		r.BurnValue[w.Name] = s.BurnRates[w.Name]
	}
	return r
}

// windowText names the window of s for people: "30d", or the calendar
// month it is counting, "November 2026".
func windowText(s sli.SLOStatus) string {
	if !s.PeriodStart.IsZero() {
		return s.PeriodStart.UTC().Format("January 2006")
	}
	return s.Window
}

// worstFirst orders exhausted before burning before ok, then by budget
// left, then by the 1h burn rate.
func worstFirst(a, b sloRow) int {
	return cmp.Or(
		cmp.Compare(a.rank, b.rank),
		cmp.Compare(a.Budget, b.Budget),
		cmp.Compare(b.BurnValue["1h"], a.BurnValue["1h"]),
		cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.SLO, b.SLO),
	)
}

type overviewView struct {
	Enabled                bool
	Rows                   []sloRow
	Shown, Total           int
	Teams                  []string
	Team, Query            string
	OK, Burning, Exhausted int
	HasNoTeam              bool
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request) {
	v := overviewView{Enabled: u.cfg.SLO != nil, Teams: u.teams(), Team: r.URL.Query().Get("team"), Query: strings.TrimSpace(r.URL.Query().Get("service"))}
	p := page{Title: "SLOs", Nav: "slo", Refresh: u.refreshSeconds(), Data: &v}
	if v.Enabled {
		rep := u.cfg.SLO()
		p.Generated = rep.GeneratedAt
		for _, s := range rep.SLOs {
			row := u.row(s)
			v.Total++
			switch row.Status {
			case statusOK:
				v.OK++
			case statusBurning:
				v.Burning++
			default:
				v.Exhausted++
			}
			if row.Team == "" {
				v.HasNoTeam = true
			}
			if v.Team != "" && row.Team != v.Team && !(v.Team == "-" && row.Team == "") {
				continue
			}
			if v.Query != "" && !strings.Contains(strings.ToLower(row.Service), strings.ToLower(v.Query)) {
				continue
			}
			v.Rows = append(v.Rows, row)
		}
		slices.SortFunc(v.Rows, worstFirst)
		v.Shown = len(v.Rows)
	}
	u.render(w, http.StatusOK, pageOverview, p)
}

// detailView is the detail page of one service.
type detailView struct {
	Service   string
	Svc       *catalog.Service // nil when the catalog does not list it
	Team      string
	Enabled   bool
	SLOs      []sloDetail
	HaveState bool
	Routes    []routeRow
	Spills    uint64
	Bad       []badRequest
	BadTotal  uint64
	Flags     []flagCount
	Month     monthView
	Callers   callersView
}

type sloDetail struct {
	Row         sloRow
	Allowed     string // the error ratio the objective allows, "0.05%"
	Burn        chart
	Windows     []windowRow
	Conditions  []conditionRow
	Rate, Ratio chart // from the tracker's slots
	Budget      chart // from the sampled history
}

type windowRow struct {
	Window, Burn string
	Factors      string // "page 14.4×, ticket 3×"
	Over         bool
}

type conditionRow struct {
	Severity            string
	Factor              string
	Long, Short         string
	LongBurn, ShortBurn string
	Firing              bool
}

// The time charts use 2-minute buckets over 6 hours (the tracker's second
// tier, filled for the last hour from its 10-second tier), or 10-second
// buckets over the last hour while all the traffic is that recent, as
// after a start.
type chartSpan struct {
	res   int64 // bucket length, seconds
	span  time.Duration
	label string // "last 6 hours"
	every string // "2 minutes"
}

var (
	spanLong  = chartSpan{120, 6 * time.Hour, "last 6 hours", "2 minutes"}
	spanShort = chartSpan{10, time.Hour, "last hour", "10 seconds"}
)

// The resolutions of the tracker's tiers the charts read: the 10-second
// tier holds the last hour, the 2-minute one what was folded out of it.
const (
	fineRes   = 10
	coarseRes = 120
)

func (u *UI) detail(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("service")
	now := u.cfg.Now()
	v := detailView{Service: name, Svc: u.cfg.Catalog.Lookup(name), Team: u.team(name), Enabled: u.cfg.SLO != nil}
	if v.Svc != nil && v.Svc.Name != name {
		http.Redirect(w, r, "/slo/"+v.Svc.Name, http.StatusFound) // an alias
		return
	}
	var statuses []sli.SLOStatus
	p := page{Title: name, Nav: "slo", Refresh: u.refreshSeconds(), Data: &v}
	if v.Enabled {
		rep := u.cfg.SLO()
		p.Generated = rep.GeneratedAt
		now = rep.GeneratedAt
		for _, s := range rep.SLOs {
			if s.Service == name {
				statuses = append(statuses, s)
			}
		}
	}
	v.Bad, v.BadTotal, v.Flags = u.recent.get(name)
	if len(statuses) == 0 && v.Svc == nil && v.BadTotal == 0 {
		w.Header().Set("Cache-Control", "no-store")
		u.render(w, http.StatusNotFound, pageNotFound, page{Title: "Unknown service", Data: notFoundView{Path: r.URL.Path, Service: name}})
		return
	}
	var svcState *sli.ServiceState
	var buckets []time.Duration
	if u.cfg.SLOState != nil {
		st := u.cfg.SLOState()
		v.HaveState = true
		buckets = st.Buckets
		i, ok := slices.BinarySearchFunc(st.Services, name, func(s sli.ServiceState, n string) int { return strings.Compare(s.Name, n) })
		if ok {
			svcState = &st.Services[i]
			v.Spills = svcState.RouteSpills
			v.Routes = routeRows(svcState.Routes, buckets)
		}
	}
	for i, s := range statuses {
		v.SLOs = append(v.SLOs, u.sloDetail(i, s, svcState, now))
	}
	v.Month = u.month(r, name, now)
	v.Callers = u.callers(name, statuses)
	u.render(w, http.StatusOK, pageDetail, p)
}

func (u *UI) sloDetail(i int, s sli.SLOStatus, st *sli.ServiceState, now time.Time) sloDetail {
	allowed := 1 - s.Objective/100
	d := sloDetail{Row: u.row(s), Allowed: formatPercent(allowed, 3)}
	id := fmt.Sprintf("slo%d", i)
	conds := sli.BurnAlertsFor(catalog.Window(s.Window))
	var bars []burnBar
	for _, w := range sli.Windows {
		b := burnBar{Window: w.Name, Burn: s.BurnRates[w.Name]}
		var factors []string
		for _, a := range conds {
			if a.Long.Name == w.Name || a.Short.Name == w.Name {
				b.Marks = append(b.Marks, hline{Value: a.Factor, Class: "mark-" + string(a.Severity), Label: string(a.Severity)})
				factors = append(factors, string(a.Severity)+" "+formatFactor(a.Factor))
			}
		}
		over := false
		for _, m := range b.Marks {
			over = over || b.Burn > m.Value
		}
		bars = append(bars, b)
		d.Windows = append(d.Windows, windowRow{Window: w.Name, Burn: formatBurn(b.Burn) + "×", Factors: strings.Join(factors, ", "), Over: over})
	}
	d.Burn = burnChart(id+"-burn", "Burn rate by window", "Burn rate of the "+s.SLO+" SLO per window, with the page and ticket factors of MeshErrorBudgetBurn that use each window; the table below has the same numbers.", bars)
	for _, a := range conds {
		lb, sb := s.BurnRates[a.Long.Name], s.BurnRates[a.Short.Name]
		d.Conditions = append(d.Conditions, conditionRow{
			Severity: string(a.Severity), Factor: formatFactor(a.Factor), Long: a.Long.Name, Short: a.Short.Name,
			LongBurn: formatBurn(lb) + "×", ShortBurn: formatBurn(sb) + "×", Firing: lb > a.Factor && sb > a.Factor,
		})
	}
	if st != nil {
		d.Rate, d.Ratio = slotCharts(id, s, st, now, allowed, conds[0].Factor)
	} else {
		d.Rate = newChart(id+"-rate", "Requests per second, "+spanLong.label)
		d.Rate.Empty = "No traffic recorded yet."
		d.Ratio = newChart(id+"-ratio", "Bad ratio per "+spanLong.every+", "+spanLong.label)
		d.Ratio.Empty = d.Rate.Empty
	}
	pts := u.history.budget(now, s.Service, s.SLO)
	ts := timeSeries{Name: "budget left", Class: "line-budget"}
	for _, p := range pts {
		ts.T = append(ts.T, int64(p.T))
		ts.V = append(ts.V, max(float64(p.Budget), 0))
	}
	from := now.Add(-u.history.length).Unix()
	if len(ts.T) > 0 {
		from = max(from, ts.T[0])
	}
	d.Budget = timeChart(id+"-budget", "Error budget left ("+d.Row.Window+"), sampled since alsd started",
		"Error budget left of the "+s.SLO+" SLO as alsd sampled it every "+u.cfg.SampleInterval.String()+"; now "+d.Row.BudgetText+".",
		from, now.Unix(), []timeSeries{ts}, nil, 1, func(v float64) string { return formatPercent(v, 0) })
	if len(pts) < 2 {
		d.Budget.Empty = "Collecting: alsd samples the budget every " + u.cfg.SampleInterval.String() + "."
	}
	return d
}

// slotCharts draws the tracker's slots: requests per second, and the
// share of bad events against the ratio the objective allows (burn rate 1)
// and the fastest page's factor.
func slotCharts(id string, s sli.SLOStatus, st *sli.ServiceState, now time.Time, allowed, page float64) (rate, ratio chart) {
	end := now.Unix()
	sp := spanLong
	first, counts := slotCounts(st, s.SLO, end, sp)
	if recentOnly(counts, len(counts)-int(spanShort.span/time.Second)/int(sp.res)) {
		sp = spanShort
		first, counts = slotCounts(st, s.SLO, end, sp)
	}
	req := timeSeries{Name: "requests/s", Class: "line-requests"}
	bad := timeSeries{Name: "bad/s", Class: "line-bad"}
	share := timeSeries{Name: "bad ratio", Class: "line-bad"}
	if s.SLO == sli.Latency {
		bad.Name, share.Name = "slow/s", "slow ratio"
		req.Name = "counted requests/s"
	}
	for i, c := range counts {
		mid := first + int64(i)*sp.res + sp.res/2
		req.T, bad.T, share.T = append(req.T, mid), append(bad.T, mid), append(share.T, mid)
		req.V = append(req.V, float64(c.Total)/float64(sp.res))
		bad.V = append(bad.V, float64(c.Bad)/float64(sp.res))
		if c.Total > 0 {
			share.V = append(share.V, float64(c.Bad)/float64(c.Total))
		} else {
			share.V = append(share.V, math.NaN())
		}
	}
	rate = timeChart(id+"-rate", "Requests per second, "+sp.label,
		"Requests counted for the "+s.SLO+" SLO and bad ones, per second, averaged over "+sp.every+".",
		first, end, []timeSeries{req, bad}, nil, 0.1, formatRate)
	ratio = timeChart(id+"-ratio", "Bad ratio per "+sp.every+", "+sp.label,
		"Share of bad events per "+sp.every+" against the "+formatPercent(allowed, 3)+" the objective allows; gaps have no traffic.",
		first, end, []timeSeries{share}, []hline{
			{Value: allowed, Class: "ref-budget", Label: "allowed (burn 1×)"},
			{Value: allowed * page, Class: "ref-page", Label: "page (" + formatFactor(page) + ")"},
		}, 0, func(v float64) string { return formatPercent(v, 2) })
	if sum(req.V) == 0 {
		msg := "No traffic in the " + sp.label + "."
		if len(st.Slots) > 0 {
			msg = "Collecting: no " + sp.every + " complete with traffic yet."
		}
		rate.Empty, ratio.Empty = msg, msg
	}
	return rate, ratio
}

// recentOnly reports whether counts has events and all of them lie in its
// buckets from index recent on.
func recentOnly(counts []sli.Counts, recent int) bool {
	any := false
	for i, c := range counts {
		if c.Total > 0 {
			if i < recent {
				return false
			}
			any = true
		}
	}
	return any
}

// slotCounts sums the events of one SLO per bucket of sp before end, whole
// buckets only (the current one would dip for lack of time). The tracker
// keeps the last hour in 10-second slots and folds older ones into its
// coarse tiers, so the 10-second and 2-minute slots of a State hold
// disjoint events and add up.
func slotCounts(st *sli.ServiceState, slo string, end int64, sp chartSpan) (first int64, counts []sli.Counts) {
	first = (end - int64(sp.span/time.Second)) / sp.res * sp.res
	counts = make([]sli.Counts, (end+1-first)/sp.res)
	for _, sl := range st.Slots {
		if sl.Resolution != fineRes && sl.Resolution != coarseRes || sl.Resolution > sp.res {
			continue
		}
		i := (sl.Start - first) / sp.res
		if sl.Start < first || i >= int64(len(counts)) {
			continue
		}
		c := sl.Availability
		if slo == sli.Latency {
			c = sl.Latency
		}
		counts[i].Total += c.Total
		counts[i].Bad += c.Bad
	}
	return first, counts
}

func sum(vs []float64) float64 {
	t := 0.0
	for _, v := range vs {
		t += v
	}
	return t
}

// routeRow is one route's cumulative counters since alsd started (or its
// checkpoint).
type routeRow struct {
	Route            string
	Requests, Errors uint64
	ErrorRatio       string
	Slow             uint64
	P50, P90, P99    string
}

func routeRows(routes []sli.RouteState, buckets []time.Duration) []routeRow {
	out := make([]routeRow, 0, len(routes))
	for _, r := range routes {
		row := routeRow{Route: r.Route, Requests: r.Availability.Total, Errors: r.Availability.Bad, Slow: r.Latency.Bad, ErrorRatio: "—"}
		if r.Availability.Total > 0 {
			row.ErrorRatio = formatPercent(float64(r.Availability.Bad)/float64(r.Availability.Total), 3)
		}
		row.P50, row.P90, row.P99 = quantile(0.5, r.Hist, buckets), quantile(0.9, r.Hist, buckets), quantile(0.99, r.Hist, buckets)
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b routeRow) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Route, b.Route))
	})
	return out
}

// quantile estimates a latency quantile from histogram counts per bucket
// (not cumulative, the last one +Inf) by linear interpolation inside the
// bucket, as PromQL's histogram_quantile does.
func quantile(q float64, hist []uint64, bounds []time.Duration) string {
	if len(hist) != len(bounds)+1 {
		return "—"
	}
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return "—"
	}
	rank := q * float64(total)
	var seen uint64
	for i, n := range hist {
		if float64(seen+n) < rank || n == 0 {
			seen += n
			continue
		}
		if i == len(bounds) {
			return "> " + formatDuration(bounds[len(bounds)-1])
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = bounds[i-1]
		}
		frac := (rank - float64(seen)) / float64(n)
		return formatDuration(lo + time.Duration(frac*float64(bounds[i]-lo)))
	}
	return "—"
}

func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
}

func formatPercent(ratio float64, prec int) string {
	return strconv.FormatFloat(ratio*100, 'f', prec, 64) + "%"
}

func formatFactor(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) + "×" }

func formatRate(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
}
