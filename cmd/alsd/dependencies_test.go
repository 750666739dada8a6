package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/envoysim"
)

// depsCatalog: web declares api and auth; api declares db.
const depsCatalog = `
services:
  - http_service: web
    port: 18080
    upstreams: [api, auth]
  - http_service: api
    port: 18081
    upstreams: [db]
  - http_service: auth
    port: 18082
  - tcp_service: db
    port: 15432
`

func writeDepsCatalog(t *testing.T) (string, *catalog.Catalog) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(depsCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cat
}

func depsReport(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"report", "dependencies"}, args...), &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

// TestDependenciesEndToEnd runs alsd with a catalog, drives it with the
// simulated Envoys (whose sidecars log outbound calls to their declared
// upstreams, and one undeclared one), and reads the edges from /api/dependencies, /metrics and,
// after a clean stop, `alsd report dependencies --state-dir` in every
// format, the DOT one through Graphviz.
func TestDependenciesEndToEnd(t *testing.T) {
	catPath, cat := writeDepsCatalog(t)
	state := t.TempDir()
	p := startAlsd(t, "--catalog", catPath, "--state-dir", state)
	sim, err := envoysim.New(envoysim.Config{Target: p.als, Catalog: cat, Sidecars: 1, Streams: 1, Total: 4000, Seed: 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sim.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var live edges.Report
	waitUntil(t, 10*time.Second, "edges of both declaring services", func() bool {
		_, body := p.get(t, "/api/dependencies")
		live = edges.Report{}
		if json.Unmarshal([]byte(body), &live) != nil {
			return false
		}
		seen := map[string]bool{}
		for _, e := range live.Edges {
			seen[e.Source] = e.Requests > 0
		}
		return seen["web"] && seen["api"]
	}, stringer(p.log))
	// The simulated mesh's first caller, web, also calls the first service
	// it does not declare: db.
	if want := []edges.Pair{{Source: "web", Destination: "db"}}; !slices.Equal(live.Undeclared, want) {
		t.Errorf("undeclared %v, want %v", live.Undeclared, want)
	}
	if code, body := p.get(t, "/metrics"); code != 200 || !strings.Contains(body, `mesh_edge_requests_total{destination="api",source="web"}`) {
		t.Errorf("/metrics lacks the web → api edge")
	}
	if code, body := p.get(t, "/api/dependencies?format=dot"); code != 200 || !strings.HasPrefix(body, "digraph") {
		t.Errorf("/api/dependencies?format=dot = %d %.40q", code, body)
	}
	p.stop(t, syscall.SIGTERM)

	code, out, stderr := depsReport(t, "--state-dir", state, "--catalog", catPath, "--format", "json")
	var saved edges.Report
	if code != exitOK || json.Unmarshal([]byte(out), &saved) != nil {
		t.Fatalf("report --state-dir: exit %d\n%s", code, stderr)
	}
	if got, want := pairsOf(saved), pairsOf(live); got != want {
		t.Errorf("edges from the checkpoint %s, live %s", got, want)
	}
	if code, out, _ := depsReport(t, "--state-dir", state, "--catalog", catPath); code != exitOK || !strings.Contains(out, "| web ") {
		t.Errorf("md report: exit %d\n%s", code, out)
	}
	code, out, _ = depsReport(t, "--state-dir", state, "--catalog", catPath, "--format", "dot")
	if code != exitOK {
		t.Fatalf("dot report: exit %d", code)
	}
	renderDOT(t, out)
}

func pairsOf(r edges.Report) string {
	var b strings.Builder
	for _, e := range r.Edges {
		b.WriteString(e.Source + "→" + e.Destination + " ")
	}
	return b.String()
}

type stringer func() string

func (s stringer) String() string { return s() }

// renderDOT runs Graphviz's dot -Tsvg on src; it skips without dot,
// except on CI.
func renderDOT(t *testing.T, src string) {
	t.Helper()
	bin, err := exec.LookPath("dot")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dot not found and CI=true: install Debian's graphviz package")
		}
		t.Skip("dot not found (install Debian's graphviz package)")
	}
	cmd := exec.Command(bin, "-Tsvg")
	cmd.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	svg, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("dot -Tsvg: %v\n%s\n%s", err, stderr.String(), src)
	}
}

// TestReportDependenciesMerged: `alsd report dependencies --admin A,B`
// merges the instances' documents as one instance seeing everything would
// answer.
func TestReportDependenciesMerged(t *testing.T) {
	_, cat := writeDepsCatalog(t)
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	all, _ := edges.New(edges.Config{Catalog: cat, Now: now})
	var servers []string
	for _, calls := range [][]edges.Observation{
		{{Source: "web", Destination: "api", Status: 200, GRPCStatus: -1}, {Source: "web", Destination: "api", Status: 503, GRPCStatus: -1}},
		{{Source: "api", Destination: "db", TCP: true, GRPCStatus: -1}, {Source: "api", Destination: "web", Status: 200, GRPCStatus: -1}},
	} {
		one, _ := edges.New(edges.Config{Catalog: cat, Now: now})
		for i := range calls {
			one.Observe(&calls[i])
			all.Observe(&calls[i])
		}
		srv := httptest.NewServer(one.Handler())
		defer srv.Close()
		servers = append(servers, srv.URL)
	}
	code, out, stderr := depsReport(t, "--admin", strings.Join(servers, ","), "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got edges.Report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if g, w := jsonString(t, got), jsonString(t, all.Snapshot()); g != w {
		t.Errorf("merged report differs from the all-in-one:\n got %s\nwant %s", g, w)
	}
	if len(got.Undeclared) != 1 || got.Undeclared[0] != (edges.Pair{Source: "api", Destination: "web"}) ||
		len(got.Unused) != 1 || got.Unused[0] != (edges.Pair{Source: "web", Destination: "auth"}) {
		t.Errorf("undeclared %v unused %v", got.Undeclared, got.Unused)
	}
	if code, _, stderr := depsReport(t, "--admin", servers[0], "--format", "csv"); code != exitUsage || !strings.Contains(stderr, "--format") {
		t.Errorf("csv: exit %d %s, want a usage error naming --format", code, stderr)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
