package edges

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/meshtel/meshtel/catalog"
)

// Report is the /api/dependencies document (SPEC §8).
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Since is when counting began; Unused means no call since then.
	Since time.Time `json:"since"`
	// RecentSeconds is the span the edges' recent counts and rates cover:
	// the current minute and RecentMinutes before it, or less when
	// counting began later.
	RecentSeconds float64 `json:"recent_seconds"`
	// BucketsMs are the upper bounds of the edges' Histogram, in
	// milliseconds; the histograms have one more bucket, +Inf.
	BucketsMs  []float64 `json:"buckets_ms"`
	Edges      []Edge    `json:"edges"`      // by source, then destination
	Undeclared []Pair    `json:"undeclared"` // observed, not in the source's upstreams
	Unused     []Pair    `json:"unused"`     // declared, not observed since Since
}

// Edge is one observed (source, destination) with its calls since Since.
type Edge struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Requests    uint64 `json:"requests"`
	Errors      uint64 `json:"errors"`
	// ErrorRatio is Errors/Requests.
	ErrorRatio float64 `json:"error_ratio"`
	// P99Ms is the 99th percentile latency estimated from Histogram as
	// PromQL's histogram_quantile would; null for TCP edges.
	P99Ms *float64 `json:"p99_ms"`
	// Declared is true when the destination is in the source's catalog
	// upstreams.
	Declared  bool      `json:"declared"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// RecentRequests and RecentErrors count the calls of the last
	// Report.RecentSeconds; RequestsPerSecond is their rate.
	RecentRequests    uint64  `json:"recent_requests"`
	RecentErrors      uint64  `json:"recent_errors"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Histogram counts calls per bucket of Report.BucketsMs plus +Inf (not
	// cumulative), so reports of several instances merge exactly.
	Histogram []uint64 `json:"histogram,omitempty"`
}

// RecentErrorRatio is RecentErrors/RecentRequests, 0 without recent calls.
func (e Edge) RecentErrorRatio() float64 {
	if e.RecentRequests == 0 {
		return 0
	}
	return float64(e.RecentErrors) / float64(e.RecentRequests)
}

// Pair names an edge.
type Pair struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// Snapshot returns the current /api/dependencies document.
func (t *Tracker) Snapshot() Report {
	return NewReport(t.State(), t.cfg.Catalog)
}

// NewReport is the document of st as of st.SavedAt, with declarations
// from cat.
func NewReport(st *State, cat *catalog.Catalog) Report {
	now := st.SavedAt
	r := Report{GeneratedAt: now.UTC(), Since: st.Since.UTC(), Edges: []Edge{}}
	for _, b := range st.Buckets {
		r.BucketsMs = append(r.BucketsMs, float64(b)/float64(time.Millisecond))
	}
	r.RecentSeconds = recentSeconds(now, st.Since)
	for _, es := range st.Edges {
		e := Edge{
			Source: es.Source, Destination: es.Destination, Requests: es.Requests, Errors: es.Errors,
			Declared:  declared(cat, es.Source, es.Destination),
			FirstSeen: time.Unix(es.FirstSeen, 0).UTC(), LastSeen: time.Unix(es.LastSeen, 0).UTC(),
			Histogram: slices.Clone(es.Hist),
		}
		for _, s := range es.Recent {
			e.RecentRequests += s.Requests
			e.RecentErrors += s.Errors
		}
		r.Edges = append(r.Edges, e.derive(r.BucketsMs, r.RecentSeconds))
	}
	r.declarations(cat)
	return r
}

// recentSeconds is the span of the recent window at now: back to the start
// of the minute RecentMinutes before the current one, or to since.
func recentSeconds(now, since time.Time) float64 {
	start := (now.Unix()/slotSeconds - RecentMinutes) * slotSeconds
	d := now.Sub(time.Unix(start, 0))
	if !since.IsZero() && since.After(time.Unix(start, 0)) {
		d = now.Sub(since)
	}
	return math.Max(math.Round(d.Seconds()*1000)/1000, 1)
}

// derive fills the ratios, the p99 and the rate from the counts.
func (e Edge) derive(bucketsMs []float64, recent float64) Edge {
	e.ErrorRatio = 0
	if e.Requests > 0 {
		e.ErrorRatio = round9(float64(e.Errors) / float64(e.Requests))
	}
	e.P99Ms = quantile(0.99, e.Histogram, bucketsMs)
	e.RequestsPerSecond = round9(float64(e.RecentRequests) / recent)
	return e
}

func declared(cat *catalog.Catalog, source, destination string) bool {
	if s := cat.Lookup(source); s != nil {
		return slices.Contains(s.Upstreams, destination)
	}
	return false
}

