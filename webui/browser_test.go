package webui

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/meshtel/meshtel/internal/poll"
)

// TestBrowser loads the pages in headless Chromium, at a laptop's and a
// phone's size, writes screenshots and checks the DOM after the script
// ran. It needs Debian's chromium and runs only with MESHTEL_BROWSER=1;
// screenshots go to MESHTEL_BROWSER_OUT (default: a temporary directory,
// logged).
func TestBrowser(t *testing.T) {
	bin, out := browserSetup(t)

	f := newFixture(t, true)
	f.run(t)
	srv := httptest.NewServer(f.ui.Handler()) // 127.0.0.1
	defer srv.Close()

	chromium := func(t *testing.T, size string, args ...string) []byte {
		t.Helper()
		return runChromium(t, bin, size, args...)
	}

	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"slo-my_website", "/slo/my_website"},
		{"cookies", "/cookies"},
		{"pipeline", "/pipeline"},
		{"graph", "/graph"},
		{"slo-some_service", "/slo/some_service"},
	}
	for _, p := range pages {
		for _, size := range []struct{ name, wh string }{{"1280x800", "1280,800"}, {"phone", "390,844"}} {
			t.Run(p.name+"-"+size.name, func(t *testing.T) {
				file := filepath.Join(out, p.name+"-"+size.name+".png")
				chromium(t, size.wh, "--screenshot="+file, srv.URL+p.path)
				if st, err := os.Stat(file); err != nil || st.Size() < 5000 {
					t.Fatalf("screenshot %s: %v", file, err)
				}
			})
		}
	}

	dom := func(t *testing.T, path string) *html.Node {
		t.Helper()
		doc, err := html.Parse(strings.NewReader(string(chromium(t, "1280,800", "--dump-dom", srv.URL+path))))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	t.Run("overview-dom", func(t *testing.T) {
		doc := dom(t, "/")
		rows := find(doc, "tr", "slo-row")
		if len(rows) == 0 {
			t.Fatal("no SLO rows rendered")
		}
		if s, st := attr(rows[0], "data-service"), attr(rows[0], "data-status"); s != "checkout" || st != statusExhausted {
			t.Errorf("first row %s %s, want checkout exhausted", s, st)
		}
		burning := -1
		for i, r := range rows {
			if attr(r, "data-service") == "my_website" && attr(r, "data-status") == statusBurning && burning < 0 {
				burning = i
			}
			if attr(r, "data-status") == statusOK && burning < 0 {
				t.Errorf("ok row %s before the burning my_website", attr(r, "data-service"))
			}
		}
		if burning < 0 {
			t.Error("my_website is not listed as burning")
		}
		// The script ran: sort buttons exist and auto-refresh is offered.
		if len(find(doc, "button", "sort")) < 10 {
			t.Error("table headings have no sort buttons: ui.js did not run")
		}
		for _, l := range find(doc, "label", "autorefresh") {
			for _, a := range l.Attr {
				if a.Key == "hidden" {
					t.Error("auto-refresh control still hidden: ui.js did not run")
				}
			}
		}
	})
	t.Run("detail-dom", func(t *testing.T) {
		doc := dom(t, "/slo/my_website")
		if n := len(find(doc, "figure", "chart")); n != 8 {
			t.Errorf("%d charts, want 4 per SLO", n)
		}
		if !strings.Contains(text(doc), "firing") {
			t.Error("no firing condition shown for the burning service")
		}
	})
	t.Run("graph-dom", func(t *testing.T) { checkGraphDOM(t, dom(t, "/graph"), dom(t, "/slo/some_service"), f) })
	t.Run("cookies-dom", func(t *testing.T) {
		doc := dom(t, "/cookies")
		found := false
		for _, tr := range find(doc, "tr", "cookie-row") {
			if attr(tr, "data-name") == "sid" && len(find(tr, "span", "badge-pii-value")) == 1 {
				found = true
			}
		}
		if !found {
			t.Error("sid does not show the pii-value badge")
		}
		if strings.Contains(text(doc), plantedValue) {
			t.Error("the planted cookie value is on the page")
		}
	})
}

// checkGraphDOM checks /graph and the callers on /slo/some_service after
// the script ran.
func checkGraphDOM(t *testing.T, graph, some *html.Node, f *fixture) {
	t.Helper()
	if nodes := find(graph, "g", "node"); len(nodes) != len(f.cat.Services)+1 {
		t.Errorf("%d nodes drawn, want the catalog's %d and other", len(nodes), len(f.cat.Services))
	}
	if n := len(find(graph, "g", "edge-undeclared")); n != 2 {
		t.Errorf("%d undeclared edges marked, want 2", n)
	}
	if len(find(graph, "button", "sort")) < 10 {
		t.Error("the edge table has no sort buttons: ui.js did not run")
	}
	if rows := find(some, "tr", "caller-row"); len(rows) != 1 || attr(rows[0], "data-caller") != "my_website" {
		t.Errorf("%d caller rows, want my_website's", len(rows))
	}
	if !strings.Contains(text(some), "Why they differ") {
		t.Error("no sentence explaining the callers' view")
	}
}

