package cookies

import (
	"strconv"
	"strings"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// Finding codes of SPEC §6, the values of mesh_cookies' finding label.
const (
	FindingMissingSecure        = "missing-secure"
	FindingMissingHTTPOnly      = "missing-httponly"
	FindingSameSiteNoneInsecure = "samesite-none-insecure"
	FindingLongLifetime         = "long-lifetime"
	FindingPIIValue             = "pii-value"
	FindingUndeclared           = "undeclared"
	FindingThirdPartyDomain     = "third-party-domain"
	// FindingNone labels the cookies with no finding in mesh_cookies.
	FindingNone = "none"
)

// Findings lists every finding code in report order.
var Findings = []string{
	FindingMissingSecure, FindingMissingHTTPOnly, FindingSameSiteNoneInsecure, FindingLongLifetime,
	FindingPIIValue, FindingUndeclared, FindingThirdPartyDomain,
}

// MaxLifetimeS is the longest lifetime browsers grant (400 days, RFC
// 6265bis): the long-lifetime finding's threshold unless the catalog's
// privacy.max_cookie_lifetime sets another.
const MaxLifetimeS = 400 * 24 * 3600

// cnilLifetimeS is the CNIL's limit for tracking cookies, 13 months.
const cnilLifetimeS = 13 * catalog.MonthSeconds

// LifetimeRule is the long-lifetime finding's threshold, as reports state
// it: a cookie set to live longer than MaxLifetimeS is flagged.
type LifetimeRule struct {
	// MaxLifetimeS is the longest lifetime not flagged, in seconds.
	MaxLifetimeS int64 `json:"max_lifetime_s"`
	// Setting is the catalog's privacy.max_cookie_lifetime as written
	// ("400d", "13mo"); the default's is "400d".
	Setting string `json:"setting"`
	// Rule says which rule that is, for people: "over 13 months (CNIL)",
	// "over 400 days (browser cap)", "over 180 days".
	Rule string `json:"rule"`
}

// NewLifetimeRule describes the limit l (catalog.Catalog.CookieLifetime).
func NewLifetimeRule(l catalog.CookieLifetime) LifetimeRule {
	r := LifetimeRule{MaxLifetimeS: l.Seconds, Setting: l.Text}
	switch {
	case l.Seconds == MaxLifetimeS:
		r.Rule = "over 400 days (browser cap)"
	case l.Seconds == cnilLifetimeS:
		r.Rule = "over 13 months (CNIL)"
	case l.Seconds%catalog.MonthSeconds == 0 && strings.HasSuffix(l.Text, "mo"):
		r.Rule = "over " + plural(l.Seconds/catalog.MonthSeconds, "month")
	case l.Seconds%86400 == 0:
		r.Rule = "over " + plural(l.Seconds/86400, "day")
	default:
		r.Rule = "over " + l.Text
	}
	return r
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// declaredName reports whether name is in a catalog cookies: list. An entry
// ending in '*' declares every name with that prefix ("_ga_*").
func declaredName(name string, list []string) bool {
	for _, d := range list {
		if d == name || strings.HasSuffix(d, "*") && strings.HasPrefix(name, d[:len(d)-1]) {
			return true
		}
	}
	return false
}

// findingsContext is what findings need beyond the entry itself.
type findingsContext struct {
	maxLifetimeS int64    // longer is long-lifetime (LifetimeRule)
	declared     []string // the catalog's cookies: list, nil when none
	domains      []string // the catalog's domains: list
	authorities  map[string]struct{}
}

// findings returns e's finding codes in the order of Findings. Attribute
// findings concern the latest Set-Cookie: a cookie only seen in requests was
// set elsewhere (JavaScript) and has none.
func (e *entry) findings(fc findingsContext) []string {
	out := []string{}
	if e.attrsAt != 0 {
		a := e.attrs
		if !a.secure {
			out = append(out, FindingMissingSecure)
		}
		if !a.httpOnly {
			out = append(out, FindingMissingHTTPOnly)
		}
		if sameSiteNames[a.sameSite] == "None" && !a.secure {
			out = append(out, FindingSameSiteNoneInsecure)
		}
		if a.hasMaxAge && a.maxAgeS > fc.maxLifetimeS {
			out = append(out, FindingLongLifetime)
		}
	}
	for c, n := range e.classes {
		if n > 0 && httpcookie.ValueClass(c).IsPII() {
			out = append(out, FindingPIIValue)
			break
		}
	}
	if len(fc.declared) > 0 && !declaredName(e.name, fc.declared) {
		out = append(out, FindingUndeclared)
	}
	if e.domain != "" && !ownDomain(e.domain, fc.authorities, fc.domains) {
		out = append(out, FindingThirdPartyDomain)
	}
	return out
}
