package webui

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// TestBrowser loads the pages in headless Chromium, at a laptop's and a
// phone's size, writes screenshots and checks the DOM after the script
// ran. It needs Debian's chromium and runs only with MESHTEL_BROWSER=1;
// screenshots go to MESHTEL_BROWSER_OUT (default: a temporary directory,
// logged).
func TestBrowser(t *testing.T) {
	if os.Getenv("MESHTEL_BROWSER") != "1" {
		t.Skip("set MESHTEL_BROWSER=1 to run the headless Chromium test")
	}
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("MESHTEL_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
	}
	out := os.Getenv("MESHTEL_BROWSER_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", out)

	f := newFixture(t, true)
	f.run(t)
	srv := httptest.NewServer(f.ui.Handler()) // 127.0.0.1
	defer srv.Close()

	chromium := func(t *testing.T, size string, args ...string) []byte {
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

	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"slo-my_website", "/slo/my_website"},
		{"cookies", "/cookies"},
		{"pipeline", "/pipeline"},
	}
	for _, p := range pages {
		for _, size := range []struct{ name, wh string }{{"1280x800", "1280,800"}, {"phone", "390,844"}, {"tall", "1280,2400"}} {
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
