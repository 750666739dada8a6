package httpcookie

import (
	"fmt"
	"net/netip"
	"strings"
)

// ValueClass is what a cookie value looks like, the only trace of the value
// that leaves the parser.
type ValueClass uint8

// The value classes of SPEC §2, plus Phone for the pii-value finding.
const (
	Empty      ValueClass = iota // ""
	Numeric                      // 1732527600, -1, 3.5
	UUID                         // 8-4-4-4-12 hex digits
	Hex                          // 8+ hex digits, not all decimal, letters in one case
	Base64                       // at least 12 characters of the standard or URL alphabet, mixed
	JWT                          // a JWS/JWE compact serialization: eyJ….eyJ….sig
	Email                        // contains local@domain.tld (also %40-encoded)
	IP                           // an IPv4 or IPv6 address
	Phone                        // +41 44 668 18 00, 415-555-0123
	Opaque                       // anything else
	NumClasses                   // the number of classes; not a class
)

var classNames = [NumClasses]string{"empty", "numeric", "uuid", "hex", "base64", "jwt", "email", "ip", "phone", "opaque"}

// String returns the class as written in records and reports ("opaque").
func (c ValueClass) String() string {
	if c < NumClasses {
		return classNames[c]
	}
	return fmt.Sprintf("ValueClass(%d)", uint8(c))
}

// MarshalText implements encoding.TextMarshaler.
func (c ValueClass) MarshalText() ([]byte, error) {
	if c >= NumClasses {
		return nil, fmt.Errorf("invalid value class %d", uint8(c))
	}
	return []byte(classNames[c]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *ValueClass) UnmarshalText(b []byte) error {
	v, ok := ParseValueClass(string(b))
	if !ok {
		return fmt.Errorf("unknown value class %q", b)
	}
	*c = v
	return nil
}

// ParseValueClass returns the class named s ("uuid") and whether it exists.
func ParseValueClass(s string) (ValueClass, bool) {
	for i, n := range classNames {
		if n == s {
			return ValueClass(i), true
		}
	}
	return 0, false
}

// IsPII reports whether a value of this class is personal data on its face
// (SPEC §6 pii-value: an e-mail address, IP address or phone number).
func (c ValueClass) IsPII() bool { return c == Email || c == IP || c == Phone }

// Classify returns the class of a cookie value. It does not allocate and
// keeps nothing of v. More specific classes win: a JWT is never reported as
// base64, a value embedding an e-mail address is Email whatever surrounds it,
// because a privacy reviewer must see the address before anything else.
func Classify(v string) ValueClass {
	if v == "" {
		return Empty
	}
	// One pass collects which kinds of bytes occur; each test below runs
	// only when the value holds nothing its class forbids.
	var m byteKind
	for i := 0; i < len(v); i++ {
		m |= byteKinds[v[i]]
	}
	only := func(allowed byteKind) bool { return m&^allowed == 0 }
	switch {
	case only(kAlnum|kDash|kUnderscore|kDot) && isJWT(v):
		return JWT
	case only(kDigit|kHexLetter|kDash|kBrace) && isUUID(v):
		return UUID
	case only(kDigit|kHexLetter|kPlus|kDash|kDot|kSpace|kParen|kPercent) && isPhone(v):
		return Phone
	case only(kDigit|kDash|kDot) && isNumeric(v):
		return Numeric
	case only(kDigit|kHexLetter|kDot|kColon) && isIP(v):
		return IP
	case m&(kAt|kPercent) != 0 && hasEmail(v):
		return Email
	case only(kDigit|kHexLetter) && isHex(v):
		return Hex
	case only(kAlnum|kPlus|kSlash|kDash|kUnderscore|kEquals) && isBase64(v):
		return Base64
	}
	return Opaque
}

// byteKind is a set of byte categories, for Classify's single pass.
type byteKind uint16

const (
	kDigit     byteKind = 1 << iota
	kHexLetter          // a-f, A-F
	kLetter             // g-z, G-Z
	kDot
	kColon
	kDash
	kUnderscore
	kPlus
	kSlash
	kEquals
	kAt
	kPercent
	kSpace
	kParen
	kBrace
	kOther

	kAlnum = kDigit | kHexLetter | kLetter
)

var byteKinds = func() (t [256]byteKind) {
	for i := range t {
		c := byte(i)
		switch {
		case isDigit(c):
			t[i] = kDigit
		case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			t[i] = kHexLetter
		case isAlpha(c):
			t[i] = kLetter
		default:
			t[i] = kOther
		}
	}
	for c, k := range map[byte]byteKind{
		'.': kDot, ':': kColon, '-': kDash, '_': kUnderscore, '+': kPlus, '/': kSlash, '=': kEquals,
		'@': kAt, '%': kPercent, ' ': kSpace, '(': kParen, ')': kParen, '{': kBrace, '}': kBrace,
	} {
		t[c] = k
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isHexDigit(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isNumeric(v string) bool {
	if v[0] == '-' {
		v = v[1:]
	}
	digits, dots := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isDigit(c):
			digits++
		case c == '.' && i > 0 && i < len(v)-1:
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

func isUUID(v string) bool {
	if len(v) == 38 && v[0] == '{' && v[37] == '}' {
		v = v[1:37]
	}
	if len(v) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if v[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(v[i]) {
				return false
			}
		}
	}
	return true
}

// isHex wants 8+ hex digits with at least one letter (all-decimal strings are
// Numeric) in a single letter case (mixed case is more likely base64 or text).
func isHex(v string) bool {
	if len(v) < 8 {
		return false
	}
	lower, upper := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isDigit(c):
		case 'a' <= c && c <= 'f':
			lower = true
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return false
		}
	}
	return lower != upper
}

func isBase64URLByte(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '_'
}

// isJWT accepts the JWS (three parts) and JWE (five parts) compact forms
// whose header is a base64url-encoded JSON object ("eyJ" is `{"`).
func isJWT(v string) bool {
	if len(v) < 10 || !strings.HasPrefix(v, "eyJ") {
		return false
	}
	parts := 1
	partLen := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.':
			if partLen == 0 && parts < 2 {
				return false
			}
			parts++
			partLen = 0
		case isBase64URLByte(c):
			partLen++
		default:
			return false
		}
	}
	return parts == 3 || parts == 5
}

