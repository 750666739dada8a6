package pii

import (
	"encoding/base64"
	"encoding/json"
)

// text is a unit as written (a substring of the input) or percent-decoded
// (a slice of a scratch buffer). The detectors take either, so decoding
// never forces a string conversion and its allocation.
type text interface{ ~string | ~[]byte }

// byteClass is a set of byte categories: one pass over a unit ORs them
// together, and each detector runs only when the unit holds nothing its
// kind forbids.
type byteClass uint16

const (
	cDigit byteClass = 1 << iota
	cLower
	cUpper
	cDash
	cUnderscore
	cDot
	cAt
	cSpace
	cEquals
	cPercent
	cPlus
	cSemicolon
	cOther

	cLetter    = cLower | cUpper
	cBase64URL = cLetter | cDigit | cDash | cUnderscore
)

var byteClasses = func() (t [256]byteClass) {
	for i := range t {
		c := byte(i)
		switch {
		case '0' <= c && c <= '9':
			t[i] = cDigit
		case 'a' <= c && c <= 'z':
			t[i] = cLower
		case 'A' <= c && c <= 'Z':
			t[i] = cUpper
		default:
			t[i] = cOther
		}
	}
	for c, k := range map[byte]byteClass{
		'-': cDash, '_': cUnderscore, '.': cDot, '@': cAt, ' ': cSpace,
		'=': cEquals, '%': cPercent, '+': cPlus, ';': cSemicolon,
	} {
		t[c] = k
	}
	return t
}()

func classesOf[T text](u T) byteClass {
	var m byteClass
	for i := 0; i < len(u); i++ {
		m |= byteClasses[u[i]]
	}
	return m
}

const (
	// minUnit is the shortest unit that can qualify: "a@b.co".
	minUnit = 6
	// minToken is SPEC §2's shortest secret-looking token.
	minToken = 32
)

// judge returns the kind of a (decoded) unit whose byte classes are m.
func judge[T text](u T, m byteClass) (Kind, bool) {
	if len(u) < minUnit {
		return 0, false
	}
	switch {
	case m&(cAt|cPercent) != 0 && hasEmail(u):
		return Email, true
	case m&^(cDigit|cSpace|cDash) == 0 && isCard(u):
		return Card, true
	case m&^(cBase64URL|cDot) == 0 && m&cDot != 0 && isJWT(u):
		return JWT, true
	case len(u) >= minToken && m&^(cBase64URL|cEquals) == 0 &&
		m&cDigit != 0 && m&cLetter != 0 && isToken(u):
		return Token, true
	}
	return 0, false
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return byteClasses[c]&cLetter != 0 }

// isLocalByte accepts the characters of an address's local part that real
// addresses use (RFC 5322 allows more, but not braces: a placeholder must
// never become part of a new address).
func isLocalByte(c byte) bool {
	return byteClasses[c]&(cLetter|cDigit|cDot|cUnderscore|cPlus|cDash) != 0
}

func isDomainByte(c byte) bool { return byteClasses[c]&(cLetter|cDigit|cDot|cDash) != 0 }

func hasEmail[T text](u T) bool {
	_, _, ok := nextEmail(u, 0, 0)
	return ok
}

// nextEmail finds the first address local@domain.tld in s whose "@" (or
// "%40", as double-encoded paths and user agents write it) is at or after
// from, and whose local part does not reach back before floor, the end of
// the previous match. It returns the address's bounds.
func nextEmail[T text](s T, from, floor int) (start, end int, ok bool) {
	for i := from; i < len(s); i++ {
		at := 0
		switch {
		case s[i] == '@':
			at = 1
		case s[i] == '%' && i+2 < len(s) && s[i+1] == '4' && s[i+2] == '0':
			at = 3
		default:
			continue
		}
		if start, end, ok := emailAt(s, i, at, floor); ok {
			return start, end, true
		}
	}
	return 0, 0, false
}

// emailAt reports whether an address surrounds the "@" written as the at
// bytes at i.
func emailAt[T text](s T, i, at, floor int) (start, end int, ok bool) {
	start = i
	alnum := false
	for start > floor && isLocalByte(s[start-1]) {
		start--
		alnum = alnum || byteClasses[s[start]]&(cLetter|cDigit) != 0
	}
	if !alnum {
		return 0, 0, false
	}
	d := i + at
	end = d
	for end < len(s) && isDomainByte(s[end]) {
		end++
	}
	for end > d && (s[end-1] == '.' || s[end-1] == '-') {
		end--
	}
	dot := lastDot(s, d, end)
	// "logo@2x.png" is a retina image, not an address. A file extension is
	// never a TLD, so it is cut off and the rest must still be a domain:
	// "jane@example.com.json" is an address with a format suffix.
	if dot > d && isFileExt(s[dot+1:end]) {
		end = dot
		dot = lastDot(s, d, end)
	}
	if dot <= d || s[d] == '.' || !isTLD(s[dot+1:end]) {
		return 0, 0, false
	}
	return start, end, true
}

// lastDot returns the index of the last '.' in s[d+1:end], or d if none.
func lastDot[T text](s T, d, end int) int {
	dot := end - 1
	for dot > d && s[dot] != '.' {
		dot--
	}
	return max(dot, d)
}

