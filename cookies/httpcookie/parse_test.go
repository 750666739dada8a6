package httpcookie

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var entryTime = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// obs is the comparable part of an Observation (ValueHash is random per
// process and checked separately).
type obs struct {
	Name                          string
	Source                        Source
	Domain, Path                  string
	Secure, HTTPOnly, Partitioned bool
	SameSite                      string
	MaxAgeS                       int64
	HasMaxAge                     bool
	Class                         ValueClass
}

func strip(os []Observation) []obs {
	var out []obs
	for _, o := range os {
		out = append(out, obs{o.Name, o.Source, o.Domain, o.Path, o.Secure, o.HTTPOnly, o.Partitioned, o.SameSite, o.MaxAgeS, o.HasMaxAge, o.ValueClass})
	}
	return out
}

// Every table runs against the production parsers and the net/http
// reference parsers of ref_test.go.
var requestParsers = []struct {
	name  string
	parse func(string, []Observation, []Malformed) ([]Observation, []Malformed)
}{{"fast", ParseRequest}, {"net_http", refParseRequest}}

var responseParsers = []struct {
	name  string
	parse func(string, time.Time, []Observation, []Malformed) ([]Observation, []Malformed)
}{{"fast", ParseResponse}, {"net_http", refParseResponse}}

func req(name string, c ValueClass) obs { return obs{Name: name, Source: Request, Class: c} }

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   []obs
		bad    []Malformed
	}{
		{"empty header", "", nil, nil},
		{"blank header", "  \t ", nil, nil},
		{"RFC 6265 5.4 example", "SID=31d4d96e407aad42; lang=en-US", []obs{req("SID", Hex), req("lang", Opaque)}, nil},
		{"surrounding spaces", "  a=1 ;  b=2  ", []obs{req("a", Numeric), req("b", Numeric)}, nil},
		{"trailing semicolon", "a=1; b=2;", []obs{req("a", Numeric), req("b", Numeric)}, nil},
		{"empty pieces", "a=1;; ;b=2", []obs{req("a", Numeric), req("b", Numeric)}, nil},
		{"quoted value", `q="hello"`, []obs{req("q", Opaque)}, nil},
		{"empty quoted value", `q=""`, []obs{req("q", Empty)}, nil},
		{"empty value", "e=", []obs{req("e", Empty)}, nil},
		{"duplicate names both kept", "a=1; a=2", []obs{req("a", Numeric), req("a", Numeric)}, nil},
		{"value with '=' inside", "b64=YWJjZGVmZ2hpams=", []obs{req("b64", Base64)}, nil},
		{"no equals sign is dropped, not the rest", "a=1; flag; b=2", []obs{req("a", Numeric), req("b", Numeric)}, []Malformed{NoEquals}},
		{"empty name", "=x; b=2", []obs{req("b", Numeric)}, []Malformed{NoName}},
		{"space in name", "a b=1; c=2", []obs{req("c", Numeric)}, []Malformed{BadName}},
		{"separator in name", "a(b)=1; c=2", []obs{req("c", Numeric)}, []Malformed{BadName}},
		{"non-ASCII name", "café=1; c=2", []obs{req("c", Numeric)}, []Malformed{BadName}},
		{"DQUOTE inside value", `a="x"y"; c=2`, []obs{req("c", Numeric)}, []Malformed{BadValue}},
		{"backslash in value", `a=x\y; c=2`, []obs{req("c", Numeric)}, []Malformed{BadValue}},
		{"non-ASCII value", "a=héllo; c=2", []obs{req("c", Numeric)}, []Malformed{BadValue}},
		{"control byte in value", "a=x\x01y; c=2", []obs{req("c", Numeric)}, []Malformed{BadValue}},
		{"every piece bad", "x; =y; a b=1", nil, []Malformed{NoEquals, NoName, BadName}},
		{"value classes", "u=550e8400-e29b-41d4-a716-446655440000; m=jane.doe%40example.com; ip=10.1.2.3; t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
			[]obs{req("u", UUID), req("m", Email), req("ip", IP), req("t", JWT)}, nil},
	}
	for _, impl := range requestParsers {
		for _, tt := range tests {
			t.Run(impl.name+"/"+tt.name, func(t *testing.T) {
				got, bad := impl.parse(tt.header, nil, nil)
				if g := strip(got); !reflect.DeepEqual(g, tt.want) {
					t.Errorf("observations\n got %+v\nwant %+v", g, tt.want)
				}
				if !reflect.DeepEqual(bad, tt.bad) {
					t.Errorf("malformed = %v, want %v", bad, tt.bad)
				}
			})
		}
	}
}

