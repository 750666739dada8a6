package edges

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshtel/meshtel/internal/stateframe"
)

// State is the mergeable content of a Tracker. States of trackers that saw
// disjoint parts of one stream add up (Merge) to the state of a tracker
// that saw all of it; Tracker.Add folds a State into a live tracker. Its
// binary form (MarshalBinary) is the checkpoint file format.
type State struct {
	SavedAt time.Time `json:"saved_at"`
	// Since is when counting began: the earliest of the merged states'.
	Since time.Time `json:"since"`
	// Buckets are the histogram upper bounds the edges' Hist counts use.
	Buckets []time.Duration `json:"buckets_ns"`
	// Spills counts calls counted under (source, Other) because of
	// Config.MaxEdges.
	Spills uint64      `json:"spills,omitempty"`
	Edges  []EdgeState `json:"edges"` // by source, then destination
}

// EdgeState holds the counters of one (source, destination).
type EdgeState struct {
	Source      string      `json:"source"`
	Destination string      `json:"destination"`
	Requests    uint64      `json:"requests"`
	Errors      uint64      `json:"errors"`
	Hist        []uint64    `json:"hist"`        // per bucket of State.Buckets plus +Inf, not cumulative
	HistSumUs   uint64      `json:"hist_sum_us"` // sum of durations, microseconds
	FirstSeen   int64       `json:"first_seen_s"`
	LastSeen    int64       `json:"last_seen_s"`
	Recent      []SlotState `json:"recent,omitempty"` // non-empty minutes of the recent window, by start
}

// SlotState is one minute of an edge's recent window.
type SlotState struct {
	Start    int64  `json:"start_s"` // Unix second the minute starts at
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
}

func cmpEdge(a, b EdgeState) int {
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return strings.Compare(a.Destination, b.Destination)
}

// Merge adds o into s. Histograms recorded with other buckets than s's
// cannot be added and are left out.
func (s *State) Merge(o *State) {
	if o.SavedAt.After(s.SavedAt) {
		s.SavedAt = o.SavedAt
	}
	if !o.Since.IsZero() && (s.Since.IsZero() || o.Since.Before(s.Since)) {
		s.Since = o.Since
	}
	sameBuckets := slices.Equal(s.Buckets, o.Buckets)
	if len(s.Edges) == 0 && len(s.Buckets) == 0 {
		s.Buckets, sameBuckets = slices.Clone(o.Buckets), true
	}
	s.Spills += o.Spills
	for _, oe := range o.Edges {
		i, found := slices.BinarySearchFunc(s.Edges, oe, cmpEdge)
		if !found {
			s.Edges = slices.Insert(s.Edges, i, EdgeState{Source: oe.Source, Destination: oe.Destination, FirstSeen: oe.FirstSeen})
		}
		s.Edges[i].merge(&oe, sameBuckets)
	}
}

func (e *EdgeState) merge(o *EdgeState, sameBuckets bool) {
	e.Requests += o.Requests
	e.Errors += o.Errors
	e.FirstSeen = min(e.FirstSeen, o.FirstSeen)
	e.LastSeen = max(e.LastSeen, o.LastSeen)
	if sameBuckets {
		if e.Hist == nil {
			e.Hist = make([]uint64, len(o.Hist))
		}
		if len(e.Hist) == len(o.Hist) {
			for j, n := range o.Hist {
				e.Hist[j] += n
			}
			e.HistSumUs += o.HistSumUs
		}
	}
	for _, os := range o.Recent {
		i, found := slices.BinarySearchFunc(e.Recent, os.Start, func(a SlotState, start int64) int {
			return int(a.Start - start)
		})
		if !found {
			e.Recent = slices.Insert(e.Recent, i, SlotState{Start: os.Start})
		}
		e.Recent[i].Requests += os.Requests
		e.Recent[i].Errors += os.Errors
	}
}

// State returns a copy of the tracker's state.
func (t *Tracker) State() *State {
	now := t.cfg.Now()
	st := &State{
		SavedAt: now.UTC(), Since: time.Unix(0, t.since.Load()).UTC(),
		Buckets: slices.Clone(Buckets), Spills: t.spills.Load(), Edges: []EdgeState{},
	}
	oldest := now.Unix()/slotSeconds - RecentMinutes
	for _, n := range t.sortedNodes() {
		n.mu.Lock()
		for dst, e := range n.out {
			st.Edges = append(st.Edges, e.state(n.name, dst, oldest))
		}
		n.mu.Unlock()
	}
	slices.SortFunc(st.Edges, cmpEdge)
	return st
}

// state copies e, with the minutes of its recent window from oldest on.
// Leaving older ones out makes the result independent of when each call
// arrived, so states of trackers that saw parts of a stream add up.
func (e *edge) state(src, dst string, oldest int64) EdgeState {
	es := EdgeState{
		Source: src, Destination: dst, Requests: e.requests, Errors: e.errors,
		Hist: slices.Clone(e.hist[:]), HistSumUs: e.histSumUs, FirstSeen: e.first, LastSeen: e.last,
	}
	for _, s := range e.recent {
		if s.minute >= oldest && (s.requests > 0 || s.errors > 0) {
			es.Recent = append(es.Recent, SlotState{Start: s.minute * slotSeconds, Requests: s.requests, Errors: s.errors})
		}
	}
	slices.SortFunc(es.Recent, func(a, b SlotState) int { return int(a.Start - b.Start) })
	return es
}

// Add folds st into the tracker, as if it had seen st's calls too: the
// restore after a restart, and how a scale-out aggregator combines
// partitions. Names are counted under the tracker's own catalog (Other for
// those it does not list) and MaxEdges applies as for Observe; minutes
// outside the recent window and histograms with other buckets are dropped.
func (t *Tracker) Add(st *State) {
	if !st.Since.IsZero() {
		since := st.Since.UnixNano()
		for {
			cur := t.since.Load()
			if since >= cur || t.since.CompareAndSwap(cur, since) {
				break
			}
		}
	}
	sameBuckets := slices.Equal(st.Buckets, Buckets)
	t.spills.Add(st.Spills)
	now := t.cfg.Now().Unix()
	oldest := now/slotSeconds - RecentMinutes
	for i := range st.Edges {
		es := &st.Edges[i]
		src, _ := t.name(es.Source)
		dst, _ := t.name(es.Destination)
		n := t.node(src)
		n.mu.Lock()
		e := n.edge(dst, t)
		e.requests += es.Requests
		e.errors += es.Errors
		if sameBuckets && len(es.Hist) == len(e.hist) {
			for j, c := range es.Hist {
				e.hist[j] += c
			}
			e.histSumUs += es.HistSumUs
		}
		e.seen(es.FirstSeen, es.LastSeen)
		for _, s := range es.Recent {
			if m := s.Start / slotSeconds; s.Start%slotSeconds == 0 && m >= oldest && s.Start <= now {
				e.addRecent(m, s.Requests, s.Errors)
			}
		}
		n.mu.Unlock()
	}
}

// stateFormat is the checkpoint format (package stateframe): a magic line
// with the version, the body's CRC-32C and length, then the State as JSON.
var stateFormat = stateframe.Format{Name: "edges", Version: 1, Corrupt: ErrCorrupt}

// ErrCorrupt is returned (wrapped) for a checkpoint that fails its checks.
var ErrCorrupt = errors.New("corrupt edges state")

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
func statePath(dir string) string { return filepath.Join(dir, "edges", "state.v1") }

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
