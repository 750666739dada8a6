// Package observe adapts the ingest path's record.Record to the plain
// observations the SLI engine takes. It is the one place that knows both
// types, so that sli never imports record; the all-in-one alsd and the
// scale-out aggregators share it and cannot disagree on what a record means.
package observe

import (
	"time"

	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

// SLI is the SLI engine's view of r. It carries no outcome: the engine
// derives it from these fields with its own catalog. ResponseFlags aliases
// r's slice, which is reused after the stage returns.
func SLI(r *record.Record) sli.Observation {
	o := sli.Observation{
		Time:          r.Time,
		Service:       r.Service,
		Route:         r.RouteName,
		TCP:           r.Kind == record.TCP,
		Method:        r.Method,
		Path:          r.Path,
		Status:        r.Status,
		GRPCStatus:    r.GRPCStatus,
		ResponseFlags: r.ResponseFlags,
		Intermediate:  r.Intermediate,
		Direction:     r.Direction.String(),
	}
	if r.HasDuration {
		o.Duration = time.Duration(r.DurationMs * float64(time.Millisecond))
	}
	return o
}