func TestParseRequestTooMany(t *testing.T) {
	var b strings.Builder
	for i := range MaxCookiesPerHeader + 20 {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("c")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("=1")
	}
	got, bad := ParseRequest(b.String(), nil, nil)
	if len(got) != MaxCookiesPerHeader {
		t.Errorf("got %d cookies, want %d", len(got), MaxCookiesPerHeader)
	}
	if !reflect.DeepEqual(bad, []Malformed{TooMany}) {
		t.Errorf("malformed = %v, want [too_many]", bad)
	}
}

func TestParseRequestHugeHeader(t *testing.T) {
	header := "big=" + strings.Repeat("A1b2", 64<<10) + "; small=1"
	got, bad := ParseRequest(header, nil, nil)
	if g := strip(got); !reflect.DeepEqual(g, []obs{req("big", Base64), req("small", Numeric)}) || bad != nil {
		t.Errorf("got %+v, %v", g, bad)
	}
}

func TestParseAppends(t *testing.T) {
	dst := []Observation{{Name: "keep"}}
	bad := []Malformed{TooMany}
	dst, bad = ParseRequest("a=1; x", dst, bad)
	dst, bad = ParseResponse("b=2; Max-Age=abc", entryTime, dst, bad)
	if len(dst) != 3 || dst[0].Name != "keep" || dst[1].Name != "a" || dst[2].Name != "b" {
		t.Errorf("dst = %+v", dst)
	}
	if !reflect.DeepEqual(bad, []Malformed{TooMany, NoEquals, BadAttribute}) {
		t.Errorf("bad = %v", bad)
	}
}

func TestValueHash(t *testing.T) {
	a, _ := ParseRequest("x=same; y=same; z=other", nil, nil)
	r, _ := ParseResponse("w=same; Path=/", entryTime, nil, nil)
	if a[0].ValueHash != a[1].ValueHash || a[0].ValueHash != r[0].ValueHash {
		t.Error("equal values hash differently")
	}
	if a[0].ValueHash == a[2].ValueHash {
		t.Error("different values hash equally")
	}
	if a[0].ValueHash == hashUnsalted("same") {
		t.Error("hash is not salted")
	}
}