// isBase64 wants 12+ characters of one base64 alphabet, padding only at the
// end, and a mix of at least two of upper case, lower case and digits, so
// plain words ("accepted", "enabled") stay opaque.
func isBase64(v string) bool {
	if len(v) < 12 {
		return false
	}
	body := strings.TrimRight(v, "=")
	if len(v)-len(body) > 2 || body == "" {
		return false
	}
	if len(body) < len(v) && len(v)%4 != 0 {
		return false
	}
	std, url := false, false
	var lower, upper, digit bool
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z':
			lower = true
		case 'A' <= c && c <= 'Z':
			upper = true
		case isDigit(c):
			digit = true
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			url = true
		default:
			return false
		}
	}
	if std && url {
		return false
	}
	mix := 0
	for _, b := range [3]bool{lower, upper, digit} {
		if b {
			mix++
		}
	}
	return mix >= 2
}

// isIP accepts a bare IPv4 or IPv6 address (IPv6 colons may be %3A-encoded;
// those are checked by the dotted or colon form only).
func isIP(v string) bool {
	if len(v) < 7 || len(v) > 45 {
		return false
	}
	colon := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isHexDigit(c), c == '.':
		case c == ':':
			colon = true
		default:
			return false
		}
	}
	if !colon && strings.Count(v, ".") != 3 {
		return false
	}
	_, err := netip.ParseAddr(v)
	return err == nil
}

// isPhone accepts an international number (+ or %2B or 00, then 8 to 15
// digits) or a national one written with separators (10 or 11 digits and at
// least two of "-. ()"). Undecorated digit runs are Numeric: they are far more
// often ids and Unix timestamps than phone numbers.
func isPhone(v string) bool {
	intl := false
	switch {
	case strings.HasPrefix(v, "+"):
		v, intl = v[1:], true
	case strings.HasPrefix(v, "%2B"), strings.HasPrefix(v, "%2b"):
		v, intl = v[3:], true
	}
	digits, seps := 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isDigit(c):
			digits++
		case c == '-' || c == '.' || c == ' ' || c == '(' || c == ')':
			seps++
		case c == '%' && i+2 < len(v) && v[i+1] == '2' && v[i+2] == '0':
			seps++
			i += 2
		default:
			return false
		}
	}
	if intl {
		return digits >= 8 && digits <= 15
	}
	return (digits == 10 || digits == 11) && seps >= 2
}

func isEmailLocalByte(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '.' || c == '_' || c == '+' || c == '-'
}

func isDomainByte(c byte) bool { return isAlpha(c) || isDigit(c) || c == '-' || c == '.' }

// hasEmail looks for local@domain.tld anywhere in v, with '@' written as is
// or percent-encoded, because applications stuff addresses into composite
// values ("uid=42&mail=jane%40example.com").
func hasEmail(v string) bool {
	for i := 0; i < len(v); i++ {
		at := 0
		switch {
		case v[i] == '@':
			at = 1
		case v[i] == '%' && i+2 < len(v) && v[i+1] == '4' && v[i+2] == '0':
			at = 3
		default:
			continue
		}
		if i == 0 || !isEmailLocalByte(v[i-1]) {
			continue
		}
		if emailDomain(v[i+at:]) {
			return true
		}
	}
	return false
}

// emailDomain reports whether s starts with a domain of at least two labels
// whose last label is 2+ letters.
func emailDomain(s string) bool {
	end := 0
	for end < len(s) && isDomainByte(s[end]) {
		end++
	}
	d := strings.TrimRight(s[:end], ".-")
	dot := strings.LastIndexByte(d, '.')
	if dot <= 0 {
		return false
	}
	tld := d[dot+1:]
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isAlpha(tld[i]) {
			return false
		}
	}
	return true
}
