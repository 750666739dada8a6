package webui

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/html"

	"github.com/meshtel/meshtel/cookies"
)

// get serves one request and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

// parseHTML checks that body is well-formed: it parses as HTML5, every
// element the page opens it also closes in order, and ids are unique.
func parseHTML(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	z := html.NewTokenizer(strings.NewReader(body))
	var stack []string
	void := map[string]bool{"meta": true, "link": true, "input": true, "br": true, "img": true, "hr": true, "col": true, "wbr": true, "source": true}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenize: %v", z.Err())
			}
			break
		}
		name, _ := z.TagName()
		switch tt {
		case html.StartTagToken:
			if !void[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	ids := map[string]bool{}
	walk(doc, func(n *html.Node) {
		if id := attr(n, "id"); id != "" {
			if ids[id] {
				t.Errorf("duplicate id %q", id)
			}
			ids[id] = true
		}
		// Every data cell sits in a table whose header cells have a scope.
		if n.Type == html.ElementNode && n.Data == "th" && attr(n, "scope") == "" {
			t.Errorf("<th> without scope: %s", text(n))
		}
	})
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

// find returns the elements matching tag with the class (or any class when
// class is "").
func find(doc *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && (class == "" || hasClass(n, class)) {
			out = append(out, n)
		}
	})
	return out
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func TestPages(t *testing.T) {
	for _, traffic := range []bool{false, true} {
		f := newFixture(t, traffic)
		h := f.ui.Handler()
		for _, tc := range []struct {
			path     string
			want     []string // in the page text
			wantCode int
		}{
			{"/", []string{"Service level objectives", "my_website", "redis_cache"}, 200},
			{"/?team=web", []string{"my_website", "checkout"}, 200},
			{"/slo/my_website", []string{"availability", "latency", "Burn rate by window", "MeshErrorBudgetBurn conditions"}, 200},
			{"/slo/redis_cache", []string{"availability", "tcp_service"}, 200},
			{"/cookies", []string{"Cookie inventory"}, 200},
			{"/pipeline", []string{"Pipeline", "Records/s in"}, 200},
			{"/graph", []string{"Dependency graph", "Undeclared calls", "Unused declarations", "reports → payments_db"}, 200},
			{"/slo/no_such_service", []string{"No service named no_such_service"}, 404},
			{"/nowhere", []string{"There is no page at /nowhere"}, 404},
		} {
			name := tc.path
			if traffic {
				name += " traffic"
			}
			t.Run(name, func(t *testing.T) {
				code, hd, body := get(t, h, tc.path)
				if code != tc.wantCode {
					t.Fatalf("status %d, want %d", code, tc.wantCode)
				}
				if ct := hd.Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if !strings.Contains(hd.Get("Content-Security-Policy"), "default-src 'none'") {
					t.Errorf("no CSP: %q", hd.Get("Content-Security-Policy"))
				}
				doc := parseHTML(t, body)
				txt := text(doc)
				for _, w := range tc.want {
					if !strings.Contains(txt, w) {
						t.Errorf("page lacks %q", w)
					}
				}
				if len(find(doc, "main", "")) != 1 || len(find(doc, "nav", "")) == 0 || len(find(doc, "h1", "")) != 1 {
					t.Error("want one main, a nav and one h1")
				}
				if strings.Contains(body, "ZgotmplZ") {
					t.Error("a template value was rejected by html/template")
				}
			})
		}
	}
}

func TestEmptyStates(t *testing.T) {
	f := newFixture(t, false)
	h := f.ui.Handler()
	for path, want := range map[string]string{
		"/cookies":        "No cookies seen yet.",
		"/slo/my_website": "No requests yet.",
		"/pipeline":       "No labelled series yet.",
	} {
		_, _, body := get(t, h, path)
		if !strings.Contains(text(parseHTML(t, body)), want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	_, _, body := get(t, h, "/slo/my_website")
	if n := strings.Count(body, "No traffic in the last 6 hours."); n != 4 {
		t.Errorf("detail without traffic: %d empty charts, want 4 (two per SLO)", n)
	}
	// Without any source the pages explain, they do not fail.
	u, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/":         "does not compute SLOs",
		"/cookies":  "does not keep a cookie inventory",
		"/pipeline": "No metrics source",
		"/graph":    "does not count dependency edges",
	} {
		code, _, body := get(t, u.Handler(), path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s without sources: %d, lacks %q", path, code, want)
		}
	}
	if code, _, _ := get(t, u.Handler(), "/slo/my_website"); code != 404 {
		t.Errorf("detail without sources: %d, want 404", code)
	}
}

// TestOverviewOrder: worst first, status as text and colour class.
func TestOverviewOrder(t *testing.T) {
	f := newFixture(t, true)
	_, _, body := get(t, f.ui.Handler(), "/")
	doc := parseHTML(t, body)
	var got []string
	for _, tr := range find(doc, "tr", "slo-row") {
		got = append(got, attr(tr, "data-service")+"/"+attr(tr, "data-slo")+"="+attr(tr, "data-status"))
		st := find(tr, "span", "status")
		if len(st) != 1 || !strings.Contains(text(st[0]), attr(tr, "data-status")) || !hasClass(st[0], "status-"+attr(tr, "data-status")) {
			t.Errorf("row %s: status not shown as text and class", got[len(got)-1])
		}
	}
	if len(got) < 4 {
		t.Fatalf("rows %v", got)
	}
	if !strings.HasPrefix(got[0], "checkout/availability=exhausted") {
		t.Errorf("first row %s, want checkout's exhausted availability", got[0])
	}
	i := slicesIndex(got, "my_website/availability=burning")
	for j, g := range got {
		if strings.HasSuffix(g, "=ok") && j < i {
			t.Errorf("ok row %s listed before burning my_website (%d)", g, i)
		}
	}
	if i < 0 {
		t.Errorf("my_website availability not burning: %v", got)
	}
	// Filters.
	_, _, body = get(t, f.ui.Handler(), "/?team=payments&service=pay")
	for _, tr := range find(parseHTML(t, body), "tr", "slo-row") {
		if s := attr(tr, "data-service"); !strings.Contains(s, "pay") || f.ui.team(s) != "payments" {
			t.Errorf("filtered row %s", s)
		}
	}
	_, _, body = get(t, f.ui.Handler(), "/?service=zzz")
	if !strings.Contains(body, "No SLO matches the filter.") {
		t.Error("empty filter result not explained")
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestDetail(t *testing.T) {
	f := newFixture(t, true)
	h := f.ui.Handler()
	_, _, body := get(t, h, "/slo/my_website")
	doc := parseHTML(t, body)
	txt := text(doc)
	for _, w := range []string{
		"page 14.4×", "ticket 1×", // factors from sli.BurnAlerts
		"firing", "home", "api_pins", // a firing condition and the routes
		"UF", "URX", "/api/v1/pins", "503", // recent bad requests
	} {
		if !strings.Contains(txt, w) {
			t.Errorf("detail lacks %q", w)
		}
	}
	if n := len(find(doc, "svg", "")); n < 8 {
		t.Errorf("%d svg charts, want 4 per SLO plus budget bars", n)
	}
	for _, p := range find(doc, "path", "") {
		if !regexp.MustCompile(`^M[0-9. LM]+$`).MatchString(attr(p, "d")) {
			t.Errorf("path d %q", attr(p, "d"))
		}
	}
	// An alias redirects to the service.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slo/my-website.web", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/slo/my_website" {
		t.Errorf("alias: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// A service outside the catalog that has sent traffic has a page.
	f.observe(sliObs("legacy", 500))
	if code, _, _ := get(t, h, "/slo/legacy"); code != 200 {
		t.Errorf("uncatalogued service with traffic: %d", code)
	}
}

// TestNoLeaks plants a cookie value and a query string and greps every
// page and download for them.
func TestNoLeaks(t *testing.T) {
	f := newFixture(t, true)
	h := f.ui.Handler()
	for _, path := range []string{"/", "/slo/my_website", "/slo/checkout", "/cookies", "/cookies.csv", "/cookies.md", "/pipeline", "/cookies?service=my_website"} {
		code, _, body := get(t, h, path)
		if code != 200 {
			t.Errorf("%s: %d", path, code)
		}
		for _, planted := range []string{plantedValue, "planted.leak", plantedQuery, "planted-query", "5f0c6a1e", "GA1.2.3.4", "abc123"} {
			if strings.Contains(body, planted) {
				t.Errorf("%s shows %q", path, planted)
			}
		}
	}
	// The cookie page lists names and their findings.
	_, _, body := get(t, h, "/cookies")
	doc := parseHTML(t, body)
	found := false
	for _, tr := range find(doc, "tr", "cookie-row") {
		if attr(tr, "data-name") == "sid" && attr(tr, "data-service") == "my_website" {
			found = true
			if b := find(tr, "span", "badge-pii-value"); len(b) != 1 || text(b[0]) != "pii-value" {
				t.Error("sid lacks the pii-value badge")
			}
		}
	}
	if !found {
		t.Error("no row for my_website's sid")
	}
}

func TestCookiesPage(t *testing.T) {
	f := newFixture(t, true)
	h := f.ui.Handler()
	_, _, body := get(t, h, "/cookies?finding=third-party-domain")
	rows := find(parseHTML(t, body), "tr", "cookie-row")
	if len(rows) != 1 || attr(rows[0], "data-name") != "tracker" {
		t.Errorf("third-party-domain filter: %d rows", len(rows))
	}
	_, _, body = get(t, h, "/cookies?service=checkout")
	for _, tr := range find(parseHTML(t, body), "tr", "cookie-row") {
		if attr(tr, "data-service") != "checkout" {
			t.Errorf("service filter kept %s", attr(tr, "data-service"))
		}
	}
	for path, want := range map[string]string{"/cookies.csv": "text/csv", "/cookies.md": "text/markdown"} {
		code, hd, body := get(t, h, path)
		if code != 200 || !strings.HasPrefix(hd.Get("Content-Type"), want) || !strings.Contains(hd.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s: %d %q %q", path, code, hd.Get("Content-Type"), hd.Get("Content-Disposition"))
		}
		var want bytes.Buffer
		format := strings.TrimPrefix(path, "/cookies.")
		if err := cookies.WriteReport(&want, f.inventory.Snapshot(), format); err != nil {
			t.Fatal(err)
		}
		if body != want.String() {
			t.Errorf("%s differs from `alsd report cookies --format %s`", path, format)
		}
	}
}

func TestCookiesDiff(t *testing.T) {
	f := newFixture(t, true)
	h := f.ui.Handler()
	old := f.inventory.Snapshot()
	old.Services = old.Services[1:] // checkout's cookies are new since
	var saved bytes.Buffer
	if err := cookies.WriteReport(&saved, old, cookies.FormatJSON); err != nil {
		t.Fatal(err)
	}
	post := func(field string, content []byte) (int, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		w, _ := mw.CreateFormFile(field, "old.json")
		w.Write(content)
		mw.Close()
		req := httptest.NewRequest(http.MethodPost, "/cookies/diff", &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	code, body := post("old", saved.Bytes())
	txt := text(parseHTML(t, body))
	if code != 200 || !strings.Contains(txt, "1 added") || !strings.Contains(txt, "cart_id") {
		t.Errorf("diff: %d %s", code, txt)
	}
	if code, body := post("old", []byte("not json")); code != 400 || !strings.Contains(body, "not a cookie report") {
		t.Errorf("bad upload: %d", code)
	}
	if code, _ := post("other", saved.Bytes()); code != 400 {
		t.Errorf("missing file: %d", code)
	}
}

func TestPipeline(t *testing.T) {
	f := newFixture(t, true)
	_, _, body := get(t, f.ui.Handler(), "/pipeline")
	doc := parseHTML(t, body)
	kpi := map[string]string{}
	for _, d := range find(doc, "div", "") {
		if dt, dd := find(d, "dt", ""), find(d, "dd", ""); len(dt) == 1 && len(dd) == 1 {
			kpi[text(dt[0])] = strings.ReplaceAll(text(dd[0]), "\u202f", " ")
		}
	}
	for k, want := range map[string]string{
		"Records/s in (last minute)": "100", "Records accepted": "12 412", "Kafka produced": "12 400",
		"Kafka errors": "9000", "Spool corrupt": "not exported", "Spool": "4.0 KiB", "Active ALS streams": "3", "Records dropped": "2",
	} {
		if kpi[k] != want {
			t.Errorf("%s = %q, want %q", k, kpi[k], want)
		}
	}
	txt := text(doc)
	for _, w := range []string{"reason=spool_full", "kind=http, outcome=bad"} {
		if !strings.Contains(txt, w) {
			t.Errorf("pipeline lacks %q", w)
		}
	}
}

func TestStaticAndMethods(t *testing.T) {
	f := newFixture(t, false)
	h := f.ui.Handler()
	for path, ct := range map[string]string{"/static/style.css": "text/css", "/static/ui.js": "javascript"} {
		code, hd, body := get(t, h, path)
		if code != 200 || !strings.Contains(hd.Get("Content-Type"), ct) || len(body) < 100 {
			t.Errorf("%s: %d %q", path, code, hd.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/static/nothing.js"} {
		if code, _, _ := get(t, h, path); code != 404 {
			t.Errorf("%s: %d", path, code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", rec.Code)
	}
	// Pages reference only embedded assets: nothing from elsewhere.
	_, _, body := get(t, h, "/")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/") && !strings.HasPrefix(m[1], "#") {
			t.Errorf("external reference %q", m[1])
		}
	}
}

func TestObserveBadBounds(t *testing.T) {
	u, err := New(Config{RecentBad: 3, MaxServices: 2})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1000, 0)
	flags := []string{"UF"}
	for i := range 5 {
		u.ObserveBad("a", "GET", "/p/"+strings.Repeat("x", i)+"?secret=1", 503, flags, at.Add(time.Duration(i)*time.Second))
	}
	flags[0] = "XX" // the caller reuses its slice
	u.ObserveBad("b", "GET", strings.Repeat("é", 300), 0, nil, at)
	u.ObserveBad("c", "GET", "/", 500, nil, at) // beyond MaxServices
	reqs, total, fc := u.recent.get("a")
	if total != 5 || len(reqs) != 3 || reqs[0].Path != "/p/xxxx" || reqs[2].Path != "/p/xx" {
		t.Errorf("ring: total %d %+v", total, reqs)
	}
	if len(fc) != 1 || fc[0].Flag != "UF" || fc[0].Count != 5 || fc[0].Share != 1 {
		t.Errorf("flags %+v", fc)
	}
	reqs, _, _ = u.recent.get("b")
	if p := reqs[0].Path; len(p) > maxPathBytes+len("…") || !strings.HasSuffix(p, "é…") {
		t.Errorf("long path kept as %d bytes %q…", len(p), p[:10])
	}
	if _, total, _ := u.recent.get("c"); total != 0 {
		t.Error("service beyond the cap kept")
	}
}

func TestNewRejectsNegative(t *testing.T) {
	for _, cfg := range []Config{{SampleInterval: -1}, {RecentBad: -1}, {HistoryLength: -time.Second}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestQuantile(t *testing.T) {
	bounds := []time.Duration{10 * time.Millisecond, 100 * time.Millisecond}
	for _, tc := range []struct {
		q    float64
		hist []uint64
		want string
	}{
		{0.5, []uint64{10, 10, 0}, "10.0ms"},
		{0.75, []uint64{10, 10, 0}, "55.0ms"},
		{0.99, []uint64{0, 0, 5}, "> 100.0ms"},
		{0.5, []uint64{0, 0, 0}, "—"},
		{0.5, []uint64{1}, "—"},
	} {
		if got := quantile(tc.q, tc.hist, bounds); got != tc.want {
			t.Errorf("quantile(%v, %v) = %q, want %q", tc.q, tc.hist, got, tc.want)
		}
	}
}

func TestHistoryBounded(t *testing.T) {
	h := newHistory(10*time.Second, time.Minute, 1)
	rep := sliReport("a", "b")
	for i := range 20 {
		h.addSLOs(time.Unix(int64(1000+10*i), 0), rep)
	}
	pts := h.budget(time.Unix(1190, 0), "a", "availability")
	if len(pts) != 7 || pts[0].T != 1130 || pts[6].T != 1190 {
		t.Errorf("points %+v", pts)
	}
	if h.budget(time.Unix(1190, 0), "b", "availability") != nil {
		t.Error("series beyond MaxSeries kept")
	}
}

// TestSlotCounts: the 2-minute buckets of the charts hold every event of
// the last 6 hours exactly once, from the tracker's fine and coarse tiers.
func TestSlotCounts(t *testing.T) {
	f := newFixture(t, true)
	st := f.tracker.State()
	for _, s := range st.Services {
		if s.Name != "my_website" {
			continue
		}
		first, counts := slotCounts(&s, "availability", fixtureNow.Unix(), spanLong)
		if first != fixtureNow.Add(-6*time.Hour).Unix() || len(counts) != 180 {
			t.Fatalf("first %d, %d buckets", first, len(counts))
		}
		var total, bad uint64
		for _, c := range counts {
			total += c.Total
			bad += c.Bad
		}
		// One request a second for 6 hours, 2% bad in the last hour.
		if total != 6*3600 || bad != 71 { // i%50 == 0 for i in (18000, 21600)
			t.Errorf("total %d bad %d, want 21600 and 71", total, bad)
		}
		return
	}
	t.Fatal("no state for my_website")
}

// TestPipelineGatherError: a failing metrics source is reported on the
// page, which still renders.
func TestPipelineGatherError(t *testing.T) {
	u, err := New(Config{Gatherer: prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("registry on fire")
	})})
	if err != nil {
		t.Fatal(err)
	}
	u.Sample() // must not record a sample from a failed gather
	if n := len(u.history.pipeline(time.Now())); n != 0 {
		t.Errorf("%d samples from a failed gather", n)
	}
	code, _, body := get(t, u.Handler(), "/pipeline")
	doc := parseHTML(t, body)
	alerts := find(doc, "p", "error")
	if code != 200 || len(alerts) != 1 || !strings.Contains(text(alerts[0]), "registry on fire") {
		t.Errorf("gather error not shown: %d", code)
	}
}

// TestDetailJustStarted: while all traffic is from the last hour, as after
// a start, the charts show that hour in 10-second buckets.
func TestDetailJustStarted(t *testing.T) {
	f := newFixture(t, false)
	for i := range 300 {
		o := sliObs("my_website", 200)
		o.Time = fixtureNow.Add(-time.Duration(i) * time.Second)
		f.observe(o)
	}
	_, _, body := get(t, f.ui.Handler(), "/slo/my_website")
	txt := text(parseHTML(t, body))
	for _, w := range []string{"Requests per second, last hour", "Bad ratio per 10 seconds, last hour"} {
		if !strings.Contains(txt, w) {
			t.Errorf("detail lacks %q", w)
		}
	}
	if strings.Contains(txt, "No traffic in the") || strings.Contains(txt, "Collecting: no") {
		t.Error("charts empty although there is traffic")
	}
}