func hashUnsalted(s string) uint64 {
	// FNV-1a: what an unsalted hash would give.
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func resp(name string, mod func(*obs)) obs {
	o := obs{Name: name, Source: Response, Class: Numeric}
	if mod != nil {
		mod(&o)
	}
	return o
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   []obs
		bad    []Malformed
	}{
		{"empty", "", nil, nil},
		{"RFC 6265 3.1 session cookie", "SID=31d4d96e407aad42; Path=/; Domain=example.com",
			[]obs{{Name: "SID", Source: Response, Domain: "example.com", Path: "/", Class: Hex}}, nil},
		{"RFC 6265 3.1 secure httponly", "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly",
			[]obs{{Name: "SID", Source: Response, Path: "/", Secure: true, HTTPOnly: true, Class: Hex}}, nil},
		{"RFC 6265 3.1 expires", "lang=en-US; Expires=Wed, 09 Jun 2027 10:18:14 GMT",
			[]obs{{Name: "lang", Source: Response, MaxAgeS: 16935494, HasMaxAge: true, Class: Opaque}}, nil},
		{"RFC 6265 3.1 deletion by past expires", "lang=; Expires=Sun, 06 Nov 1994 08:49:37 GMT",
			[]obs{{Name: "lang", Source: Response, MaxAgeS: 0, HasMaxAge: true, Class: Empty}}, nil},
		{"Max-Age wins over Expires", "a=1; Expires=Wed, 09 Jun 2027 10:18:14 GMT; Max-Age=60",
			[]obs{resp("a", func(o *obs) { o.MaxAgeS, o.HasMaxAge = 60, true })}, nil},
		{"Max-Age=0 deletes", "a=1; Max-Age=0", []obs{resp("a", func(o *obs) { o.HasMaxAge = true })}, nil},
		{"negative Max-Age deletes", "a=1; Max-Age=-5", []obs{resp("a", func(o *obs) { o.HasMaxAge = true })}, nil},
		{"two-year tracker", "_ga=GA1.2.1234567.1732527600; Max-Age=63072000; Domain=.example.com; Path=/",
			[]obs{{Name: "_ga", Source: Response, Domain: "example.com", Path: "/", MaxAgeS: 63072000, HasMaxAge: true, Class: Opaque}}, nil},
		{"attribute names are case-insensitive", "a=1; SECURE; httponly; samesite=lax; PATH=/x; domain=WWW.Example.COM",
			[]obs{resp("a", func(o *obs) {
				o.Secure, o.HTTPOnly, o.SameSite, o.Path, o.Domain = true, true, "Lax", "/x", "www.example.com"
			})}, nil},
		{"SameSite values", "a=1; SameSite=Strict, b=2; SameSite=None; Secure; Partitioned",
			[]obs{resp("a", func(o *obs) { o.SameSite = "Strict" }), resp("b", func(o *obs) { o.SameSite, o.Secure, o.Partitioned = "None", true, true })}, nil},
		{"unknown SameSite", "a=1; SameSite=Bogus", []obs{resp("a", nil)}, []Malformed{BadAttribute}},
		{"duplicate attributes: last wins", "a=1; Path=/one; Path=/two; Max-Age=5; Max-Age=7",
			[]obs{resp("a", func(o *obs) { o.Path, o.MaxAgeS, o.HasMaxAge = "/two", 7, true })}, nil},
		{"unknown attributes are ignored", "a=1; Priority=High; SameParty; Comment=hi", []obs{resp("a", nil)}, nil},
		{"invalid Max-Age", "a=1; Max-Age=abc", []obs{resp("a", nil)}, []Malformed{BadAttribute}},
		{"invalid date", "a=1; Expires=tomorrow", []obs{resp("a", nil)}, []Malformed{BadAttribute}},
		{"RFC 850 date", "a=1; Expires=Wednesday, 09-Jun-27 10:18:14 GMT",
			[]obs{resp("a", func(o *obs) { o.MaxAgeS, o.HasMaxAge = 16935494, true })}, nil},
		{"asctime date", "a=1; Expires=Wed Jun  9 10:18:14 2027",
			[]obs{resp("a", func(o *obs) { o.MaxAgeS, o.HasMaxAge = 16935494, true })}, nil},
		{"Netscape date", "a=1; Expires=Wed, 09-Jun-2027 10:18:14 GMT",
			[]obs{resp("a", func(o *obs) { o.MaxAgeS, o.HasMaxAge = 16935494, true })}, nil},
		{"quoted value", `a="1"; Path=/`, []obs{resp("a", func(o *obs) { o.Path = "/" })}, nil},
		{"name with spaces around is trimmed", " a =1", []obs{resp("a", nil)}, nil},
		{"Envoy-folded with Expires kept whole",
			"a=1; Expires=Wed, 09 Jun 2027 10:18:14 GMT; Secure, b=2; Path=/, c=3",
			[]obs{
				resp("a", func(o *obs) { o.MaxAgeS, o.HasMaxAge, o.Secure = 16935494, true, true }),
				resp("b", func(o *obs) { o.Path = "/" }),
				resp("c", nil),
			}, nil},
		{"folded without space", "a=1,b=2", []obs{resp("a", nil), resp("b", nil)}, nil},
		{"malformed cookie does not hide the others", "a=1, d=\"x\"y\", e=2; Max-Age=abc, f=3",
			[]obs{resp("a", nil), resp("e", nil), resp("f", nil)}, []Malformed{BadValue, BadAttribute}},
		{"empty name first", "=x; Path=/, b=2", []obs{resp("b", nil)}, []Malformed{NoName}},
		{"bad name first", "b c=1, e=2", []obs{resp("e", nil)}, []Malformed{BadName}},
		// A nameless cookie after a comma is split off (and counted as
		// malformed) rather than left in the previous cookie, where it could
		// end up in a reported Domain or Path.
		{"a nameless piece after a comma is its own cookie", "a=1, =x, b c=1", []obs{resp("a", nil)}, []Malformed{NoName}},
		{"a nameless piece never lands in a Domain", "a=1; Domain=example.com, =SECRET12345", []obs{resp("a", func(o *obs) { o.Domain = "example.com" })}, []Malformed{NoName}},
		{"bare word after comma stays in the value", "a=x, y", []obs{resp("a", func(o *obs) { o.Class = Opaque })}, nil},
		{"no equals sign", "flag; Path=/", nil, []Malformed{NoEquals}},
		{"email in value", "u=jane%40example.com; Path=/", []obs{resp("u", func(o *obs) { o.Class, o.Path = Email, "/" })}, nil},
	}
	for _, impl := range responseParsers {
		for _, tt := range tests {
			t.Run(impl.name+"/"+tt.name, func(t *testing.T) {
				got, bad := impl.parse(tt.header, entryTime, nil, nil)
				if g := strip(got); !reflect.DeepEqual(g, tt.want) {
					t.Errorf("observations\n got %+v\nwant %+v", g, tt.want)
				}
				if !reflect.DeepEqual(bad, tt.bad) {
					t.Errorf("malformed = %v, want %v", bad, tt.bad)
				}
			})
		}
	}
}

