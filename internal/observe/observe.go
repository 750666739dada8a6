// Package observe adapts the ingest path's record.Record to the plain
// observations the SLI engine and the dependency-edge tracker take. It is
// the one place that knows both sides, so that neither sli nor edges ever
// imports a record type; the all-in-one alsd and the scale-out aggregators
// share it and cannot disagree on what a record means.
package observe

import (
	"time"

	"github.com/meshtel/meshtel/edges"
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

// Edge is the edge tracker's view of r, and whether r is a call an edge
// counts at all: an outbound record with a known destination (SPEC §8).
// Like SLI, it carries no outcome, and ResponseFlags aliases r's slice.
func Edge(r *record.Record) (edges.Observation, bool) {
	if r.Direction != record.Outbound || r.PeerService == "" {
		return edges.Observation{}, false
	}
	o := edges.Observation{
		Time:          r.Time,
		Source:        r.Service,
		Destination:   r.PeerService,
		TCP:           r.Kind == record.TCP,
		Method:        r.Method,
		Path:          r.Path,
		Status:        r.Status,
		GRPCStatus:    r.GRPCStatus,
		ResponseFlags: r.ResponseFlags,
		Intermediate:  r.Intermediate,
	}
	if r.HasDuration {
		o.Duration = time.Duration(r.DurationMs * float64(time.Millisecond))
	}
	return o, true
}
