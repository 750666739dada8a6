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

	"github.com/meshtel/meshtel/edges"
)

// graphView is the /graph page: the dependency graph as callers see it.
type graphView struct {
	Enabled       bool
	Focus         string   // ?focus=: only this service's edges
	Services      []string // for the focus list
	Since         time.Time
	RecentSeconds float64
	Width, Height float64
	Nodes         []graphNode
	Edges         []graphEdge
	Rows          []edgeRow
	Undeclared    []edges.Pair
	Unused        []edges.Pair
}

// graphNode is one service drawn at X, Y.
type graphNode struct {
	Name, Label string
	Link        bool   // has a service page
	Status      string // statusOK, statusBurning, statusExhausted or "none"
	X, Y, W     float64
	Title       string
}

// graphEdge is one drawn edge: an observed call or an unused declaration.
type graphEdge struct {
	Path       string  // SVG path data
	Class      string  // the colour class and the undeclared, unused or idle marks
	Marker     string  // the arrowhead's id
	Width      float64 // stroke width: grows with the request rate
	Title      string
	Undeclared bool
	MidX, MidY float64 // where the undeclared mark sits
}

// edgeRow is one observed edge in the table under the graph.
type edgeRow struct {
	Source, Destination         string
	SourceLink, DestinationLink bool
	Requests, Errors            uint64
	ErrorRatio, P99             string
	Rate, RecentRatio           string
	RateValue                   float64
	Class                       string // error class of the recent (else overall) ratio
	Declared                    bool
	LastSeen                    time.Time
}

func (u *UI) graphPage(w http.ResponseWriter, r *http.Request) {
	v := graphView{Enabled: u.cfg.Dependencies != nil, Focus: strings.TrimSpace(r.URL.Query().Get("focus"))}
	p := page{Title: "Dependency graph", Nav: "graph", Refresh: u.refreshSeconds(), Data: &v}
	if v.Enabled {
		rep := u.cfg.Dependencies()
		p.Generated = rep.GeneratedAt
		u.buildGraph(&v, rep)
	}
	u.render(w, http.StatusOK, pageGraph, p)
}

// buildGraph fills v from a dependencies report: the catalog's services
// and every name the report mentions as nodes, coloured by SLO status;
// observed edges and unused declarations, laid out in columns by depth.
func (u *UI) buildGraph(v *graphView, rep edges.Report) {
	v.Since, v.RecentSeconds = rep.Since, rep.RecentSeconds
	keep := func(p edges.Pair) bool { return v.Focus == "" || p.Source == v.Focus || p.Destination == v.Focus }
	names := map[string]int{}
	var order []string
	node := func(name string) int {
		if i, ok := names[name]; ok {
			return i
		}
		names[name] = len(order)
		order = append(order, name)
		return names[name]
	}
	for _, s := range u.cfg.Catalog.Services {
		v.Services = append(v.Services, s.Name)
		if v.Focus == "" || s.Name == v.Focus {
			node(s.Name)
		}
	}
	var links [][2]int
	var shown []edges.Edge
	for _, e := range rep.Edges {
		if keep(edges.Pair{Source: e.Source, Destination: e.Destination}) {
			shown = append(shown, e)
			links = append(links, [2]int{node(e.Source), node(e.Destination)})
		}
	}
	var unused []edges.Pair
	for _, p := range rep.Unused {
		if keep(p) {
			unused = append(unused, p)
			links = append(links, [2]int{node(p.Source), node(p.Destination)})
		}
	}
	v.Undeclared = slices.DeleteFunc(slices.Clone(rep.Undeclared), func(p edges.Pair) bool { return !keep(p) })
	v.Unused = unused
	widths := make([]float64, len(order))
	for i, n := range order {
		widths[i] = labelWidth(nodeLabel(n))
	}
	l := layoutGraph(len(order), widths, links)
	v.Width, v.Height = math.Ceil(l.width), math.Ceil(l.height)
	v.Nodes = u.graphNodes(order, l)
	for i, e := range shown {
		g := observedEdge(e, rep.RecentSeconds)
		g.Path, g.MidX, g.MidY = l.edgePath(i, links[i][0], links[i][1])
		v.Edges = append(v.Edges, g)
		v.Rows = append(v.Rows, u.edgeRow(e))
	}
	for i, p := range unused {
		k := len(shown) + i
		g := graphEdge{Class: "edge edge-unused", Marker: "arrow-unused", Width: 1,
			Title: p.Source + " → " + p.Destination + ": declared in the catalog, no call observed"}
		g.Path, g.MidX, g.MidY = l.edgePath(k, links[k][0], links[k][1])
		v.Edges = append(v.Edges, g)
	}
	slices.SortFunc(v.Rows, func(a, b edgeRow) int {
		return cmp.Or(cmp.Compare(b.RateValue, a.RateValue), cmp.Compare(b.Requests, a.Requests),
			strings.Compare(a.Source, b.Source), strings.Compare(a.Destination, b.Destination))
	})
}

