package webui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshtel/meshtel/sli"
)

// callersView is a service as its callers see it: the edges into it, next
// to its own availability SLI.
type callersView struct {
	Enabled          bool
	Service          string
	Since            time.Time
	Rows             []edgeRow // by recent rate, then requests
	Requests, Errors uint64
	CallerSLI        string // 1 − errors/requests over every caller since Since
	OwnSLI           string // its own availability SLI, "" without one
	Undeclared       int    // callers that do not declare it
}

// callers builds the service page's callers section from the dependency
// report, beside the service's own SLO statuses.
func (u *UI) callers(service string, statuses []sli.SLOStatus) callersView {
	v := callersView{Enabled: u.cfg.Dependencies != nil, Service: service, CallerSLI: "no calls"}
	for _, s := range statuses {
		if s.SLO == sli.Availability {
			v.OwnSLI = u.row(s).SLI
		}
	}
	if !v.Enabled {
		return v
	}
	rep := u.cfg.Dependencies()
	v.Since = rep.Since
	for _, e := range rep.Edges {
		if e.Destination != service {
			continue
		}
		v.Rows = append(v.Rows, u.edgeRow(e))
		v.Requests += e.Requests
		v.Errors += e.Errors
		if !e.Declared {
			v.Undeclared++
		}
	}
	slices.SortFunc(v.Rows, func(a, b edgeRow) int {
		return cmp.Or(cmp.Compare(b.RateValue, a.RateValue), cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Source, b.Source))
	})
	if v.Requests > 0 {
		v.CallerSLI = strconv.FormatFloat((1-float64(v.Errors)/float64(v.Requests))*100, 'f', 3, 64) + "%"
	}
	return v
}