// browserSetup skips unless MESHTEL_BROWSER=1 and returns the browser and
// the screenshot directory.
func browserSetup(t *testing.T) (bin, out string) {
	t.Helper()
	if os.Getenv("MESHTEL_BROWSER") != "1" {
		t.Skip("set MESHTEL_BROWSER=1 to run the headless Chromium test")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("MESHTEL_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
	}
	out = os.Getenv("MESHTEL_BROWSER_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", out)
	return bin, out
}

// runChromium runs headless Chromium at a window size ("1280,800") and
// returns its standard output.
func runChromium(t *testing.T, bin, size string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--window-size=" + size, "--virtual-time-budget=3000",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return b
}

// TestBrowserDemo runs the real alsd --demo (simulated Envoys, embedded
// Kafka) and checks its UI in Chromium: every SLO of the demo catalog
// listed worst first, the simulator's e-mail cookie flagged pii-value, and
// neither its value nor the simulator's query strings on any page.
func TestBrowserDemo(t *testing.T) {
	bin, out := browserSetup(t)
	alsd := filepath.Join(t.TempDir(), "alsd")
	build := exec.Command("go", "build", "-o", alsd, "github.com/meshtel/meshtel/cmd/alsd")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build alsd: %v\n%s", err, b)
	}
	cmd := exec.Command(alsd, "--demo", "--demo-rate=500", "--als-addr=127.0.0.1:0", "--admin-addr=127.0.0.1:0",
		"--state-dir="+t.TempDir(), "--log-level=info")
	cmd.Env = append(os.Environ(), "ALSD_CATALOG=", "ALSD_KAFKA_BROKERS=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	admin := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`admin=(http://127\.0\.0\.1:[0-9]+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case admin <- m[1]:
				default:
				}
			}
		}
	}()
	var base string
	select {
	case base = <-admin:
	case <-time.After(60 * time.Second):
		t.Fatal("alsd --demo did not log its admin address")
	}
	poll.UntilState(t, 90*time.Second, "two budget samples, the user_email cookie and the undeclared edge", func() (bool, string) {
		return demoReady(base)
	})

	var doms []string
	for _, p := range []struct{ name, path string }{{"overview", "/"}, {"slo-my_website", "/slo/my_website"}, {"cookies", "/cookies"}, {"graph", "/graph"}} {
		runChromium(t, bin, "1280,800", "--screenshot="+filepath.Join(out, "demo-"+p.name+".png"), base+p.path)
		doms = append(doms, string(runChromium(t, bin, "1280,800", "--dump-dom", base+p.path)))
	}
	for i, d := range doms {
		for _, planted := range []string{"jane.doe", "email=", "utm_source", "page=2"} {
			if strings.Contains(d, planted) {
				t.Errorf("page %d shows %q", i, planted)
			}
		}
	}
	overview, err := html.Parse(strings.NewReader(doms[0]))
	if err != nil {
		t.Fatal(err)
	}
	rows := find(overview, "tr", "slo-row")
	if len(rows) != 15 {
		t.Errorf("%d SLO rows, want the demo catalog's 15", len(rows))
	}
	rank := map[string]int{statusExhausted: 0, statusBurning: 1, statusOK: 2}
	for i := 1; i < len(rows); i++ {
		a, b := attr(rows[i-1], "data-status"), attr(rows[i], "data-status")
		if rank[a] > rank[b] {
			t.Errorf("row %d (%s) is %s, listed after a %s one", i, attr(rows[i], "data-service"), b, a)
		}
	}
	cookiesDoc, err := html.Parse(strings.NewReader(doms[2]))
	if err != nil {
		t.Fatal(err)
	}
	pii := false
	for _, tr := range find(cookiesDoc, "tr", "cookie-row") {
		if attr(tr, "data-name") == "user_email" && len(find(tr, "span", "badge-pii-value")) == 1 {
			pii = true
		}
	}
	if !pii {
		t.Error("the simulator's user_email cookie does not show the pii-value badge")
	}
	// Every catalog service with upstreams calls them; one edge only is
	// undeclared.
	if n := strings.Count(doms[3], ` edge-undeclared"><title>`); n != 1 {
		t.Errorf("%d undeclared edges drawn, want the demo's one", n)
	}
}

// demoReady reports whether the demo at base has run long enough: the
// simulated Envoys have sent for a while once Run has sampled the budget
// twice (the detail page draws its chart), the e-mail cookie is in the
// inventory and the first caller's undeclared call (my_website → checkout)
// is on /graph.
func demoReady(base string) (bool, string) {
	if page := getPage(base + "/slo/my_website"); page == "" || strings.Contains(page, "Collecting: alsd samples the budget") {
		return false, "fewer than two budget samples"
	}
	if !strings.Contains(getPage(base+"/cookies"), `data-name="user_email"`) {
		return false, "no user_email cookie in the inventory"
	}
	if !strings.Contains(getPage(base+"/graph"), `data-source="my_website" data-destination="checkout" data-declared="false"`) {
		return false, "no undeclared my_website → checkout edge on /graph"
	}
	return true, ""
}

// getPage returns the body of a 200 answer to a GET of url, "" otherwise.
func getPage(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}
