package catalog

import (
	"strings"
	"testing"
)

const privacyServices = "services: [{http_service: web, port: 8080}]\n"

func TestCookieLifetime(t *testing.T) {
	good := []struct {
		src  string
		secs int64
		text string
	}{
		{"", 400 * 86400, "400d"},
		{"privacy:\n", 400 * 86400, "400d"},
		{"privacy: {}\n", 400 * 86400, "400d"},
		{"privacy: {max_cookie_lifetime: 400d}\n", 400 * 86400, "400d"},
		{"privacy: {max_cookie_lifetime: 13mo}\n", 34_186_698, "13mo"},
		{"privacy: {max_cookie_lifetime: 12mo}\n", 31_556_952, "12mo"},
		{"privacy: {max_cookie_lifetime: \"395d\"}\n", 395 * 86400, "395d"},
		{"privacy: {max_cookie_lifetime: 9600h}\n", 400 * 86400, "9600h"},
		{"privacy: {max_cookie_lifetime: 1y}\n", 365 * 86400, "1y"},
		{"privacy: {max_cookie_lifetime: 1y30d}\n", 395 * 86400, "1y30d"},
		{"privacy: {max_cookie_lifetime: 2w}\n", 14 * 86400, "2w"},
		{"privacy: {max_cookie_lifetime: 1s}\n", 1, "1s"},
	}
	for _, tc := range good {
		c := mustParse(t, tc.src+privacyServices)
		if got := c.CookieLifetime(); got.Seconds != tc.secs || got.Text != tc.text {
			t.Errorf("%q: CookieLifetime = %+v, want %d s written %q", tc.src, got, tc.secs, tc.text)
		}
	}
	// 13 months sits between 394 and 396 days, where the CNIL's rule and
	// the browsers' 400-day cap disagree.
	if l := mustParse(t, "privacy: {max_cookie_lifetime: 13mo}\n"+privacyServices).CookieLifetime(); l.Seconds <= 394*86400 || l.Seconds >= 396*86400 {
		t.Errorf("13mo = %d s = %.2f days, want between 394 and 396 days", l.Seconds, float64(l.Seconds)/86400)
	}
	for _, c := range []*Catalog{nil, {}, Empty()} {
		if got := c.CookieLifetime(); got != DefaultMaxCookieLifetime {
			t.Errorf("CookieLifetime of %v = %+v, want the default", c, got)
		}
	}
}

func TestCookieLifetimeErrors(t *testing.T) {
	bad := []struct{ value, want string }{
		{"13 months", `1:32: max_cookie_lifetime "13 months" of privacy is not a duration such as 400d, 13mo or 9600h`},
		{"-5d", `1:32: max_cookie_lifetime "-5d" of privacy is not a duration`},
		{"13MO", `1:32: max_cookie_lifetime "13MO" of privacy is not a duration`},
		{"1.5mo", `1:32: max_cookie_lifetime "1.5mo" of privacy is not a duration`},
		{"1e3d", `1:32: max_cookie_lifetime "1e3d" of privacy is not a duration`},
		{"13mo1d", `1:32: max_cookie_lifetime "13mo1d" of privacy is not a duration`},
		{"400days", `1:32: max_cookie_lifetime "400days" of privacy is not a duration`},
		{"99999999999y", `1:32: max_cookie_lifetime "99999999999y" of privacy is not a duration`},
		{"99999999999999999999mo", `1:32: max_cookie_lifetime "99999999999999999999mo" of privacy is too long`},
		{"0d", `1:32: max_cookie_lifetime "0d" of privacy must be at least 1s`},
		{"0mo", `1:32: max_cookie_lifetime "0mo" of privacy must be at least 1s`},
		{"500ms", `1:32: max_cookie_lifetime "500ms" of privacy must be at least 1s`},
		{`""`, `1:32: max_cookie_lifetime "" of privacy is not a duration`},
		{"400", `1:32: max_cookie_lifetime of privacy must be a duration such as 400d or 13mo, got an integer (400)`},
		{"null", `1:32: max_cookie_lifetime of privacy must be a duration such as 400d or 13mo, got null`},
		{"true", `1:32: max_cookie_lifetime of privacy must be a duration such as 400d or 13mo, got a boolean (true)`},
		{"[13mo]", `1:32: max_cookie_lifetime of privacy must be a duration such as 400d or 13mo, got a list`},
	}
	for _, tc := range bad {
		src := "privacy: {max_cookie_lifetime: " + tc.value + "}\n" + privacyServices
		_, err := Parse("mesh.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "mesh.yaml:"+tc.want) {
			t.Errorf("%s: err = %v, want mesh.yaml:%s", tc.value, err, tc.want)
		}
	}
}