func TestParseResponseTooMany(t *testing.T) {
	lines := make([]string, MaxCookiesPerHeader+5)
	for i := range lines {
		lines[i] = "c=1; Path=/"
	}
	got, bad := ParseResponse(strings.Join(lines, ", "), entryTime, nil, nil)
	if len(got) != MaxCookiesPerHeader || !reflect.DeepEqual(bad, []Malformed{TooMany}) {
		t.Errorf("got %d cookies and %v", len(got), bad)
	}
}

func TestParseResponseHugeHeader(t *testing.T) {
	header := "big=" + strings.Repeat("A1b2", 64<<10) + "; Path=/; Secure, small=1; Expires=Wed, 09 Jun 2027 10:18:14 GMT"
	for _, impl := range responseParsers {
		got, bad := impl.parse(header, entryTime, nil, nil)
		want := []obs{
			{Name: "big", Source: Response, Path: "/", Secure: true, Class: Base64},
			resp("small", func(o *obs) { o.MaxAgeS, o.HasMaxAge = 16935494, true }),
		}
		if g := strip(got); !reflect.DeepEqual(g, want) || bad != nil {
			t.Errorf("%s: got %+v, %v", impl.name, g, bad)
		}
	}
}

func TestParseResponseZeroNow(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC1123)
	got, _ := ParseResponse("a=1; Expires="+exp, time.Time{}, nil, nil)
	if len(got) != 1 || got[0].MaxAgeS < 3500 || got[0].MaxAgeS > 3600 {
		t.Errorf("got %+v, want MaxAgeS about 3600", got)
	}
}

func TestSplitSetCookie(t *testing.T) {
	tests := []struct {
		header string
		want   []string
	}{
		{"", nil},
		{"a=1", []string{"a=1"}},
		{"a=1, b=2", []string{"a=1", " b=2"}},
		{"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT, b=2", []string{"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", " b=2"}},
		{"a=1; Expires=Wednesday, 21-Oct-26 07:28:00 GMT", []string{"a=1; Expires=Wednesday, 21-Oct-26 07:28:00 GMT"}},
		{`a="x, b=y", c=3`, []string{`a="x, b=y"`, " c=3"}},
		{`a="x; Path=/, b="y"`, []string{`a="x; Path=/`, ` b="y"`}},
		{"a=1,", []string{"a=1,"}},
		{",b=1", []string{"", "b=1"}},
		{"a=1, , b=2", []string{"a=1, ", " b=2"}},
		{"a=1;Path=/a,b=c", []string{"a=1;Path=/a", "b=c"}},
	}
	for _, tt := range tests {
		if got := SplitSetCookie(tt.header); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitSetCookie(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestStrings(t *testing.T) {
	for c := range NumClasses {
		b, err := c.MarshalText()
		if err != nil || string(b) != c.String() {
			t.Errorf("class %d: %q, %v", c, b, err)
		}
		var back ValueClass
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("class %q round trip: %v, %v", b, back, err)
		}
	}
	if _, err := NumClasses.MarshalText(); err == nil {
		t.Error("invalid class marshalled")
	}
	for m := range NumMalformed {
		if back, ok := ParseMalformed(m.String()); !ok || back != m {
			t.Errorf("reason %v does not round trip", m)
		}
	}
	if Request.String() != "request" || Response.String() != "response" || Source(9).String() != "Source(9)" {
		t.Error("Source strings")
	}
}
