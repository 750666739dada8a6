package httpcookie

import (
	"net/http"
	"strings"
	"time"
)

// The reference parsers: the same contract built directly on net/http's
// ParseCookie and ParseSetCookie, one cookie at a time. The production
// parsers must agree with them on every input (FuzzParseRequest,
// FuzzParseResponse); they only avoid net/http's allocations.

func refParseRequest(header string, dst []Observation, bad []Malformed) ([]Observation, []Malformed) {
	n := 0
	for rest := header; rest != ""; {
		var piece string
		piece, rest, _ = strings.Cut(rest, ";")
		piece = strings.Trim(piece, " \t\r\n")
		if piece == "" {
			continue
		}
		if n == MaxCookiesPerHeader {
			bad = append(bad, TooMany)
			break
		}
		n++
		cs, err := http.ParseCookie(piece)
		if err != nil || len(cs) != 1 {
			bad = append(bad, pairReason(piece, false))
			continue
		}
		c := cs[0]
		dst = append(dst, Observation{Name: c.Name, Source: Request, ValueClass: Classify(c.Value), ValueHash: hashValue(c.Value)})
	}
	return dst, bad
}

func refParseResponse(header string, now time.Time, dst []Observation, bad []Malformed) ([]Observation, []Malformed) {
	n := 0
	for _, line := range SplitSetCookie(header) {
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		if n == MaxCookiesPerHeader {
			bad = append(bad, TooMany)
			break
		}
		n++
		c, err := http.ParseSetCookie(line)
		if err != nil {
			pair, _, _ := strings.Cut(line, ";")
			bad = append(bad, pairReason(strings.Trim(pair, " \t\r\n"), true))
			continue
		}
		o, ok := refResponseObservation(c, now)
		dst = append(dst, o)
		if !ok {
			bad = append(bad, BadAttribute)
		}
	}
	return dst, bad
}

// pairReason explains why net/http refused a name=value pair.
func pairReason(pair string, setCookie bool) Malformed {
	name, _, found := strings.Cut(pair, "=")
	if setCookie {
		name = strings.Trim(name, " \t\r\n")
	}
	switch {
	case !found:
		return NoEquals
	case name == "":
		return NoName
	case !isToken(name):
		return BadName
	}
	return BadValue
}

func refResponseObservation(c *http.Cookie, now time.Time) (Observation, bool) {
	o := Observation{
		Name:        c.Name,
		Source:      Response,
		Domain:      NormalizeDomain(c.Domain),
		Path:        c.Path,
		Secure:      c.Secure,
		HTTPOnly:    c.HttpOnly,
		Partitioned: c.Partitioned,
		ValueClass:  Classify(c.Value),
		ValueHash:   hashValue(c.Value),
	}
	ok := true
	switch c.SameSite {
	case http.SameSiteStrictMode:
		o.SameSite = "Strict"
	case http.SameSiteLaxMode:
		o.SameSite = "Lax"
	case http.SameSiteNoneMode:
		o.SameSite = "None"
	case http.SameSiteDefaultMode:
		ok = false
	}
	expires := c.Expires
	expiresFixed := false
	if expires.IsZero() && c.RawExpires != "" {
		expires, expiresFixed = parseLegacyDate(c.RawExpires)
	}
	switch {
	case c.MaxAge > 0:
		o.MaxAgeS, o.HasMaxAge = int64(c.MaxAge), true
	case c.MaxAge < 0:
		o.MaxAgeS, o.HasMaxAge = 0, true
	case !expires.IsZero():
		o.MaxAgeS, o.HasMaxAge = max(expires.Unix()-now.Unix(), 0), true
	}
	for _, u := range c.Unparsed {
		attr, _, _ := strings.Cut(u, "=")
		attr = strings.Trim(attr, " \t\r\n")
		if expiresFixed && strings.EqualFold(attr, "expires") {
			continue
		}
		if knownAttribute(attr) {
			ok = false
		}
	}
	return o, ok
}
