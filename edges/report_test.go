package edges

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// smallMesh feeds the small catalog's mesh: web calls api (declared, a
// few errors) and batch (undeclared), api calls db (declared, TCP), batch
// calls a service outside the catalog; web → auth is declared and never
// called.
func smallMesh(t testing.TB) *Tracker {
	t.Helper()
	clock := testNow.Add(-time.Hour) // counting began an hour ago
	tr := newTracker(t, Config{Now: func() time.Time { return clock }})
	clock = testNow
	for i := range 1000 {
		status := 200
		if i%100 == 0 {
			status = 503
		}
		o := call("web", "api", status)
		o.Duration = time.Duration(5+i%200) * time.Millisecond
		tr.Observe(&o)
		if i%10 == 0 {
			o = call("web", "batch", 200)
			tr.Observe(&o)
			o = Observation{Time: testNow, Source: "api", Destination: "db", TCP: true, GRPCStatus: -1, Duration: time.Minute}
			tr.Observe(&o)
			o = call("batch", "s3.amazonaws.com", 200)
			tr.Observe(&o)
		}
	}
	return tr
}

func TestDeclarations(t *testing.T) {
	r := smallMesh(t).Snapshot()
	declared := map[Pair]bool{}
	for _, e := range r.Edges {
		declared[Pair{e.Source, e.Destination}] = e.Declared
	}
	wantDeclared := map[Pair]bool{{"web", "api"}: true, {"web", "batch"}: false, {"api", "db"}: true, {"batch", Other}: false}
	if !mapsEqual(declared, wantDeclared) {
		t.Errorf("declared %v, want %v", declared, wantDeclared)
	}
	if want := []Pair{{"batch", Other}, {"web", "batch"}}; !slices.Equal(r.Undeclared, want) {
		t.Errorf("undeclared %v, want %v", r.Undeclared, want)
	}
	if want := []Pair{{"web", "auth"}}; !slices.Equal(r.Unused, want) {
		t.Errorf("unused %v, want %v", r.Unused, want)
	}
	for _, e := range r.Edges {
		switch {
		case e.Destination == "db" && e.P99Ms != nil:
			t.Errorf("TCP edge api→db has p99 %v", *e.P99Ms)
		case e.Source == "web" && e.Destination == "api":
			// 1% of 1000 are 503: error ratio 0.01; durations 5–204ms, so
			// p99 lies in the (100ms, 250ms] bucket.
			if e.ErrorRatio != 0.01 || e.P99Ms == nil || *e.P99Ms <= 100 || *e.P99Ms > 250 {
				t.Errorf("web→api ratio %v p99 %v", e.ErrorRatio, e.P99Ms)
			}
		}
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestReportFormats compares each format with its golden file (-update
// rewrites them).
func TestReportFormats(t *testing.T) {
	r := smallMesh(t).Snapshot()
	for _, format := range []string{FormatJSON, FormatMarkdown, FormatDOT} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteReport(&b, r, format); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "report.golden."+format)
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs from %s (go test -update to accept):\n%s", format, golden, b.String())
			}
		})
	}
	if err := WriteReport(io.Discard, r, "yaml"); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Errorf("unknown format: err %v", err)
	}
	var back Report
	var b bytes.Buffer
	_ = WriteReport(&b, r, FormatJSON)
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || jsonOf(t, back) != jsonOf(t, r) {
		t.Errorf("the JSON report does not read back: %v", err)
	}
}

// dotBin returns Graphviz's dot; tests skip without it, except on CI.
func dotBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dot")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dot not found and CI=true: install Debian's graphviz package")
		}
		t.Skip("dot not found (install Debian's graphviz package); skipping")
	}
	return p
}

