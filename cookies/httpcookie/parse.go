package httpcookie

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"time"
)

// MaxCookiesPerHeader bounds the cookies taken from one Cookie header or one
// folded Set-Cookie header; the rest is counted once as TooMany. Browsers
// keep at most 180 cookies per domain, so a longer header is not a browser's.
const MaxCookiesPerHeader = 180

// Source says which header a cookie was seen in.
type Source uint8

// The two sources of SPEC §6 "sources".
const (
	Request  Source = iota // the request's Cookie header
	Response               // a Set-Cookie response header
)

// String returns "request" or "response".
func (s Source) String() string {
	switch s {
	case Request:
		return "request"
	case Response:
		return "response"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Source) MarshalText() ([]byte, error) {
	if s > Response {
		return nil, fmt.Errorf("invalid cookie source %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// Observation is one cookie seen in one header. It holds no value: only the
// value's class and a salted hash. Name, Domain and Path may share memory
// with the parsed header; copy them (strings.Clone) to keep them past the
// entry, as the Inventory does.
type Observation struct {
	Name   string
	Source Source
	// Domain is the Set-Cookie Domain attribute, lower-cased and without the
	// leading dot RFC 6265 §5.2.3 ignores; "" when absent.
	Domain      string
	Path        string // "" when absent
	Secure      bool
	HTTPOnly    bool
	Partitioned bool
	SameSite    string // "Strict", "Lax", "None", or "" when absent or unrecognized
	// MaxAgeS is the lifetime in seconds: Max-Age when present (0 for a
	// deletion), else Expires minus the entry time (0 when already past).
	MaxAgeS    int64
	HasMaxAge  bool // false for session cookies
	ValueClass ValueClass
	// ValueHash is the value hashed with a random salt chosen at process
	// start, for distinct-value counts. It is meaningless outside this
	// process and never serialized; 0 means unknown.
	ValueHash uint64 `json:"-"`
}

// Malformed is why a cookie, or the rest of a header, was not taken.
type Malformed uint8

// The closed set of reasons, the values of the reason label of
// mesh_cookies_malformed_total.
const (
	NoEquals     Malformed = iota // "sid" without '=' (RFC 6265bis would make it a nameless cookie)
	NoName                        // "=abc"
	BadName                       // a name that is not an RFC 9110 token
	BadValue                      // a value with bytes RFC 6265 forbids (DQUOTE inside, backslash, controls, non-ASCII)
	BadAttribute                  // a Set-Cookie attribute with an invalid value (Max-Age=abc, a date no browser parses, SameSite=Bogus)
	TooMany                       // more than MaxCookiesPerHeader cookies in one header; the rest is dropped
	NumMalformed                  // the number of reasons; not a reason
)

var malformedNames = [NumMalformed]string{"no_equals", "no_name", "bad_name", "bad_value", "bad_attribute", "too_many"}

// String returns the reason as used in metrics and reports ("bad_name").
func (m Malformed) String() string {
	if m < NumMalformed {
		return malformedNames[m]
	}
	return fmt.Sprintf("Malformed(%d)", uint8(m))
}

// ParseMalformed returns the reason named s and whether it exists.
func ParseMalformed(s string) (Malformed, bool) {
	for i, n := range malformedNames {
		if n == s {
			return Malformed(i), true
		}
	}
	return 0, false
}

// valueSeed salts ValueHash. It lives only in this process's memory, so a
// hash that escaped could not be tested against guessed values elsewhere.
var valueSeed = maphash.MakeSeed()

func hashValue(v string) uint64 { return maphash.String(valueSeed, v) }

// ParseRequest appends the cookies of a request Cookie header
// ("a=1; b=2") to dst, and the reason for every piece it could not take to
// bad. A malformed piece never hides the others.
//
// It accepts and rejects exactly what net/http's ParseCookie does for each
// piece (the differential fuzz tests hold it to that), without allocating:
// net/http builds a *Cookie per cookie, which costs more than the whole
// per-record budget on this hot path.
func ParseRequest(header string, dst []Observation, bad []Malformed) ([]Observation, []Malformed) {
	n := 0
	for rest := header; rest != ""; {
		var piece string
		piece, rest, _ = strings.Cut(rest, ";")
		piece = trimSpace(piece)
		if piece == "" {
			continue
		}
		if n == MaxCookiesPerHeader {
			bad = append(bad, TooMany)
			break
		}
		n++
		name, value, reason, ok := scanPair(piece, false)
		if !ok {
			bad = append(bad, reason)
			continue
		}
		dst = append(dst, Observation{Name: name, Source: Request, ValueClass: Classify(value), ValueHash: hashValue(value)})
	}
	return dst, bad
}

// scanPair splits and checks a name=value pair as net/http does: the name
// must be a token (Set-Cookie trims it first), the value may be
// double-quoted and must consist of RFC 6265 cookie-octets plus space and
// comma.
func scanPair(pair string, trimName bool) (name, value string, reason Malformed, ok bool) {
	name, raw, found := strings.Cut(pair, "=")
	if trimName {
		name = trimSpace(name)
	}
	switch {
	case !found:
		return "", "", NoEquals, false
	case name == "":
		return "", "", NoName, false
	case !isToken(name):
		return "", "", BadName, false
	}
	value, ok = cookieValue(raw, true)
	if !ok {
		return "", "", BadValue, false
	}
	return name, value, 0, true
}

// cookieValue is net/http's parseCookieValue: it strips one pair of
// surrounding quotes (from cookie values only) and checks every byte.
func cookieValue(raw string, allowQuote bool) (string, bool) {
	if allowQuote && len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return "", false
		}
	}
	return raw, true
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ParseResponse appends the cookies of a logged set-cookie header to dst.
// Envoy joins repeated response headers with ",", so
// "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT, b=2; Path=/" holds two
// cookies: it is split only where a new name= starts after a comma (see
// SplitSetCookie). now is the entry's time, to turn Expires into MaxAgeS;
// the zero time means time.Now(). A malformed cookie is counted in bad and
// never hides the others.
//
// Each cookie is read as net/http's ParseSetCookie reads it (held to that by
// differential fuzz tests), without its allocations; in addition, Expires
// dates in the older formats browsers still accept are understood.
func ParseResponse(header string, now time.Time, dst []Observation, bad []Malformed) ([]Observation, []Malformed) {
	n := 0
	for rest := header; rest != ""; {
		var line string
		line, rest = nextSetCookie(rest)
		line = trimSpace(line)
		if line == "" {
			continue
		}
		if n == MaxCookiesPerHeader {
			bad = append(bad, TooMany)
			break
		}
		n++
		if now.IsZero() {
			now = time.Now()
		}
		o, reason, refused, badAttr := scanSetCookie(line, now)
		if refused {
			bad = append(bad, reason)
			continue
		}
		dst = append(dst, o)
		if badAttr {
			bad = append(bad, BadAttribute)
		}
	}
	return dst, bad
}

// SameSite as net/http records it: absent, present but unrecognized, or one
// of the three modes.
const (
	sameSiteAbsent uint8 = iota
	sameSiteInvalid
	sameSiteStrict
	sameSiteLax
	sameSiteNone
)

// scanSetCookie reads one Set-Cookie line. refused is true when net/http
// would refuse it (reason says why); badAttr when an attribute browsers
// know has a value they would ignore.
func scanSetCookie(line string, now time.Time) (o Observation, reason Malformed, refused, badAttr bool) {
	pair, attrList, _ := strings.Cut(line, ";")
	name, value, reason, ok := scanPair(trimSpace(pair), true)
	if !ok {
		return Observation{}, reason, true, false
	}
	o = Observation{Name: name, Source: Response, ValueClass: Classify(value), ValueHash: hashValue(value)}
	var a setCookieAttrs
	for rest := attrList; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		part = trimSpace(part)
		if part == "" {
			continue
		}
		attr, raw, _ := strings.Cut(part, "=")
		if !isPrintable(attr) {
			continue // net/http skips these silently
		}
		val, ok := cookieValue(raw, false)
		code := attrUnknown
		if ok {
			code = attrCode(attr)
		}
		if !a.set(&o, code, val) {
			switch name := trimSpace(attr); {
			case strings.EqualFold(name, "expires"):
				a.expiresUnparsed = true
			case knownAttribute(name):
				a.badAttr = true
			}
		}
	}
	return o, 0, false, a.finish(&o, now)
}

// setCookieAttrs gathers the attributes of one Set-Cookie line that are
// only known once the whole line is read.
type setCookieAttrs struct {
	maxAge          int
	expires         time.Time
	rawExpires      string
	domain          string
	sameSite        uint8
	expiresUnparsed bool
	badAttr         bool
}

// set applies the attribute code with value val to o or a. It returns
// false when the value is not one net/http takes (or code is unknown).
func (a *setCookieAttrs) set(o *Observation, code uint8, val string) bool {
	switch code {
	case attrUnknown:
		return false
	case attrSameSite:
		a.sameSite = sameSiteOf(val)
	case attrSecure:
		o.Secure = true
	case attrHTTPOnly:
		o.HTTPOnly = true
	case attrPartitioned:
		o.Partitioned = true
	case attrDomain:
		a.domain = val
	case attrPath:
		o.Path = val
	case attrMaxAge:
		secs, err := strconv.Atoi(val)
		if err != nil || secs != 0 && val[0] == '0' {
			return false
		}
		if secs <= 0 {
			secs = -1 // a deletion, as net/http records it
		}
		a.maxAge = secs
	case attrExpires:
		a.rawExpires = val
		var ok bool
		if a.expires, ok = parseExpires(val); !ok {
			return false
		}
	}
	return true
}

func sameSiteOf(val string) uint8 {
	switch {
	case !isPrintable(val):
		return sameSiteInvalid
	case strings.EqualFold(val, "lax"):
		return sameSiteLax
	case strings.EqualFold(val, "strict"):
		return sameSiteStrict
	case strings.EqualFold(val, "none"):
		return sameSiteNone
	}
	return sameSiteInvalid
}

// finish sets o's domain, SameSite and lifetime (relative to now) and
// returns whether an attribute browsers know had a value they ignore.
func (a *setCookieAttrs) finish(o *Observation, now time.Time) (badAttr bool) {
	o.Domain = NormalizeDomain(a.domain)
	switch a.sameSite {
	case sameSiteStrict:
		o.SameSite = "Strict"
	case sameSiteLax:
		o.SameSite = "Lax"
	case sameSiteNone:
		o.SameSite = "None"
	case sameSiteInvalid:
		a.badAttr = true
	}
	if a.expires.IsZero() && a.rawExpires != "" {
		var fixed bool
		if a.expires, fixed = parseLegacyDate(a.rawExpires); fixed {
			a.expiresUnparsed = false
		}
	}
	switch {
	case a.maxAge > 0:
		o.MaxAgeS, o.HasMaxAge = int64(a.maxAge), true
	case a.maxAge < 0:
		o.MaxAgeS, o.HasMaxAge = 0, true
	case !a.expires.IsZero():
		o.MaxAgeS, o.HasMaxAge = max(a.expires.Unix()-now.Unix(), 0), true
	}
	return a.badAttr || a.expiresUnparsed
}

// Set-Cookie attributes net/http interprets.
const (
	attrUnknown uint8 = iota
	attrSameSite
	attrSecure
	attrHTTPOnly
	attrPartitioned
	attrDomain
	attrPath
	attrMaxAge
	attrExpires
)

// attrCode matches an attribute name case-insensitively, looking at its
// length first so that most names cost one comparison.
func attrCode(a string) uint8 {
	switch len(a) {
	case 4:
		if strings.EqualFold(a, "path") {
			return attrPath
		}
	case 6:
		switch {
		case strings.EqualFold(a, "secure"):
			return attrSecure
		case strings.EqualFold(a, "domain"):
			return attrDomain
		}
	case 7:
		switch {
		case strings.EqualFold(a, "max-age"):
			return attrMaxAge
		case strings.EqualFold(a, "expires"):
			return attrExpires
		}
	case 8:
		switch {
		case strings.EqualFold(a, "samesite"):
			return attrSameSite
		case strings.EqualFold(a, "httponly"):
			return attrHTTPOnly
		}
	case 11:
		if strings.EqualFold(a, "partitioned") {
			return attrPartitioned
		}
	}
	return attrUnknown
}

// parseExpires reads an Expires date as net/http does (RFC 1123, then
// "Mon, 02-Jan-2006 15:04:05 MST"). The usual " GMT" zone is cut off and
// parsed as UTC first: parsing a zone name allocates a *time.Location.
func parseExpires(v string) (time.Time, bool) {
	if d, ok := strings.CutSuffix(v, " GMT"); ok {
		for _, layout := range [...]string{"Mon, 02 Jan 2006 15:04:05", "Mon, 02-Jan-2006 15:04:05"} {
			if t, err := time.Parse(layout, d); err == nil {
				return t, true
			}
		}
	}
	for _, layout := range [...]string{time.RFC1123, "Mon, 02-Jan-2006 15:04:05 MST"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// knownAttribute reports whether browsers interpret attr; unknown ones
// (Priority, SameParty, Comment, Version) are ignored by them and by us.
func knownAttribute(attr string) bool { return attrCode(attr) != attrUnknown }

// legacyDateLayouts are Expires formats browsers accept that net/http does
// not (it takes RFC 1123 and "Mon, 02-Jan-2006 15:04:05 MST").
var legacyDateLayouts = [...]string{
	time.RFC850,                   // Wednesday, 21-Oct-26 07:28:00 GMT
	"Mon, 02-Jan-06 15:04:05 MST", // original Netscape spec
	time.ANSIC,                    // Wed Oct 21 07:28:00 2026
	time.RFC1123Z,                 // Wed, 21 Oct 2026 07:28:00 +0000
	"Mon, 02 Jan 2006 15:04:05",   // zone omitted: UTC
	"Monday, 02-Jan-2006 15:04:05 MST",
}

func parseLegacyDate(s string) (time.Time, bool) {
	for _, layout := range legacyDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// NormalizeDomain returns a Domain attribute as compared and reported:
// lower-cased, without the leading dot RFC 6265 §5.2.3 ignores.
func NormalizeDomain(d string) string {
	d = strings.TrimPrefix(d, ".")
	return strings.ToLower(d)
}

// tokenBytes marks the RFC 9110 tchars.
var tokenBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = isAlpha(byte(c)) || isDigit(byte(c)) || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

func isTokenByte(c byte) bool { return tokenBytes[c] }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// trimSpace trims the ASCII whitespace net/http trims (textproto.TrimString).
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// SplitSetCookie splits a Set-Cookie header that Envoy folded with "," into
// the original header lines, without trimming them. It splits only at a
// comma followed (after spaces) by a token and '=', which an Expires date
// ("Wed, 21 Oct 2026") never is, and never inside a double-quoted value.
// A cookie value that itself contains ", name=" is ambiguous once folded and
// is split; RFC 6265 forbids commas in values.
func SplitSetCookie(header string) []string {
	var lines []string
	for rest := header; rest != ""; {
		var line string
		line, rest = nextSetCookie(rest)
		lines = append(lines, line)
	}
	return lines
}

// nextSetCookie returns the first folded line of s and the rest after the
// separating comma.
func nextSetCookie(s string) (line, rest string) {
	inPair := true // in the name=value pair, before the first ';'
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ';':
			inPair = false
		case '"':
			// A quoted value may hold commas but never ';', so an
			// unterminated quote does not swallow the next cookie.
			if inPair && i > 0 && s[i-1] == '=' {
				rest := s[i+1:]
				if semi := strings.IndexByte(rest, ';'); semi >= 0 {
					rest = rest[:semi]
				}
				if j := strings.IndexByte(rest, '"'); j >= 0 {
					i += j + 1
				}
			}
		case ',':
			if startsCookie(s[i+1:]) {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// startsCookie reports whether s, after spaces, is a name (possibly empty,
// as browsers accept "=v") and optional spaces followed by '='. Splitting on
// such names too keeps a nameless or oddly spaced cookie out of the previous
// cookie's Domain or Path, where its value would otherwise be reported.
func startsCookie(s string) bool {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for i < len(s) && isTokenByte(s[i]) {
		i++
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i < len(s) && s[i] == '='
}
