package sli

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshtel/meshtel/internal/stateframe"
)

// State is the mergeable content of a Tracker: cumulative per-route
// counters and the windowed slots. States of trackers that saw disjoint
// parts of one stream add up (Merge) to the state of a tracker that saw all
// of it; Tracker.Add folds a State into a live tracker. Its binary form
// (MarshalBinary) is the checkpoint file format.
type State struct {
	SavedAt time.Time `json:"saved_at"`
	// Buckets are the histogram upper bounds the routes' Hist counts use.
	Buckets []time.Duration `json:"buckets_ns"`
	// ServiceSpills counts observations counted under OtherService.
	ServiceSpills uint64         `json:"service_spills,omitempty"`
	Services      []ServiceState `json:"services"` // by name
}

// ServiceState is one service's part of a State.
type ServiceState struct {
	Name        string       `json:"name"`
	RouteSpills uint64       `json:"route_spills,omitempty"` // observations counted under OtherRoute
	Routes      []RouteState `json:"routes"`                 // by route
	Slots       []SlotState  `json:"slots"`                  // by resolution, then start
}

// RouteState holds the cumulative counters of one (service, route).
type RouteState struct {
	Route        string   `json:"route"`
	Availability Counts   `json:"availability"`
	Latency      Counts   `json:"latency"`
	Hist         []uint64 `json:"hist"`        // per bucket of State.Buckets plus +Inf, not cumulative
	HistSumUs    uint64   `json:"hist_sum_us"` // sum of durations, microseconds
}

// SlotState is one non-empty slot of the windowed accounting. The 10s
// slots (the last hour) and the coarse ones hold disjoint events: a 10s
// slot is folded into the 2m, 15m, 1h and 1d slots only when it leaves the
// last hour, and then each of those holds it once. The 1d slots
// (Resolution 86400, Start at 00:00 UTC) are the per-day totals of the
// last DayHistory.
type SlotState struct {
	Resolution   int64  `json:"res_s"`   // slot length in seconds
	Start        int64  `json:"start_s"` // Unix second the slot starts at
	Availability Counts `json:"a,omitzero"`
	Latency      Counts `json:"l,omitzero"` // absent for SLOs without latency
}

// Counts are the events of one SLO: all that count, and the bad ones.
type Counts struct {
	Total uint64 `json:"total"`
	Bad   uint64 `json:"bad"`
}

func (c *Counts) add(d Counts) { c.Total += d.Total; c.Bad += d.Bad }

// Merge adds o into s. Histograms recorded with other buckets than s's
// cannot be added and are left out.
func (s *State) Merge(o *State) {
	if o.SavedAt.After(s.SavedAt) {
		s.SavedAt = o.SavedAt
	}
	sameBuckets := slices.Equal(s.Buckets, o.Buckets)
	if len(s.Services) == 0 && len(s.Buckets) == 0 {
		s.Buckets, sameBuckets = slices.Clone(o.Buckets), true
	}
	s.ServiceSpills += o.ServiceSpills
	for _, os := range o.Services {
		i, found := slices.BinarySearchFunc(s.Services, os.Name, func(a ServiceState, n string) int { return strings.Compare(a.Name, n) })
		if !found {
			s.Services = slices.Insert(s.Services, i, ServiceState{Name: os.Name})
		}
		s.Services[i].merge(&os, sameBuckets)
	}
}

func (s *ServiceState) merge(o *ServiceState, sameBuckets bool) {
	s.RouteSpills += o.RouteSpills
	for _, or := range o.Routes {
		i, found := slices.BinarySearchFunc(s.Routes, or.Route, func(a RouteState, n string) int { return strings.Compare(a.Route, n) })
		if !found {
			s.Routes = slices.Insert(s.Routes, i, RouteState{Route: or.Route})
		}
		r := &s.Routes[i]
		r.Availability.add(or.Availability)
		r.Latency.add(or.Latency)
		if !sameBuckets {
			continue
		}
		if r.Hist == nil {
			r.Hist = make([]uint64, len(or.Hist))
		}
		if len(r.Hist) == len(or.Hist) {
			for j, n := range or.Hist {
				r.Hist[j] += n
			}
			r.HistSumUs += or.HistSumUs
		}
	}
	for _, ol := range o.Slots {
		i, found := slices.BinarySearchFunc(s.Slots, ol, cmpSlot)
		if !found {
			s.Slots = slices.Insert(s.Slots, i, SlotState{Resolution: ol.Resolution, Start: ol.Start})
		}
		s.Slots[i].Availability.add(ol.Availability)
		s.Slots[i].Latency.add(ol.Latency)
	}
}

func cmpSlot(a, b SlotState) int {
	if a.Resolution != b.Resolution {
		return int(a.Resolution - b.Resolution)
	}
	switch {
	case a.Start < b.Start:
		return -1
	case a.Start > b.Start:
		return 1
	}
	return 0
}

// State returns a copy of the tracker's state.
func (t *Tracker) State() *State {
	st := &State{SavedAt: t.cfg.Now().UTC(), Buckets: slices.Clone(t.bounds), ServiceSpills: t.svcSpills.Load()}
	for _, s := range t.sortedServices() {
		st.Services = append(st.Services, s.state(st.SavedAt.Unix()))
	}
	return st
}

