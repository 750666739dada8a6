package edges

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/outcome"
)

// testNow is the fixed clock of these tests.
var testNow = time.Date(2026, 11, 25, 12, 0, 30, 0, time.UTC)

// smallCatalog declares web → api, web → auth, api → db; batch declares
// nothing.
func smallCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("small.yaml", []byte(`
services:
  - http_service: web
    port: 8080
    healthcheck: /healthz
    upstreams: [api, auth]
    aliases: [web.default]
  - http_service: api
    port: 8081
    healthcheck: /ready
    upstreams: [db]
    aliases: [api.default]
  - http_service: auth
    port: 8082
  - tcp_service: db
    port: 5432
  - http_service: batch
    port: 8083
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTracker(t testing.TB, cfg Config) *Tracker {
	t.Helper()
	if cfg.Catalog == nil {
		cfg.Catalog = smallCatalog(t)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func call(src, dst string, status int, flags ...string) Observation {
	return Observation{Time: testNow.Add(-time.Second), Source: src, Destination: dst, Method: "GET", Path: "/x",
		Status: status, GRPCStatus: -1, ResponseFlags: flags, Duration: 20 * time.Millisecond}
}

func TestObserveClassifies(t *testing.T) {
	tests := []struct {
		name string
		o    Observation
		want outcome.Outcome
	}{
		{"200", call("web", "api", 200), outcome.Good},
		{"404 is the caller's", call("web", "api", 404), outcome.Good},
		{"503", call("web", "api", 503, "UF", "URX"), outcome.Bad},
		{"no status, connection failure", call("web", "api", 0, "UF"), outcome.Bad},
		{"no status, no healthy upstream", call("web", "api", 0, "UH"), outcome.Bad},
		{"gRPC UNAVAILABLE", func() Observation { o := call("web", "api", 200); o.GRPCStatus = 14; return o }(), outcome.Bad},
		{"caller went away", call("web", "api", 0, "DC"), outcome.Excluded},
		{"destination's health check", func() Observation { o := call("web", "api", 503); o.Path = "/ready?x=1"; return o }(), outcome.Excluded},
		{"not the source's health check", func() Observation { o := call("web", "api", 503); o.Path = "/healthz"; return o }(), outcome.Bad},
		{"intermediate", func() Observation { o := call("web", "api", 200); o.Intermediate = true; return o }(), outcome.Excluded},
		{"no destination", call("web", "", 200), outcome.Excluded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(t, Config{})
			if got := tr.Observe(&tt.o); got != tt.want {
				t.Fatalf("Observe = %v, want %v", got, tt.want)
			}
			st := tr.State()
			if tt.want == outcome.Excluded {
				if len(st.Edges) != 0 {
					t.Fatalf("excluded call counted: %+v", st.Edges)
				}
				return
			}
			if len(st.Edges) != 1 {
				t.Fatalf("%d edges, want 1", len(st.Edges))
			}
			e := st.Edges[0]
			wantErr := uint64(0)
			if tt.want == outcome.Bad {
				wantErr = 1
			}
			if e.Requests != 1 || e.Errors != wantErr {
				t.Errorf("requests %d errors %d, want 1 %d", e.Requests, e.Errors, wantErr)
			}
		})
	}
}

func TestObserveNamesAndHistogram(t *testing.T) {
	tr := newTracker(t, Config{})
	obs := []Observation{
		call("web.default", "api.default", 200), // aliases count as their service
		call("web", "api", 200),
		call("web", "httpbin", 200),      // outside the catalog
		call("legacy-cron", "auth", 500), // outside the catalog
		{Time: testNow, Source: "api", Destination: "db", TCP: true, Status: 0, GRPCStatus: -1, Duration: time.Hour},
	}
	for i := range obs {
		tr.Observe(&obs[i])
	}
	st := tr.State()
	var got []string
	for _, e := range st.Edges {
		got = append(got, fmt.Sprintf("%s→%s %d/%d", e.Source, e.Destination, e.Requests, e.Errors))
	}
	want := []string{"api→db 1/0", "other→auth 1/1", "web→api 2/0", "web→other 1/0"}
	if !slices.Equal(got, want) {
		t.Errorf("edges %v, want %v", got, want)
	}
	for _, e := range st.Edges {
		var n uint64
		for _, c := range e.Hist {
			n += c
		}
		switch {
		case e.Destination == "db" && n != 0:
			t.Errorf("TCP edge has %d durations in its histogram", n)
		case e.Destination != "db" && n != e.Requests:
			t.Errorf("%s→%s: %d durations for %d requests", e.Source, e.Destination, n, e.Requests)
		}
	}
	if web := st.Edges[2]; web.Hist[2] != 2 || web.HistSumUs != 40000 { // 20ms: the (10ms, 25ms] bucket
		t.Errorf("web→api histogram %v sum %dµs, want 2 in bucket 2, 40000µs", web.Hist, web.HistSumUs)
	}
}

// TestBound: whatever names the senders choose, nodes are the catalog's
// services and Other, and edges stay below (N+1)² and MaxEdges plus one
// (source, Other) per source.
func TestBound(t *testing.T) {
	cat := smallCatalog(t)
	names := []string{"web", "api", "auth", "db", "batch"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string {
		if rng.IntN(2) == 0 {
			return names[rng.IntN(len(names))]
		}
		return fmt.Sprintf("rogue-%d", rng.IntN(1e6))
	}
	unbounded := newTracker(t, Config{Catalog: cat})
	capped := newTracker(t, Config{Catalog: cat, MaxEdges: 10})
	for range 100000 {
		o := call(pick(), pick(), 200)
		unbounded.Observe(&o)
		capped.Observe(&o)
	}
	n := len(cat.Services) + 1
	st := unbounded.State()
	if len(st.Edges) > n*n {
		t.Errorf("%d edges, more than (N+1)² = %d", len(st.Edges), n*n)
	}
	for _, e := range st.Edges {
		for _, name := range []string{e.Source, e.Destination} {
			if name != Other && cat.Lookup(name) == nil {
				t.Fatalf("node %q is neither a catalog service nor %q", name, Other)
			}
		}
	}
	cs := capped.State()
	if len(cs.Edges) > 10+n {
		t.Errorf("capped tracker holds %d edges, more than MaxEdges 10 + %d sources", len(cs.Edges), n)
	}
	if cs.Spills == 0 {
		t.Error("no spills counted although the cap was reached")
	}
	var total, capTotal uint64
	for _, e := range st.Edges {
		total += e.Requests
	}
	for _, e := range cs.Edges {
		capTotal += e.Requests
	}
	if total != 100000 || capTotal != total {
		t.Errorf("requests counted: %d uncapped, %d capped, want 100000 both", total, capTotal)
	}
}

// workload makes n calls among the small catalog's services, some outside
// it, at times over the last twenty minutes.
func workload(seed uint64, n int) []Observation {
	rng := rand.New(rand.NewPCG(seed, 3))
	names := []string{"web", "api", "auth", "db", "batch", "web.default", "stranger"}
	var out []Observation
	for range n {
		o := call(names[rng.IntN(len(names))], names[rng.IntN(len(names))], []int{200, 200, 200, 404, 503, 0}[rng.IntN(6)])
		o.Time = testNow.Add(-time.Duration(rng.IntN(1200)) * time.Second)
		o.Duration = time.Duration(rng.IntN(3000)) * time.Millisecond
		if o.Status == 0 {
			o.ResponseFlags = []string{[]string{"UF", "DC", "UT"}[rng.IntN(3)]}
		}
		o.TCP = o.Destination == "db"
		out = append(out, o)
	}
	return out
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMergeEqualsAllInOne: trackers that each saw a part of the calls —
// split by source, as aggregators own partitions, or at random — merge
// (State.Merge, Tracker.Add, MergeReports) into exactly what one tracker
// that saw everything holds.
func TestMergeEqualsAllInOne(t *testing.T) {
	calls := workload(7, 20000)
	all := newTracker(t, Config{})
	for i := range calls {
		all.Observe(&calls[i])
	}
	want := all.State()
	for _, split := range []string{"by source", "at random"} {
		t.Run(split, func(t *testing.T) {
			parts := make([]*Tracker, 4)
			for i := range parts {
				parts[i] = newTracker(t, Config{})
			}
			for i := range calls {
				k := i % len(parts)
				if split == "by source" {
					k = len(calls[i].Source) % len(parts)
				}
				parts[k].Observe(&calls[i])
			}
			merged := &State{}
			added := newTracker(t, Config{})
			var reports []Report
			for _, p := range parts {
				merged.Merge(p.State())
				added.Add(p.State())
				reports = append(reports, p.Snapshot())
			}
			if got := jsonOf(t, merged); got != jsonOf(t, want) {
				t.Errorf("merged state differs from the all-in-one:\n got %s\nwant %s", got, jsonOf(t, want))
			}
			if got := jsonOf(t, added.State()); got != jsonOf(t, want) {
				t.Errorf("state after Add differs from the all-in-one:\n got %s\nwant %s", got, jsonOf(t, want))
			}
			if got, w := jsonOf(t, MergeReports(reports...)), jsonOf(t, all.Snapshot()); got != w {
				t.Errorf("merged reports differ from the all-in-one report:\n got %s\nwant %s", got, w)
			}
		})
	}
}

// TestRecentWindow: the recent counts cover the current minute and the
// RecentMinutes before it; older calls count only cumulatively.
func TestRecentWindow(t *testing.T) {
	clock := testNow.Add(-time.Hour)
	tr := newTracker(t, Config{Now: func() time.Time { return clock }})
	at := func(ago time.Duration, status int) {
		o := call("web", "api", status)
		o.Time = testNow.Add(-ago)
		tr.Observe(&o)
	}
	clock = testNow
	at(20*time.Minute, 503) // too old for the window
	at(5*time.Minute, 200)  // minute 11:55, the oldest in it
	at(90*time.Second, 503) // 11:59
	at(10*time.Second, 200) // 12:00, the current minute
	at(6*time.Minute, 200)  // 11:54: late and outside
	r := tr.Snapshot()
	e := r.Edges[0]
	if e.Requests != 5 || e.Errors != 2 {
		t.Fatalf("cumulative %d/%d, want 5/2", e.Requests, e.Errors)
	}
	if e.RecentRequests != 3 || e.RecentErrors != 1 {
		t.Errorf("recent %d/%d, want 3/1", e.RecentRequests, e.RecentErrors)
	}
	// The window starts at 11:55:00; counting began an hour before.
	if r.RecentSeconds != 330 || e.RequestsPerSecond != round9(3.0/330) {
		t.Errorf("recent seconds %v rate %v, want 330 and 3/330", r.RecentSeconds, e.RequestsPerSecond)
	}
	// Ten minutes on, nothing is recent any more.
	clock = testNow.Add(10 * time.Minute)
	if e := tr.Snapshot().Edges[0]; e.RecentRequests != 0 || e.RequestsPerSecond != 0 {
		t.Errorf("ten minutes later: recent %d, rate %v, want 0", e.RecentRequests, e.RequestsPerSecond)
	}
}