// TestDOTRendersWithGraphviz renders the DOT report with Graphviz's dot
// -Tsvg and checks the SVG has every service and every edge, the
// undeclared one dashed.
func TestDOTRendersWithGraphviz(t *testing.T) {
	bin := dotBin(t)
	tr := smallMesh(t)
	o := call(`we"ird\name`, "api", 200) // collapses to other, but quoting must hold anyway
	tr.Observe(&o)
	var b bytes.Buffer
	if err := WriteReport(&b, tr.Snapshot(), FormatDOT); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-Tsvg")
	cmd.Stdin = &b
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	svg, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
	}
	var doc struct {
		Groups []struct {
			Groups []struct {
				Class string `xml:"class,attr"`
				Title string `xml:"title"`
				Paths []struct {
					Dash string `xml:"stroke-dasharray,attr"`
				} `xml:"path"`
			} `xml:"g"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("dot's SVG does not parse: %v", err)
	}
	nodes, edges := map[string]bool{}, map[string]bool{}
	for _, g := range doc.Groups {
		for _, x := range g.Groups {
			switch x.Class {
			case "node":
				nodes[x.Title] = true
			case "edge":
				edges[x.Title] = len(x.Paths) > 0 && x.Paths[0].Dash != ""
			}
		}
	}
	for _, n := range []string{"web", "api", "auth", "db", "batch", Other} {
		if !nodes[n] {
			t.Errorf("node %s missing from the SVG (nodes %v)", n, nodes)
		}
	}
	wantDashed := map[string]bool{"web->api": false, "web->batch": true, "api->db": false, "batch->other": true, "web->auth": true, "other->api": true}
	if !mapsEqual(edges, wantDashed) {
		t.Errorf("edges (dashed?) %v, want %v", edges, wantDashed)
	}
}

func TestHandler(t *testing.T) {
	h := smallMesh(t).Handler()
	for format, ctype := range ContentType {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/dependencies?format="+format, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ctype {
			t.Errorf("%s: %d %q", format, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/dependencies", nil))
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || len(r.Edges) != 4 {
		t.Errorf("default format: %v, %d edges", err, len(r.Edges))
	}
	for _, tc := range []struct {
		method, query string
		code          int
	}{{http.MethodGet, "?format=svg", http.StatusBadRequest}, {http.MethodPost, "", http.StatusMethodNotAllowed}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/api/dependencies"+tc.query, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.query, rec.Code, rec.Body.String())
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	tr := newTracker(t, Config{Registerer: reg})
	for _, o := range []Observation{call("web", "api", 200), call("web", "api", 503), call("web", "api", 200)} {
		tr.Observe(&o)
	}
	want := `
# HELP mesh_edge_errors_total Bad outbound calls (SPEC §3 availability) from source to destination, as the source saw them.
# TYPE mesh_edge_errors_total counter
mesh_edge_errors_total{destination="api",source="web"} 1
# HELP mesh_edge_requests_total Outbound calls the source's sidecar logged to the destination, classified by SPEC §3 (excluded ones not counted).
# TYPE mesh_edge_requests_total counter
mesh_edge_requests_total{destination="api",source="web"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricRequests, MetricErrors); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, MetricDuration); err != nil || n != 1 {
		t.Errorf("%s: %d series, %v", MetricDuration, n, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == MetricDuration {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 3 || h.GetSampleSum() != 0.06 {
				t.Errorf("histogram count %d sum %v, want 3 and 0.06", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}

// TestCheckpoint: the state survives a restart through the state
// directory, and a damaged checkpoint is set aside, not trusted.
func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	early := testNow.Add(-48 * time.Hour)
	first := newTracker(t, Config{StateDir: dir, Logger: quiet, Now: func() time.Time { return early }})
	calls := workload(3, 500)
	for i := range calls {
		first.Observe(&calls[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := first.Run(ctx); err != nil { // a cancelled Run still checkpoints once
		t.Fatal(err)
	}
	second := newTracker(t, Config{StateDir: dir, Logger: quiet, Now: func() time.Time { return early }})
	if got, want := jsonOf(t, second.State()), jsonOf(t, first.State()); got != want {
		t.Errorf("restored state differs:\n got %s\nwant %s", got, want)
	}
	if got := second.Snapshot().Since; !got.Equal(early) {
		t.Errorf("since %v after restore, want the first start %v", got, early)
	}

	path := filepath.Join(dir, "edges", "state.v1")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-3] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadState of a damaged file: %v, want ErrCorrupt", err)
	}
	reg := prometheus.NewRegistry()
	third := newTracker(t, Config{StateDir: dir, Logger: quiet, Registerer: reg})
	if n := len(third.State().Edges); n != 0 {
		t.Errorf("%d edges restored from a corrupt checkpoint", n)
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Errorf("corrupt checkpoint not set aside: %v", err)
	}
	if v := testutil.ToFloat64(third.metrics.checkpointCorrupt); v != 1 {
		t.Errorf("%s = %v, want 1", metricCkptCorrupt, v)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); err != nil {
		t.Errorf("Close did not write a fresh checkpoint: %v", err)
	}
}

func TestUnmarshalCorrupt(t *testing.T) {
	good, err := smallMesh(t).State().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("not a state\n"),
		"truncated": good[:len(good)-10],
		"appended":  append(slices.Clone(good), 'x'),
		"header":    bytes.Replace(good, []byte("crc32c="), []byte("crc32x="), 1),
	} {
		var s State
		if err := s.UnmarshalBinary(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	var s State
	if err := s.UnmarshalBinary(bytes.Replace(good, []byte("state v1"), []byte("state v9"), 1)); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("future version: %v, want a version error", err)
	}
}

func FuzzUnmarshalState(f *testing.F) {
	good, err := smallMesh(f).State().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("meshtel-edges-state v" + "1\ncrc32c=00000000 bytes=2\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever decodes must fold into a tracker without panicking
		// and stay within its bound.
		tr := newTracker(t, Config{MaxEdges: 50})
		tr.Add(&s)
		if n := len(tr.State().Edges); n > 50+6 {
			t.Fatalf("%d edges after Add, above the bound", n)
		}
	})
}