// routeStates copies the route counters, by route. The caller holds s.mu.
func (s *service) routeStates() []RouteState {
	out := make([]RouteState, 0, len(s.routes))
	for name, r := range s.routes {
		out = append(out, RouteState{
			Route:        name,
			Availability: r.avail,
			Latency:      r.lat,
			Hist:         slices.Clone(r.hist),
			HistSumUs:    r.histSumUs,
		})
	}
	slices.SortFunc(out, func(a, b RouteState) int { return strings.Compare(a.Route, b.Route) })
	return out
}

// state copies the service's state as of Unix second now. Folding the fine
// tier up to now first makes the result independent of when each entry
// arrived, so states of trackers that saw parts of a stream add up.
func (s *service) state(now int64) ServiceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceFine(now / fineRes)
	ss := ServiceState{Name: s.name, RouteSpills: s.spills, Routes: s.routeStates()}
	for ti := range s.rings {
		rg := &s.rings[ti]
		res := int64(tiers[ti].res / time.Second)
		n := int64(len(rg.avail))
		for e := max(rg.head-n+1, 0); e <= rg.head; e++ {
			sl := SlotState{Resolution: res, Start: e * res, Availability: rg.avail[e%n]}
			if rg.lat != nil {
				sl.Latency = rg.lat[e%n]
			}
			if sl.Availability != (Counts{}) || sl.Latency != (Counts{}) {
				ss.Slots = append(ss.Slots, sl)
			}
		}
	}
	return ss
}

// Add folds st into the tracker, as if it had seen st's observations too:
// the restore after a restart, and how a scale-out aggregator takes over
// another's state. Route and service caps apply as for Observe; slots of a
// resolution the tracker does not keep, older than its windows or in the
// future are dropped, and so are histograms with other buckets.
func (t *Tracker) Add(st *State) {
	sameBuckets := slices.Equal(st.Buckets, t.bounds)
	now := t.cfg.Now().Unix()
	t.svcSpills.Add(st.ServiceSpills)
	for i := range st.Services {
		ss := &st.Services[i]
		s := t.service(ss.Name)
		if s.name == OtherService && ss.Name != OtherService {
			for _, rs := range ss.Routes {
				t.svcSpills.Add(rs.Availability.Total)
			}
		}
		s.mu.Lock()
		s.spills += ss.RouteSpills
		for _, rs := range ss.Routes {
			r := s.route(rs.Route, t)
			r.avail.add(rs.Availability)
			if s.slos.Latency != nil {
				r.lat.add(rs.Latency)
			}
			if sameBuckets && len(rs.Hist) == len(r.hist) {
				for j, n := range rs.Hist {
					r.hist[j] += n
				}
				r.histSumUs += rs.HistSumUs
			}
		}
		for _, sl := range ss.Slots {
			for ti, tr := range tiers {
				res := int64(tr.res / time.Second)
				switch {
				case res != sl.Resolution || sl.Start%res != 0 || sl.Start > now || sl.Start < 0:
				case ti == 0:
					e := sl.Start / res
					s.addFine(e, int(e%int64(len(s.rings[0].avail))), sl.Availability, sl.Latency)
				default:
					s.rings[ti].add(sl.Start/res, sl.Availability, sl.Latency)
				}
			}
		}
		s.mu.Unlock()
	}
}

// stateFormat is the checkpoint format (package stateframe): a magic line
// with the version, the body's CRC-32C and length, then the State as JSON.
var stateFormat = stateframe.Format{Name: "sli", Version: 1, Corrupt: ErrCorrupt}

// ErrCorrupt is returned (wrapped) for a checkpoint that fails its checks.
var ErrCorrupt = errors.New("corrupt sli state")

// MarshalBinary encodes s in the checkpoint format.
func (s *State) MarshalBinary() ([]byte, error) { return stateFormat.Marshal(s) }

// UnmarshalBinary decodes the checkpoint format. Damage of any kind is an
// error wrapping ErrCorrupt.
func (s *State) UnmarshalBinary(data []byte) error {
	var st State
	if err := stateFormat.Unmarshal(data, &st); err != nil {
		return err
	}
	*s = st
	return nil
}

// statePath is where a Tracker with state directory dir checkpoints.
func statePath(dir string) string { return filepath.Join(dir, "sli", "state.v1") }

// ReadState reads the checkpoint a Tracker with state directory dir
// wrote. A missing file is an error wrapping fs.ErrNotExist; a damaged one
// wraps ErrCorrupt.
func ReadState(dir string) (*State, error) { return ReadStateFile(statePath(dir)) }

// ReadStateFile reads a checkpoint file.
func ReadStateFile(path string) (*State, error) {
	var s State
	if err := stateFormat.ReadFile(path, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// writeStateFile replaces path atomically: a crash leaves the old or the
// new checkpoint, never a mix.
func writeStateFile(path string, s *State) error { return stateFormat.WriteFile(path, s) }