// declarations fills Undeclared from the edges and Unused from the
// catalog's upstreams that no edge covers.
func (r *Report) declarations(cat *catalog.Catalog) {
	r.Undeclared, r.Unused = []Pair{}, []Pair{}
	seen := make(map[Pair]bool, len(r.Edges))
	for _, e := range r.Edges {
		p := Pair{e.Source, e.Destination}
		seen[p] = true
		if !e.Declared {
			r.Undeclared = append(r.Undeclared, p)
		}
	}
	for _, s := range cat.Services {
		for _, u := range s.Upstreams {
			if p := (Pair{s.Name, u}); !seen[p] {
				r.Unused = append(r.Unused, p)
			}
		}
	}
	slices.SortFunc(r.Unused, cmpPair)
}

func cmpPair(a, b Pair) int {
	return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Destination, b.Destination))
}

// quantile estimates the q-quantile in milliseconds from per-bucket counts
// (the last one +Inf) by linear interpolation inside the bucket, as
// PromQL's histogram_quantile does; in the +Inf bucket it answers the
// highest finite bound. Nil without counts.
func quantile(q float64, hist []uint64, boundsMs []float64) *float64 {
	if len(hist) != len(boundsMs)+1 || len(boundsMs) == 0 {
		return nil
	}
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return nil
	}
	rank := q * float64(total)
	var seen uint64
	for i, n := range hist {
		if n == 0 || float64(seen+n) < rank {
			seen += n
			continue
		}
		v := boundsMs[len(boundsMs)-1]
		if i < len(boundsMs) {
			lo := 0.0
			if i > 0 {
				lo = boundsMs[i-1]
			}
			v = lo + (rank-float64(seen))/float64(n)*(boundsMs[i]-lo)
		}
		v = math.Round(v*1000) / 1000
		return &v
	}
	return nil
}

// round9 drops float noise, so that merged and single reports print alike.
func round9(x float64) float64 { return math.Round(x*1e9) / 1e9 }

// MergeReports combines reports of instances that saw disjoint parts of the
// traffic (aggregators owning different partitions) into the report one
// instance seeing all of it would give: counts and histograms of the same
// edge add up and their ratios are recomputed; Since is the earliest;
// Unused keeps the declarations no merged edge covers.
func MergeReports(rs ...Report) Report {
	out := Report{Edges: []Edge{}, Undeclared: []Pair{}, Unused: []Pair{}}
	idx := map[Pair]int{}
	unused := map[Pair]bool{}
	for _, r := range rs {
		if r.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = r.GeneratedAt
		}
		if !r.Since.IsZero() && (out.Since.IsZero() || r.Since.Before(out.Since)) {
			out.Since = r.Since
		}
		out.RecentSeconds = max(out.RecentSeconds, r.RecentSeconds)
		sameBuckets := slices.Equal(out.BucketsMs, r.BucketsMs)
		if out.BucketsMs == nil {
			out.BucketsMs, sameBuckets = slices.Clone(r.BucketsMs), true
		}
		for _, p := range r.Unused {
			unused[p] = true
		}
		for _, e := range r.Edges {
			out.addEdge(idx, e, sameBuckets)
		}
	}
	for i, e := range out.Edges {
		out.Edges[i] = e.derive(out.BucketsMs, max(out.RecentSeconds, 1))
		if !e.Declared {
			out.Undeclared = append(out.Undeclared, Pair{e.Source, e.Destination})
		}
	}
	for p := range unused {
		if _, seen := idx[p]; !seen {
			out.Unused = append(out.Unused, p)
		}
	}
	slices.SortFunc(out.Edges, func(a, b Edge) int { return cmpPair(Pair{a.Source, a.Destination}, Pair{b.Source, b.Destination}) })
	slices.SortFunc(out.Undeclared, cmpPair)
	slices.SortFunc(out.Unused, cmpPair)
	return out
}

// addEdge adds e's counts to the edge it names in r, found through idx.
func (r *Report) addEdge(idx map[Pair]int, e Edge, sameBuckets bool) {
	p := Pair{e.Source, e.Destination}
	i, ok := idx[p]
	if !ok {
		idx[p] = len(r.Edges)
		e.Histogram = slices.Clone(e.Histogram)
		if !sameBuckets {
			e.Histogram = nil
		}
		r.Edges = append(r.Edges, e)
		return
	}
	m := &r.Edges[i]
	m.Requests += e.Requests
	m.Errors += e.Errors
	m.RecentRequests += e.RecentRequests
	m.RecentErrors += e.RecentErrors
	m.Declared = m.Declared || e.Declared
	if e.FirstSeen.Before(m.FirstSeen) {
		m.FirstSeen = e.FirstSeen
	}
	if e.LastSeen.After(m.LastSeen) {
		m.LastSeen = e.LastSeen
	}
	if sameBuckets && len(m.Histogram) == len(e.Histogram) {
		for j, n := range e.Histogram {
			m.Histogram[j] += n
		}
	} else {
		m.Histogram = nil
	}
}