// fileExts are the extensions of files served under names with an "@" that
// are not TLDs (checked against the ICANN section of the Public Suffix List,
// where "map", "zip", "mov" and "md" are TLDs).
var fileExts = [...]string{
	"avif", "bmp", "css", "csv", "gif", "htm", "html", "ico", "jpeg", "jpg",
	"js", "json", "mjs", "pdf", "php", "png", "svg", "txt", "webp", "xml",
}

func isFileExt[T text](t T) bool {
	for _, e := range fileExts {
		if equalFold(t, e) {
			return true
		}
	}
	return false
}

// equalFold reports whether t is e (lower-case ASCII) in any letter case.
func equalFold[T text](t T, e string) bool {
	if len(t) != len(e) {
		return false
	}
	for i := 0; i < len(e); i++ {
		if t[i]|0x20 != e[i] {
			return false
		}
	}
	return true
}

// isTLD accepts two or more letters, or an IDN label (xn--…).
func isTLD[T text](t T) bool {
	if len(t) > 4 && t[0] == 'x' && t[1] == 'n' && t[2] == '-' && t[3] == '-' {
		return true
	}
	if len(t) < 2 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isLetter(t[i]) {
			return false
		}
	}
	return true
}

// isCard accepts 13 to 19 digits, optionally grouped by single spaces or
// dashes, that pass the Luhn check. The caller has checked the byte classes.
func isCard[T text](u T) bool {
	digits, sum := 0, 0
	sep := true // a separator may neither end nor start the number
	for i := len(u) - 1; i >= 0; i-- {
		c := u[i]
		if !isDigit(c) {
			if sep {
				return false
			}
			sep = true
			continue
		}
		d := int(c - '0')
		if digits%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		digits++
		sep = false
		if digits > 19 {
			return false
		}
	}
	return !sep && digits >= 13 && sum%10 == 0
}

// isJWT accepts header.payload.signature in base64url whose header decodes
// to a JSON object with an "alg" member. The caller has checked that u is
// base64url and dots only.
func isJWT[T text](u T) bool {
	dots, first := 0, -1
	for i := 0; i < len(u); i++ {
		if u[i] == '.' {
			if dots++; first < 0 {
				first = i
			}
		}
	}
	if dots != 2 || first < 2 {
		return false
	}
	h := u[:first]
	// The header's first byte, once whitespace is skipped, must open a JSON
	// object: '{' or whitespace, whose first six bits encode as 'e' ('{'),
	// 'I' (space), 'C' (tab, newline) or 'D' (carriage return). That and the
	// first four characters decoded reject dotted names that are not tokens
	// ("app.3f9a2b1c9d0e.js") cheaply.
	switch h[0] {
	case 'e', 'I', 'C', 'D':
	default:
		return false
	}
	var src [4]byte
	var dst [3]byte
	n := copy(src[:], h)
	k, err := base64.RawURLEncoding.Decode(dst[:], src[:n])
	if err != nil || !opensObject(dst[:k]) {
		return false
	}
	return headerHasAlg(h)
}

// opensObject reports whether b, the first bytes of a JSON text, can start
// an object: optional whitespace, then '{'.
func opensObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return len(b) > 0
}

// headerHasAlg decodes a JWT header and looks for a top-level "alg" member.
// It allocates; it runs only when the header starts like a JSON object,
// that is for JWTs.
func headerHasAlg[T text](h T) bool {
	src := make([]byte, len(h))
	copy(src, h)
	b, err := base64.RawURLEncoding.AppendDecode(nil, src)
	if err != nil {
		return false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(b, &members) != nil {
		return false
	}
	_, ok := members["alg"]
	return ok
}

// isToken accepts what judge let through (32+ characters of base64url with
// letters and digits, "=" somewhere) when "=" pads only the end, the unit is
// not a UUID, and it looks random rather than written: at least half of its
// letters and digits sit in dash- or underscore-separated runs that mix
// letters with digits, or change letter case inside ("kTbQ"). Slugs of
// words and numbers ("nike-air-max-270-react-black-2023") and Kubernetes
// names ("cert-manager-cainjector-7f9c6d5b8") fail that; random secrets
// pass it (TestRandomSecrets measures how often).
func isToken[T text](u T) bool {
	body := len(u)
	for body > 0 && u[body-1] == '=' {
		body--
	}
	if len(u)-body > 2 || body < minToken || isUUID(u) {
		return false
	}
	alnum, mixed := 0, 0
	run, cls, innerUpper := 0, byteClass(0), false
	for i := 0; i <= body; i++ {
		if i == body || u[i] == '-' || u[i] == '_' {
			if cls&cDigit != 0 && cls&cLetter != 0 || cls&cLower != 0 && innerUpper {
				mixed += run
			}
			alnum += run
			run, cls, innerUpper = 0, 0, false
			continue
		}
		c := byteClasses[u[i]]
		if c == cEquals {
			return false
		}
		innerUpper = innerUpper || run > 0 && c == cUpper
		cls |= c
		run++
	}
	return mixed > 0 && 2*mixed >= alnum
}

// isUUID accepts the canonical 8-4-4-4-12 hex form, either case.
func isUUID[T text](u T) bool {
	if len(u) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch c := u[i]; i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}
