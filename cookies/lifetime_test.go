package cookies

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLifetimeRules sets cookies to live 394, 396 and 401 days, by Max-Age
// and by Expires, under each privacy.max_cookie_lifetime rule, and checks
// the long-lifetime finding, the mesh_cookies gauge, the rule the report
// states and the Markdown and CSV reports.
func TestLifetimeRules(t *testing.T) {
	for _, tc := range []struct {
		name, privacy string
		flagged       []int // days flagged long-lifetime
		rule, setting string
	}{
		{"default: browser cap", "", []int{401}, "over 400 days (browser cap)", "400d"},
		{"400d written out", "privacy: {max_cookie_lifetime: 400d}\n", []int{401}, "over 400 days (browser cap)", "400d"},
		{"13 months: CNIL", "privacy: {max_cookie_lifetime: 13mo}\n", []int{396, 401}, "over 13 months (CNIL)", "13mo"},
		{"395 days", "privacy: {max_cookie_lifetime: 395d}\n", []int{396, 401}, "over 395 days", "395d"},
		{"6 months", "privacy: {max_cookie_lifetime: 6mo}\n", []int{394, 396, 401}, "over 6 months", "6mo"},
		{"a year and a half hour", "privacy: {max_cookie_lifetime: 1y30m}\n", []int{394, 396, 401}, "over 1y30m", "1y30m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat, err := catalog.Parse("mesh.yaml", []byte(tc.privacy+"services: [{http_service: web, port: 8080}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			inv := newTestInventory(t, Config{Catalog: cat, Registerer: reg})
			for _, days := range []int{394, 396, 401} {
				observe(inv, "web", "web.example", t0, "", fmt.Sprintf("age%d=1; Max-Age=%d; Secure; HttpOnly", days, days*86400))
				expires := t0.Add(time.Duration(days) * 24 * time.Hour).Format(time.RFC1123)
				observe(inv, "web", "web.example", t0, "", fmt.Sprintf("expires%d=1; Expires=%s; Secure; HttpOnly", days, expires))
			}
			inv.refresh()
			r := inv.Snapshot()
			if r.LongLifetime.Rule != tc.rule || r.LongLifetime.Setting != tc.setting || r.LongLifetime.MaxLifetimeS != cat.CookieLifetime().Seconds {
				t.Errorf("rule = %+v, want %q set by %q", r.LongLifetime, tc.rule, tc.setting)
			}
			for _, days := range []int{394, 396, 401} {
				want := slices.Contains(tc.flagged, days)
				for _, name := range []string{fmt.Sprintf("age%d", days), fmt.Sprintf("expires%d", days)} {
					c := findCookie(t, r, "web", name)
					if got := slices.Contains(c.Findings, FindingLongLifetime); got != want {
						t.Errorf("%s (%d days): long-lifetime %v, want %v; findings %v", name, days, got, want, c.Findings)
					}
				}
			}
			if got, want := testutil.ToFloat64(inv.metrics.cookies.WithLabelValues("web", FindingLongLifetime)), float64(2*len(tc.flagged)); got != want {
				t.Errorf("mesh_cookies{finding=long-lifetime} = %v, want %v", got, want)
			}
			var md, csv bytes.Buffer
			if err := WriteReport(&md, r, FormatMarkdown); err != nil {
				t.Fatal(err)
			}
			if want := "long-lifetime means a lifetime " + tc.rule + ";"; !strings.Contains(md.String(), want) {
				t.Errorf("Markdown report does not state %q:\n%s", want, md.String())
			}
			if err := WriteReport(&csv, r, FormatCSV); err != nil {
				t.Fatal(err)
			}
			if lines := strings.Split(strings.TrimSpace(csv.String()), "\n"); !strings.HasSuffix(lines[1], ","+tc.rule) {
				t.Errorf("CSV row %q does not end with the rule %q", lines[1], tc.rule)
			}
		})
	}
}

func TestNewLifetimeRule(t *testing.T) {
	for _, tc := range []struct {
		l    catalog.CookieLifetime
		want string
	}{
		{catalog.DefaultMaxCookieLifetime, "over 400 days (browser cap)"},
		{catalog.CookieLifetime{Seconds: 400 * 86400, Text: "9600h"}, "over 400 days (browser cap)"},
		{catalog.CookieLifetime{Seconds: 13 * catalog.MonthSeconds, Text: "13mo"}, "over 13 months (CNIL)"},
		{catalog.CookieLifetime{Seconds: catalog.MonthSeconds, Text: "1mo"}, "over 1 month"},
		{catalog.CookieLifetime{Seconds: 86400, Text: "24h"}, "over 1 day"},
		{catalog.CookieLifetime{Seconds: 365 * 86400, Text: "1y"}, "over 365 days"},
		{catalog.CookieLifetime{Seconds: 90, Text: "90s"}, "over 90s"},
	} {
		if got := NewLifetimeRule(tc.l); got.Rule != tc.want || got.Setting != tc.l.Text || got.MaxLifetimeS != tc.l.Seconds {
			t.Errorf("NewLifetimeRule(%+v) = %+v, want rule %q", tc.l, got, tc.want)
		}
	}
}

// TestMergeLifetimeRules: merged reports state the strictest rule, which
// the united findings amount to; reports saved without a rule do not count.
func TestMergeLifetimeRules(t *testing.T) {
	browser := Report{LongLifetime: NewLifetimeRule(catalog.DefaultMaxCookieLifetime)}
	cnil := Report{LongLifetime: NewLifetimeRule(catalog.CookieLifetime{Seconds: 13 * catalog.MonthSeconds, Text: "13mo"})}
	if got := MergeReports(browser, cnil, Report{}).LongLifetime; got != cnil.LongLifetime {
		t.Errorf("merged rule = %+v, want the CNIL's", got)
	}
	if got := MergeReports(Report{}, browser).LongLifetime; got != browser.LongLifetime {
		t.Errorf("merged rule = %+v, want the browser cap", got)
	}
	d := Diff(browser, cnil)
	if d.LongLifetimeRule == nil || d.LongLifetimeRule.Old != browser.LongLifetime.Rule || d.LongLifetimeRule.New != cnil.LongLifetime.Rule || d.Empty() {
		t.Errorf("diff across rules = %+v, want the rule change", d.LongLifetimeRule)
	}
	var md bytes.Buffer
	if err := WriteDiff(&md, d, FormatMarkdown); err != nil || !strings.Contains(md.String(), "The long-lifetime rule changed from over 400 days (browser cap) to over 13 months (CNIL)") {
		t.Errorf("Markdown diff (%v) does not state the rule change:\n%s", err, md.String())
	}
	if d := Diff(Report{}, cnil); d.LongLifetimeRule != nil || !d.Empty() {
		t.Errorf("a report saved without a rule is not a rule change: %+v", d.LongLifetimeRule)
	}
}
