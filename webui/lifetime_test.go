package webui

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// lifetimeUI serves the cookie page of an inventory that saw a cookie set
// for 396 days, under the catalog's privacy section.
func lifetimeUI(t *testing.T, privacy string) (http.Handler, *cookies.Inventory) {
	t.Helper()
	cat, err := catalog.Parse("mesh.yaml", []byte(privacy+"services: [{http_service: web, port: 8080}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return fixtureNow }
	inv, err := cookies.New(cookies.Config{Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	obs, bad := httpcookie.ParseResponse("visitor=1; Max-Age=34214400; Secure; HttpOnly", fixtureNow, nil, nil) // 396 days
	inv.Observe("web", "web.example", fixtureNow, obs, bad)
	ui, err := New(Config{Cookies: inv.Snapshot, Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return ui.Handler(), inv
}

// TestCookiesPageStatesLifetimeRule: the page says which long-lifetime
// rule applied, and a 396-day cookie is flagged under the CNIL's 13 months
// but not under the browsers' 400 days.
func TestCookiesPageStatesLifetimeRule(t *testing.T) {
	for _, tc := range []struct {
		privacy, rule string
		flagged       bool
	}{
		{"", "over 400 days (browser cap)", false},
		{"privacy: {max_cookie_lifetime: 13mo}\n", "over 13 months (CNIL)", true},
	} {
		h, _ := lifetimeUI(t, tc.privacy)
		_, _, body := get(t, h, "/cookies")
		doc := parseHTML(t, body)
		rule := find(doc, "p", "rule")
		if len(rule) != 1 || !strings.Contains(text(rule[0]), "long-lifetime means a lifetime "+tc.rule) {
			t.Errorf("%q: the page does not state the rule %q", tc.privacy, tc.rule)
		}
		rows := find(doc, "tr", "cookie-row")
		if len(rows) != 1 {
			t.Fatalf("%d rows, want the visitor cookie", len(rows))
		}
		badges := find(rows[0], "span", "badge-long-lifetime")
		if got := len(badges) == 1; got != tc.flagged {
			t.Errorf("%q: visitor (396 days) flagged %v, want %v", tc.privacy, got, tc.flagged)
		}
		if tc.flagged && attr(badges[0], "title") != "lifetime "+tc.rule {
			t.Errorf("badge title %q, want the rule", attr(badges[0], "title"))
		}
	}
}

// TestCookiesDiffStatesRuleChange: comparing with a report saved under
// another rule says so before listing the findings that changed.
func TestCookiesDiffStatesRuleChange(t *testing.T) {
	_, before := lifetimeUI(t, "")
	h, _ := lifetimeUI(t, "privacy: {max_cookie_lifetime: 13mo}\n")
	var saved, b bytes.Buffer
	if err := cookies.WriteReport(&saved, before.Snapshot(), cookies.FormatJSON); err != nil {
		t.Fatal(err)
	}
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("old", "old.json")
	w.Write(saved.Bytes())
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/cookies/diff", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	txt := text(parseHTML(t, rec.Body.String()))
	if rec.Code != 200 || !strings.Contains(txt, "The long-lifetime rule changed from over 400 days (browser cap) to over 13 months (CNIL)") ||
		!strings.Contains(txt, "long-lifetime") || !strings.Contains(txt, "1 changed") {
		t.Errorf("diff: %d %s", rec.Code, txt)
	}
}
