package webui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// drawnNode is a node of a /graph page: status, link and the rect's
// position.
type drawnNode struct {
	status, link string
	x, y         float64
}

// drawnNodes returns the nodes of a /graph page by service.
func drawnNodes(t *testing.T, doc *html.Node) map[string]drawnNode {
	t.Helper()
	out := map[string]drawnNode{}
	for _, g := range find(doc, "g", "node") {
		n := drawnNode{status: attr(g, "data-status")}
		if p := g.Parent; p != nil && p.Data == "a" {
			n.link = attr(p, "href")
		}
		rect := find(g, "rect", "")
		if len(rect) != 1 {
			t.Fatalf("node %s has %d rects", attr(g, "data-service"), len(rect))
		}
		n.x, _ = strconv.ParseFloat(attr(rect[0], "x"), 64)
		n.y, _ = strconv.ParseFloat(attr(rect[0], "y"), 64)
		out[attr(g, "data-service")] = n
	}
	return out
}

func TestGraphPage(t *testing.T) {
	f := newFixture(t, true)
	_, _, body := get(t, f.ui.Handler(), "/graph")
	doc := parseHTML(t, body)
	nodes := drawnNodes(t, doc)
	if len(nodes) != len(f.cat.Services)+1 {
		t.Errorf("%d nodes, want the catalog's %d services and other", len(nodes), len(f.cat.Services))
	}
	for name, want := range map[string]string{"my_website": statusBurning, "checkout": statusExhausted, "some_service": statusOK, "other": "none"} {
		if nodes[name].status != want {
			t.Errorf("node %s status %q, want %q", name, nodes[name].status, want)
		}
	}
	if nodes["checkout"].link != "/slo/checkout" || nodes["other"].link != "" {
		t.Errorf("links: checkout %q, other %q; want /slo/checkout and none", nodes["checkout"].link, nodes["other"].link)
	}
	// Callers stand left of what they call (the fixture's graph has no
	// cycle), and nodes of a column never overlap.
	for _, tr := range find(doc, "tr", "edge-row") {
		src, dst := nodes[attr(tr, "data-source")], nodes[attr(tr, "data-destination")]
		if src.x >= dst.x {
			t.Errorf("%s (x %v) is not left of %s (x %v)", attr(tr, "data-source"), src.x, attr(tr, "data-destination"), dst.x)
		}
	}
	for a, na := range nodes {
		for b, nb := range nodes {
			if a < b && na.x == nb.x && nb.y-na.y < 30 && na.y-nb.y < 30 {
				t.Errorf("nodes %s and %s overlap at x %v", a, b, na.x)
			}
		}
	}
	drawn := find(doc, "g", "edge")
	undeclared, unused := find(doc, "g", "edge-undeclared"), find(doc, "g", "edge-unused")
	if len(drawn) != 9 || len(undeclared) != 2 || len(unused) != 1 {
		t.Errorf("%d edges drawn, %d undeclared, %d unused; want 8 observed + 1 unused, 2 undeclared", len(drawn), len(undeclared), len(unused))
	}
	for _, g := range undeclared {
		if len(find(g, "circle", "undeclared-dot")) != 1 || !strings.Contains(text(g), "UNDECLARED") {
			t.Errorf("undeclared edge without its mark: %s", text(g))
		}
	}
	classOf := map[string]string{}
	for _, g := range drawn {
		title := text(find(g, "title", "")[0])
		classOf[title[:strings.Index(title, ":")]] = attr(g, "class")
	}
	// checkout → payments fails 3% and my_website → some_service 2% in
	// the last hour: red; a healthy declared edge is green.
	for edge, want := range map[string]string{"checkout → payments": "edge-bad", "my_website → some_service": "edge-bad", "checkout → auth": "edge-ok"} {
		if !slices.Contains(strings.Fields(classOf[edge]), want) {
			t.Errorf("%s drawn as %q, want %s", edge, classOf[edge], want)
		}
	}
	txt := text(doc)
	for _, want := range []string{"my_website → redis_cache", "other → auth", "reports → payments_db"} {
		if !strings.Contains(txt, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if got := find(doc, "tr", "edge-row"); len(got) != 8 {
		t.Errorf("%d table rows, want the 8 observed edges", len(got))
	}
}

func TestGraphFocus(t *testing.T) {
	f := newFixture(t, true)
	_, _, body := get(t, f.ui.Handler(), "/graph?focus=checkout")
	var names []string
	for name := range drawnNodes(t, parseHTML(t, body)) {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"auth", "catalog_grpc", "checkout", "payments", "redis_cache"}; !slices.Equal(names, want) {
		t.Errorf("focused on checkout: nodes %v, want %v", names, want)
	}
}

// TestDetailCallers: some_service's own Envoy logged only successes, its
// caller my_website saw 2% fail in the last hour: the page shows both.
func TestDetailCallers(t *testing.T) {
	f := newFixture(t, true)
	_, _, body := get(t, f.ui.Handler(), "/slo/some_service")
	doc := parseHTML(t, body)
	txt := text(doc)
	for _, want := range []string{"As its callers see it", "Why they differ", "Own SLI (its inbound Envoy, 30d)100.000%"} {
		if !strings.Contains(txt, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The fixture's rule: one call a second for six hours, every 50th
	// second of the last hour a 503.
	calls, failed := 6*3600, 0
	for i := range calls {
		if i > 5*3600 && i%50 == 0 {
			failed++
		}
	}
	want := fmt.Sprintf("%.3f%%", (1-float64(failed)/float64(calls))*100)
	for _, dd := range find(doc, "dd", "") {
		if attr(dd, "id") == "caller-sli" && text(dd) != want {
			t.Errorf("caller SLI %q, want %s", text(dd), want)
		}
	}
	rows := find(doc, "tr", "caller-row")
	if len(rows) != 1 || attr(rows[0], "data-caller") != "my_website" {
		t.Errorf("%d caller rows, want my_website alone", len(rows))
	}
	// auth is called by checkout (declared) and by a job outside the
	// catalog (undeclared).
	_, _, body = get(t, f.ui.Handler(), "/slo/auth")
	doc = parseHTML(t, body)
	var callers []string
	for _, tr := range find(doc, "tr", "caller-row") {
		callers = append(callers, attr(tr, "data-caller"))
	}
	if !slices.Equal(callers, []string{"checkout", "other"}) || len(find(doc, "span", "badge-undeclared-edge")) != 1 {
		t.Errorf("auth's callers %v, want checkout and an undeclared other", callers)
	}
}

// TestLayoutGraph: cycles and self-loops lay out without a loop or an
// overlap, deterministically.
func TestLayoutGraph(t *testing.T) {
	links := [][2]int{{0, 1}, {1, 2}, {2, 0}, {2, 3}, {3, 3}, {4, 1}}
	widths := []float64{80, 80, 80, 80, 80, 80}
	l := layoutGraph(6, widths, links)
	again := layoutGraph(6, widths, links)
	if !slices.Equal(l.x, again.x) || !slices.Equal(l.y, again.y) {
		t.Error("layout is not deterministic")
	}
	// Without back edge 2 → 0: 4 and 0 are sources, 1 after them, then 2,
	// then 3; node 5 has no link and joins the first column. The back
	// edge, drawn from 2 to 0, passes column 1 in a lane.
	if want := []int{0, 1, 2, 3, 0, 0}; !slices.Equal(l.layer, want) {
		t.Errorf("layers %v, want %v", l.layer, want)
	}
	if !l.rev[2] || len(l.lanes[2]) != 1 || l.lanes[2][0].col != 1 {
		t.Errorf("back edge 2 → 0: reversed %v, lanes %v; want reversed, one lane in column 1", l.rev[2], l.lanes[2])
	}
	for i := range 6 {
		for j := i + 1; j < 6; j++ {
			if l.x[i] == l.x[j] && l.y[i] == l.y[j] {
				t.Errorf("nodes %d and %d share a place", i, j)
			}
		}
		if l.x[i]+l.w[i] > l.width || l.y[i]+graphNodeH > l.height {
			t.Errorf("node %d outside the drawing", i)
		}
	}
	for i, a := range links {
		if p, _, _ := l.edgePath(i, a[0], a[1]); !strings.HasPrefix(p, "M") || strings.Contains(p, "NaN") {
			t.Errorf("path %v: %q", a, p)
		}
	}
	// The back edge starts at 2's left side and ends at 0's right side.
	if p, _, _ := l.edgePath(2, 2, 0); !strings.HasPrefix(p, "M"+strconv.FormatFloat(l.x[2], 'f', 1, 64)+" ") ||
		!strings.HasSuffix(p, strconv.FormatFloat(l.x[0]+l.w[0], 'f', 1, 64)+" "+strconv.FormatFloat(l.y[0]+graphNodeH/2, 'f', 1, 64)) {
		t.Errorf("back edge path %q", p)
	}
}