// graphNodes places the nodes and colours each by the worst status of its
// SLOs.
func (u *UI) graphNodes(names []string, l graphLayout) []graphNode {
	worst := map[string]int{}
	if u.cfg.SLO != nil {
		for _, s := range u.cfg.SLO().SLOs {
			_, rank := status(s)
			if r, ok := worst[s.Service]; !ok || rank < r {
				worst[s.Service] = rank
			}
		}
	}
	out := make([]graphNode, len(names))
	for i, name := range names {
		n := graphNode{Name: name, Label: nodeLabel(name), X: l.x[i], Y: l.y[i], W: l.w[i], Status: "none",
			Link: name != edges.Other || u.cfg.Catalog.Lookup(name) != nil}
		if rank, ok := worst[name]; ok {
			n.Status = []string{statusExhausted, statusBurning, statusOK}[rank]
		}
		n.Title = name + ": SLOs " + n.Status
		switch {
		case n.Status == "none" && !n.Link:
			n.Title = "other: every service outside the catalog"
		case n.Status == "none":
			n.Title = name + ": no SLO status"
		}
		out[i] = n
	}
	return out
}

// nodeLabel is the text in a node: the status symbol's room is in the
// width; long names are cut, the title has them whole.
func nodeLabel(name string) string {
	const maxRunes = 30
	if r := []rune(name); len(r) > maxRunes {
		return string(r[:maxRunes-1]) + "…"
	}
	return name
}

// observedEdge draws one observed edge: width by its recent rate, colour by
// its recent error ratio (its overall one when idle), dashed and marked
// when undeclared.
func observedEdge(e edges.Edge, recentSeconds float64) graphEdge {
	ratio, idle := e.RecentErrorRatio(), e.RecentRequests == 0
	if idle {
		ratio = e.ErrorRatio
	}
	class := edges.ErrorClass(ratio)
	g := graphEdge{Class: "edge edge-" + class, Marker: "arrow-" + class, Undeclared: !e.Declared,
		Width: math.Round(min(1+1.8*math.Log10(1+e.RequestsPerSecond), 9)*10) / 10}
	if idle {
		g.Class += " edge-idle"
		g.Width = 1
	}
	if g.Undeclared {
		g.Class += " edge-undeclared"
	}
	declared := "declared"
	if g.Undeclared {
		declared = "UNDECLARED: not in " + e.Source + "'s upstreams"
	}
	g.Title = fmt.Sprintf("%s → %s: %s req/s, %s errors over the last %s; %s requests, %s errors in all; p99 %s; %s",
		e.Source, e.Destination, formatRate(e.RequestsPerSecond), formatPercent(e.RecentErrorRatio(), 2),
		(time.Duration(recentSeconds) * time.Second).String(), groupDigits(strconv.FormatUint(e.Requests, 10)),
		formatPercent(e.ErrorRatio, 2), p99Text(e.P99Ms), declared)
	return g
}

func (u *UI) edgeRow(e edges.Edge) edgeRow {
	ratio := e.RecentErrorRatio()
	if e.RecentRequests == 0 {
		ratio = e.ErrorRatio
	}
	return edgeRow{
		Source: e.Source, Destination: e.Destination,
		SourceLink: e.Source != edges.Other, DestinationLink: e.Destination != edges.Other,
		Requests: e.Requests, Errors: e.Errors, ErrorRatio: formatPercent(e.ErrorRatio, 3), P99: p99Text(e.P99Ms),
		Rate: formatRate(e.RequestsPerSecond), RateValue: e.RequestsPerSecond, RecentRatio: formatPercent(e.RecentErrorRatio(), 2),
		Class: edges.ErrorClass(ratio), Declared: e.Declared, LastSeen: e.LastSeen,
	}
}

func p99Text(ms *float64) string {
	if ms == nil {
		return "—"
	}
	return formatDuration(time.Duration(*ms * float64(time.Millisecond)))
}
