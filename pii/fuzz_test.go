package pii

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Independent oracles, written the obvious way, for the plainest forms of
// each kind: a unit one of them matches must be masked, a UUID never.
var (
	plainEmail = regexp.MustCompile(`^[A-Za-z0-9._+-]*[A-Za-z0-9][A-Za-z0-9._+-]*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$`)
	plainCard  = regexp.MustCompile(`^[0-9]{13,19}$`)
	plainHex   = regexp.MustCompile(`^[0-9a-f]{32,}$`)
	plainUUID  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// An address in a user agent, followed by something that cannot
	// continue its domain; the group is the TLD.
	emailInText = regexp.MustCompile(`[A-Za-z0-9]@[A-Za-z0-9-]+\.([A-Za-z]{2,})(?:$|[^A-Za-z0-9.-])`)
)

func luhn(digits string) bool {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			d = [10]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}[d]
		}
		sum += d
	}
	return sum%10 == 0
}

// oracleKind returns what the plain oracles say about a decoded unit:
// a kind that must be masked, or keep when it must stay.
func oracleKind(d string) (k Kind, mustMask, keep bool) {
	hasLetter := strings.ContainsAny(d, "abcdef")
	hasDigit := strings.ContainsAny(d, "0123456789")
	switch {
	case plainEmail.MatchString(d) && !isFileExt(d[strings.LastIndexByte(d, '.')+1:]):
		return Email, true, false
	case plainCard.MatchString(d) && luhn(d):
		return Card, true, false
	case plainHex.MatchString(d) && hasLetter && hasDigit:
		return Token, true, false
	case plainUUID.MatchString(d):
		return 0, false, true
	}
	return 0, false, false
}

func FuzzPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.in)
	}
	for _, p := range cleanPaths {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var c Counts
		out := Path(in, &c)
		if c.Total() == 0 && out != in {
			t.Fatalf("Path(%q) = %q without counting a mask", in, out)
		}
		var again Counts
		if twice := Path(out, &again); twice != out || again.Total() != 0 {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, twice)
		}
		inPath, inQuery, inHasQuery := strings.Cut(in, "?")
		outPath, outQuery, outHasQuery := strings.Cut(out, "?")
		if inHasQuery != outHasQuery {
			t.Fatalf("Path(%q) = %q: query string appeared or vanished", in, out)
		}
		checkUnits(t, in, out, strings.Split(inPath, "/"), strings.Split(outPath, "/"), url.PathUnescape)
		if inHasQuery {
			checkUnits(t, in, out, queryUnits(inQuery), queryUnits(outQuery), url.QueryUnescape)
		}
	})
}

func queryUnits(q string) []string {
	var units []string
	for _, p := range strings.Split(q, "&") {
		name, value, ok := strings.Cut(p, "=")
		units = append(units, name)
		if ok {
			units = append(units, value)
		}
	}
	return units
}

// checkUnits checks, unit by unit, that masking kept the structure, put a
// placeholder for every unit that qualified and nothing else, and obeyed
// the oracles. Units with path parameters are checked by the oracles only.
func checkUnits(t *testing.T, in, out string, ins, outs []string, unescape func(string) (string, error)) {
	t.Helper()
	if len(ins) != len(outs) {
		t.Fatalf("Path(%q) = %q: %d units became %d", in, out, len(ins), len(outs))
	}
	for i, u := range ins {
		d, err := unescape(u)
		if err != nil {
			continue // malformed escapes: stay literal, covered by idempotence
		}
		if k, must, keep := oracleKind(d); must && outs[i] != k.Placeholder() || keep && outs[i] != u {
			t.Fatalf("Path(%q) = %q: unit %q (decoded %q) became %q", in, out, u, d, outs[i])
		}
		if strings.Contains(u, ";") {
			continue
		}
		want := u
		if k, ok := judge(d, classesOf(d)); ok {
			want = k.Placeholder()
		}
		if outs[i] != want {
			t.Fatalf("Path(%q) = %q: unit %q (decoded %q) became %q, want %q", in, out, u, d, outs[i], want)
		}
	}
}

func FuzzUserAgent(f *testing.F) {
	for _, s := range []string{
		"", "curl/8.5.0", "Mozilla/5.0 (compatible; FooBot/1.0; +mailto:ops@example.com)",
		"crawler (contact jane.doe@example.com, bob@example.org)", "bot (ops%40example.com)",
		"a@b.co@c.org", "x%40a.bb@c.dd", "a@b.cc9 a@b.cc-x@d.org", "lib@1.2.3 @scope/pkg",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var c Counts
		out := UserAgent(in, &c)
		if !strings.Contains(in, "@") && !strings.Contains(in, "%40") && out != in {
			t.Fatalf("UserAgent(%q) = %q without an @", in, out)
		}
		if got := uint32(strings.Count(out, "{email}") - strings.Count(in, "{email}")); got != c[Email] || c.Total() != got {
			t.Fatalf("UserAgent(%q) = %q: %d placeholders, counts %v", in, out, got, c)
		}
		if twice := UserAgent(out, nil); twice != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, twice)
		}
		for _, m := range emailInText.FindAllStringSubmatch(out, -1) {
			if !isFileExt(m[1]) {
				t.Fatalf("UserAgent(%q) = %q still holds an address (%q)", in, out, m[0])
			}
		}
	})
}
