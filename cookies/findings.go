package cookies

import (
	"strings"

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
// 6265bis); a longer Max-Age or Expires is the long-lifetime finding.
const MaxLifetimeS = 400 * 24 * 3600

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
	declared    []string // the catalog's cookies: list, nil when none
	domains     []string // the catalog's domains: list
	authorities map[string]struct{}
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
		if a.hasMaxAge && a.maxAgeS > MaxLifetimeS {
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
